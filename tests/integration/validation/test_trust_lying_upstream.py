"""A lying upstream, through a real HTTP proxy in front of anvil, against the trust
checks: the honest answers of every kind prove; each lie is caught by the check that
names it.

The fetch-and-prove helpers below call the checks directly over real HTTP (batched
calls, then the pure checks), close to the wire; test_verified_answers.py tests the
same lies through the node's API.
"""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from eth_hash.auto import keccak

from bizra_bench.trust_seed import STORAGE, TrustDevnet
from bizra_node.validation.trust import (
    Anchor,
    AnchorSource,
    Check,
    ProvenAccount,
    ProvenTx,
    TrustError,
    header_hash,
    prove_block,
    prove_transaction,
    transaction_hash,
    verify_account_proof,
    verify_chain,
    verify_code,
    verify_header,
    verify_storage_proof,
)
from tests.support.lying_proxy import LyingProxy

CHAIN = 31337
KINDS = ["legacy", "legacy_pre155", "access_list", "dynamic_fee", "logs", "create", "reverted",
         "blob", "set_code"]


async def _batch(url: str, *calls: tuple[str, list[Any]]) -> list[Any]:
    body = [{"jsonrpc": "2.0", "id": i, "method": m, "params": p} for i, (m, p) in enumerate(calls)]
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as resp:
        answers = sorted(json.loads(await resp.read()), key=lambda a: a["id"])
    return [a.get("result") for a in answers]


async def prove_tx_via(url: str, tx_hash: str) -> ProvenTx:
    tx, receipt = await _batch(url, ("eth_getTransactionByHash", [tx_hash]),
                               ("eth_getTransactionReceipt", [tx_hash]))
    if tx is None:
        raise LookupError(tx_hash)
    block_hash = tx.get("blockHash") if isinstance(tx, dict) else None
    block, receipts = await _batch(url, ("eth_getBlockByHash", [block_hash, True]),
                                   ("eth_getBlockReceipts", [block_hash]))
    proven = prove_block(block, receipts, pooled_blob_leaves=True)
    return prove_transaction(tx, proven, CHAIN, receipt_json=receipt,
                             expected_hash=bytes.fromhex(tx_hash[2:]))


async def prove_account_via(url: str, address: str, number: int,
                            slots: list[str] | None = None) -> ProvenAccount:
    at = hex(number)
    header, proof, balance, nonce, code = await _batch(
        url, ("eth_getBlockByNumber", [at, False]), ("eth_getProof", [address, slots or [], at]),
        ("eth_getBalance", [address, at]), ("eth_getTransactionCount", [address, at]),
        ("eth_getCode", [address, at]))
    state_root = verify_header(header).state_root
    account = verify_account_proof(state_root, proof, bytes.fromhex(address[2:]),
                                   balance=int(balance, 16), nonce=int(nonce, 16))
    for item in proof["storageProof"]:
        verify_storage_proof(account, item)
    verify_code(account, bytes.fromhex(code[2:]))
    return account


async def _caught(check: Check, coro: Any) -> TrustError:
    with pytest.raises(TrustError) as err:
        await coro
    assert err.value.check is check, f"{err.value.check}: {err.value.message}"
    return err.value


@pytest.mark.parametrize("kind", KINDS)
async def test_honest_answers_prove_for_every_kind(trust_devnet: TrustDevnet, liar: LyingProxy,
                                                   kind: str) -> None:
    for tx_hash in (trust_devnet.manifest.txs[kind], trust_devnet.manifest.mixed_txs[kind]):
        proven = await prove_tx_via(liar.url, tx_hash)
        assert "0x" + proven.tx.hash.hex() == tx_hash
    assert liar.calls["eth_getBlockReceipts"] == 2


async def test_honest_accounts(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    slots = ["0x" + i.to_bytes(32, "big").hex() for i in (0, 1, 5)]
    contract = await prove_account_via(liar.url, m.log_contract, m.head, slots)
    assert contract.exists and contract.nonce == 1
    assert (await prove_account_via(liar.url, m.untouched, m.head, slots)).exists is False
    assert (await prove_account_via(liar.url, m.delegated, m.head)).balance > 0
    assert STORAGE[0] == 42


def _tx_rule(tx_hash: str) -> Any:
    return lambda params: params[0] == tx_hash


@pytest.mark.parametrize("field, value", [("value", "0xde0b6b3a7640000"),
                                          ("to", "0x" + "66" * 20), ("input", "0xa9059cbb"),
                                          ("r", "0x" + "12" * 32)])
async def test_changed_transaction(trust_devnet: TrustDevnet, liar: LyingProxy, field: str,
                                   value: str) -> None:
    tx_hash = trust_devnet.manifest.txs["dynamic_fee"]
    rule = liar.lie("eth_getTransactionByHash", lambda p, tx: {**tx, field: value},
                    when=_tx_rule(tx_hash))
    await _caught(Check.TX_HASH, prove_tx_via(liar.url, tx_hash))
    assert rule.applied == 1


async def test_changed_signature(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    """The hash covers the signature: a liar who re-hashes answers another transaction
    than the one asked for; one who keeps the hash serves fields that do not hash to
    it; one who changes ``from`` meets the recovered sender."""
    tx_hash = trust_devnet.manifest.txs["legacy"]

    def forge(params: list[Any], tx: dict[str, Any]) -> dict[str, Any]:
        tx["s"] = hex(int(tx["s"], 16) // 2)
        tx["hash"] = "0x" + transaction_hash(tx).hex()
        return tx

    rule = liar.lie("eth_getTransactionByHash", forge)
    err = await _caught(Check.TX_HASH, prove_tx_via(liar.url, tx_hash))
    assert "asked for" in err.message
    rule.times = 0
    liar.lie("eth_getTransactionByHash", lambda p, tx: {**tx, "from": "0x" + "66" * 20})
    await _caught(Check.TX_SIGNATURE, prove_tx_via(liar.url, tx_hash))


async def test_changed_signature_inside_a_block(trust_devnet: TrustDevnet,
                                                liar: LyingProxy) -> None:
    tx_hash = trust_devnet.manifest.mixed_txs["access_list"]

    def forge(params: list[Any], block: dict[str, Any]) -> dict[str, Any]:
        tx = block["transactions"][0]
        tx["r"] = hex(int(tx["r"], 16) ^ 0xFF)
        tx["hash"] = "0x" + transaction_hash(tx).hex()
        return block

    liar.lie("eth_getBlockByHash", forge)
    await _caught(Check.TRANSACTIONS_ROOT, prove_tx_via(liar.url, tx_hash))


async def test_fabricated_transaction(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    """A hash that does not exist, answered with a plausible transaction and receipt
    (a real one's fields under the made-up hash)."""
    made_up = "0x" + keccak(b"a transaction nobody sent").hex()
    real = trust_devnet.bundle(trust_devnet.manifest.txs["dynamic_fee"])
    liar.lie("eth_getTransactionByHash", lambda p, _: {**real.tx, "hash": made_up},
             when=_tx_rule(made_up))
    liar.lie("eth_getTransactionReceipt", lambda p, _: {**real.receipt, "transactionHash": made_up},
             when=_tx_rule(made_up))
    await _caught(Check.TX_HASH, prove_tx_via(liar.url, made_up))


async def test_flipped_status(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    tx_hash = trust_devnet.manifest.txs["reverted"]
    liar.lie("eth_getTransactionReceipt", lambda p, r: {**r, "status": "0x1"})
    err = await _caught(Check.RECEIPT_MISMATCH, prove_tx_via(liar.url, tx_hash))
    assert "status" in err.message


async def test_flipped_status_in_the_block_receipts_too(trust_devnet: TrustDevnet,
                                                        liar: LyingProxy) -> None:
    """A consistent liar flips it everywhere: the receipts root no longer matches."""
    tx_hash = trust_devnet.manifest.txs["reverted"]
    liar.lie("eth_getTransactionReceipt", lambda p, r: {**r, "status": "0x1"})
    liar.lie("eth_getBlockReceipts", lambda p, rs: [{**r, "status": "0x1"} for r in rs])
    await _caught(Check.RECEIPTS_ROOT, prove_tx_via(liar.url, tx_hash))


async def test_removed_log(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    tx_hash = trust_devnet.manifest.txs["logs"]
    liar.lie("eth_getTransactionReceipt", lambda p, r: {**r, "logs": r["logs"][1:]})
    await _caught(Check.RECEIPT_MISMATCH, prove_tx_via(liar.url, tx_hash))
    liar.lie("eth_getBlockReceipts", lambda p, rs: [{**r, "logs": r["logs"][1:]} for r in rs])
    await _caught(Check.RECEIPTS_ROOT, prove_tx_via(liar.url, tx_hash))


async def test_altered_transaction_list_under_an_intact_header(trust_devnet: TrustDevnet,
                                                               liar: LyingProxy) -> None:
    tx_hash = trust_devnet.manifest.mixed_txs["logs"]

    def drop_another(params: list[Any], block: dict[str, Any]) -> dict[str, Any]:
        block["transactions"] = [t for t in block["transactions"] if t["hash"] != tx_hash][:-1] + \
            [t for t in block["transactions"] if t["hash"] == tx_hash]
        return block

    liar.lie("eth_getBlockByHash", drop_another)
    await _caught(Check.TRANSACTIONS_ROOT, prove_tx_via(liar.url, tx_hash))


async def test_altered_withdrawals(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    tx_hash = trust_devnet.manifest.txs["legacy"]
    withdrawal = {"index": "0x0", "validatorIndex": "0x1", "address": "0x" + "ab" * 20,
                  "amount": "0x77359400"}
    liar.lie("eth_getBlockByHash", lambda p, b: {**b, "withdrawals": [withdrawal]})
    await _caught(Check.WITHDRAWALS_ROOT, prove_tx_via(liar.url, tx_hash))


async def test_inflated_balance(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    rich = liar.lie("eth_getBalance", lambda p, b: hex(int(b, 16) + 10**21))
    err = await _caught(Check.ACCOUNT_PROOF, prove_account_via(liar.url, m.delegated, m.head))
    assert "eth_getBalance" in err.message
    rich.times = 0
    liar.lie("eth_getBalance", lambda p, b: hex(int(b, 16) + 10**21))
    liar.lie("eth_getProof", lambda p, proof: {**proof, "balance": hex(int(proof["balance"], 16)
                                                                       + 10**21)})
    await _caught(Check.ACCOUNT_PROOF, prove_account_via(liar.url, m.delegated, m.head))


async def test_tampered_proof_node(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    """A byte of the account leaf changed (in its balance or hashes): the leaf's hash is
    not the one its parent names, so the walk from the state root cannot use it."""
    m = trust_devnet.manifest

    def richer_leaf(params: list[Any], proof: dict[str, Any]) -> dict[str, Any]:
        leaf = bytearray.fromhex(proof["accountProof"][-1][2:])
        leaf[-70] ^= 0x10
        proof["accountProof"][-1] = "0x" + leaf.hex()
        return proof

    liar.lie("eth_getProof", richer_leaf)
    await _caught(Check.ACCOUNT_PROOF, prove_account_via(liar.url, m.delegated, m.head))


async def test_tampered_storage(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    m = trust_devnet.manifest

    def other_value(params: list[Any], proof: dict[str, Any]) -> dict[str, Any]:
        proof["storageProof"][0]["value"] = "0x2b"
        return proof

    liar.lie("eth_getProof", other_value)
    await _caught(Check.STORAGE_PROOF, prove_account_via(
        liar.url, m.log_contract, m.head, ["0x" + "00" * 32]))


async def test_swapped_code(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    m = trust_devnet.manifest
    other = trust_devnet.call("eth_getCode", m.reverting_contract, hex(m.head))
    liar.lie("eth_getCode", lambda p, code: other)
    await _caught(Check.CODE_HASH, prove_account_via(liar.url, m.log_contract, m.head))
    liar.tell_the_truth()
    liar.lie("eth_getCode", lambda p, code: other)  # code for an account that has none
    await _caught(Check.CODE_HASH, prove_account_via(liar.url, m.untouched, m.head))


async def test_forged_parent_link(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    """Block 6 re-parented onto a made-up block 5 and re-hashed: each header hashes
    right, but the chain from the anchor (block 3) breaks."""
    anchor_header = trust_devnet.block(3, full=False)
    anchor = Anchor(3, bytes.fromhex(anchor_header["hash"][2:]), AnchorSource.CHECKPOINT)

    def reparent(params: list[Any], block: dict[str, Any]) -> dict[str, Any]:
        block["parentHash"] = "0x" + keccak(b"another block 5").hex()
        block["hash"] = "0x" + header_hash(block).hex()
        return block

    liar.lie("eth_getBlockByNumber", reparent, when=lambda p: p[0] == "0x6")
    headers = await _batch(liar.url, *[("eth_getBlockByNumber", [hex(n), False])
                                       for n in range(4, 9)])
    with pytest.raises(TrustError) as err:
        verify_chain(headers, anchor)
    assert err.value.check is Check.PARENT_LINK
    liar.tell_the_truth()
    honest = await _batch(liar.url, *[("eth_getBlockByNumber", [hex(n), False])
                                      for n in range(4, 9)])
    assert [h.number for h in verify_chain(honest, anchor)] == [4, 5, 6, 7, 8]


async def test_the_proxy_lies_only_by_its_rules(trust_devnet: TrustDevnet, liar: LyingProxy) -> None:
    """Batches are rewritten call by call; ``when`` and ``times`` limit a rule; a null
    answer can be replaced by a fabricated one; everything else passes untouched."""
    missing = "0x" + "00" * 32
    once = liar.lie("eth_blockNumber", lambda p, n: "0x0", times=1)
    liar.lie("eth_getTransactionByHash", lambda p, tx: {"hash": p[0]}, when=lambda p: p[0] == missing)
    calls = [("eth_blockNumber", []), ("eth_getTransactionByHash", [missing]),
             ("eth_getTransactionByHash", [trust_devnet.manifest.txs["legacy"]]),
             ("eth_chainId", [])]
    first = await _batch(liar.url, *calls)
    assert first[0] == "0x0" and first[1] == {"hash": missing}
    assert first[2]["hash"] == trust_devnet.manifest.txs["legacy"] and first[3] == hex(CHAIN)
    second = await _batch(liar.url, *calls)
    assert int(second[0], 16) == trust_devnet.manifest.head
    assert once.applied == 1 and liar.calls["eth_getTransactionByHash"] == 4
    async with aiohttp.ClientSession() as session, session.post(
            liar.url, json={"jsonrpc": "2.0", "id": 7, "method": "eth_blockNumber"}) as resp:
        assert (await resp.json())["result"] == hex(trust_devnet.manifest.head)
