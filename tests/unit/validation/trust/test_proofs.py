"""EIP-1186 proofs against a verified header's stateRoot: accounts (present and
absent), storage and code; each tampering caught."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from eth_hash.auto import keccak
from trie.hexary import HexaryTrie

from bizra_bench.trust_seed import STORAGE
from bizra_node.validation.trust import (
    EMPTY_CODE_HASH,
    EMPTY_TRIE_ROOT,
    Check,
    ProvenAccount,
    verify_account_proof,
    verify_code,
    verify_header,
    verify_storage_proof,
)

from .conftest import Chain, clone, fails

SLOTS = ["0x" + i.to_bytes(32, "big").hex() for i in (0, 1, 2)]


def _at_head(devnet: Chain, address: str) -> tuple[bytes, dict[str, Any], bytes]:
    head = hex(devnet.manifest.head)
    header = verify_header(devnet.block(devnet.manifest.head, full=False))
    proof = devnet.call("eth_getProof", address, SLOTS, head)
    code = bytes.fromhex(devnet.call("eth_getCode", address, head)[2:])
    return header.state_root, proof, code


def _addr(hex_address: str) -> bytes:
    return bytes.fromhex(hex_address[2:])


def test_contract_with_storage(trust_chain: Chain) -> None:
    address = trust_chain.manifest.log_contract
    root, proof, code = _at_head(trust_chain, address)
    account = verify_account_proof(root, proof, _addr(address))
    assert account.exists and account.nonce == 1 and account.code_hash != EMPTY_CODE_HASH
    assert [verify_storage_proof(account, item) for item in proof["storageProof"]] == [
        (0, STORAGE[0]), (1, STORAGE[1]), (2, 0)]
    verify_code(account, code)


def test_externally_owned_and_delegated(trust_chain: Chain) -> None:
    for address in (trust_chain.call("eth_accounts")[0], trust_chain.manifest.delegated):
        root, proof, code = _at_head(trust_chain, address)
        balance = int(trust_chain.call("eth_getBalance", address, hex(trust_chain.manifest.head)), 16)
        nonce = int(trust_chain.call("eth_getTransactionCount", address,
                                      hex(trust_chain.manifest.head)), 16)
        account = verify_account_proof(root, proof, _addr(address), balance=balance, nonce=nonce)
        assert account.balance == balance > 0
        verify_code(account, code)
    assert code[:3] == b"\xef\x01\x00"  # the EIP-7702 delegation designator, proven by codeHash


def test_absent_account_is_proven_empty(trust_chain: Chain) -> None:
    address = trust_chain.manifest.untouched
    root, proof, code = _at_head(trust_chain, address)
    account = verify_account_proof(root, proof, _addr(address), balance=0, nonce=0)
    assert account == ProvenAccount(_addr(address), False, 0, 0, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH)
    assert [verify_storage_proof(account, item)[1] for item in proof["storageProof"]] == [0, 0, 0]
    verify_code(account, code)
    assert code == b""
    fails(Check.CODE_HASH, verify_code, account, b"\x60\x00")
    lie = {**proof, "balance": hex(10**18)}
    fails(Check.ACCOUNT_PROOF, verify_account_proof, root, lie, _addr(address))


def test_zero_hashes_for_an_absent_account(trust_chain: Chain) -> None:
    """Some clients answer zero storage and code hashes for an account that is not there."""
    address = trust_chain.manifest.untouched
    root, proof, _ = _at_head(trust_chain, address)
    proof.update(codeHash="0x" + "00" * 32, storageHash="0x" + "00" * 32)
    assert not verify_account_proof(root, proof, _addr(address)).exists


def test_inflated_balance(trust_chain: Chain) -> None:
    address = trust_chain.call("eth_accounts")[0]
    root, proof, _ = _at_head(trust_chain, address)
    real = int(proof["balance"], 16)
    fails(Check.ACCOUNT_PROOF, verify_account_proof, root, {**proof, "balance": hex(real * 2)},
          _addr(address))
    err = fails(Check.ACCOUNT_PROOF, verify_account_proof, root, proof, _addr(address),
                balance=real + 1)
    assert "eth_getBalance" in err.message
    fails(Check.ACCOUNT_PROOF, verify_account_proof, root, proof, _addr(address), nonce=99)
    assert proof["nonce"] != "0x0"  # the account sent transactions
    fails(Check.ACCOUNT_PROOF, verify_account_proof, root, {**proof, "nonce": "0x0"},
          _addr(address))


@pytest.mark.parametrize("node", [0, 1, -1])
def test_tampered_proof_node(trust_chain: Chain, node: int) -> None:
    """One byte changed in a node (here a nibble of the balance in the leaf, or a child
    hash in a branch): the node's hash no longer matches what its parent names."""
    address = trust_chain.call("eth_accounts")[0]
    root, proof, _ = _at_head(trust_chain, address)
    nodes = proof["accountProof"]
    raw = bytearray.fromhex(nodes[node][2:])
    raw[-40] ^= 0x01
    forged = clone(proof)
    forged["accountProof"][node] = "0x" + raw.hex()
    fails(Check.ACCOUNT_PROOF, verify_account_proof, root, forged, _addr(address))


def test_incomplete_or_foreign_proof(trust_chain: Chain) -> None:
    address = trust_chain.call("eth_accounts")[0]
    root, proof, _ = _at_head(trust_chain, address)
    short = {**proof, "accountProof": proof["accountProof"][:-1]}
    fails(Check.ACCOUNT_PROOF, verify_account_proof, root, short, _addr(address))
    other = trust_chain.call("eth_accounts")[1]
    fails(Check.ACCOUNT_PROOF, verify_account_proof, root, proof, _addr(other))
    old = verify_header(trust_chain.block(1, full=False)).state_root  # an older state
    fails(Check.ACCOUNT_PROOF, verify_account_proof, old, proof, _addr(address))


@pytest.mark.parametrize("edit", [{"accountProof": None}, {"accountProof": ["0xzz"]},
                                  {"accountProof": ["0x" + "c2" + "8080"]}, {"balance": None},
                                  {"codeHash": "0x12"}, {"address": None}])
def test_malformed_account_proof(trust_chain: Chain, edit: dict[str, Any]) -> None:
    address = trust_chain.call("eth_accounts")[0]
    root, proof, _ = _at_head(trust_chain, address)
    fails(Check.ACCOUNT_PROOF, verify_account_proof, root, {**proof, **edit}, _addr(address))
    fails(Check.ACCOUNT_PROOF, verify_account_proof, root, None, _addr(address))


def test_garbage_nodes_keyed_by_their_own_hash() -> None:
    """A proof whose 'root node' is garbage RLP (its hash taken as the root)."""
    junk = b"\xff\x00\x01"
    proof = {"address": "0x" + "11" * 20, "accountProof": ["0x" + junk.hex()], "balance": "0x0",
             "nonce": "0x0", "codeHash": "0x" + EMPTY_CODE_HASH.hex(),
             "storageHash": "0x" + EMPTY_TRIE_ROOT.hex()}
    fails(Check.ACCOUNT_PROOF, verify_account_proof, keccak(junk), proof, b"\x11" * 20)


def test_storage_tampering(trust_chain: Chain) -> None:
    address = trust_chain.manifest.log_contract
    root, proof, _ = _at_head(trust_chain, address)
    account = verify_account_proof(root, proof, _addr(address))
    item = proof["storageProof"][0]
    fails(Check.STORAGE_PROOF, verify_storage_proof, account, {**item, "value": "0x2b"})
    nodes = list(item["proof"])
    raw = bytearray.fromhex(nodes[-1][2:])
    raw[-1] ^= 0x01
    nodes[-1] = "0x" + raw.hex()
    fails(Check.STORAGE_PROOF, verify_storage_proof, account, {**item, "proof": nodes})
    fails(Check.STORAGE_PROOF, verify_storage_proof, account, {**item, "key": SLOTS[1]})
    fails(Check.STORAGE_PROOF, verify_storage_proof, account, {**item, "proof": []})
    fails(Check.STORAGE_PROOF, verify_storage_proof, account, {**item, "key": "slot"})
    fails(Check.STORAGE_PROOF, verify_storage_proof, account, [item])


def test_swapped_code(trust_chain: Chain) -> None:
    address = trust_chain.manifest.log_contract
    root, proof, code = _at_head(trust_chain, address)
    account = verify_account_proof(root, proof, _addr(address))
    _, _, other = _at_head(trust_chain, trust_chain.manifest.reverting_contract)
    fails(Check.CODE_HASH, verify_code, account, other)
    fails(Check.CODE_HASH, verify_code, account, b"")
    fails(Check.CODE_HASH, verify_code, account, code + b"\x00")


def _proof_of(leaves: dict[bytes, bytes], key: bytes) -> tuple[bytes, list[str]]:
    """A state (or storage) trie holding ``leaves``; its root and the EIP-1186 proof
    nodes for ``key``, built with the trie library."""
    trie = HexaryTrie({})
    for k, v in leaves.items():
        trie.set(k, v)
    return bytes(trie.root_hash), ["0x" + rlp.encode(node).hex() for node in trie.get_proof(key)]


@pytest.mark.parametrize("leaf", [
    b"\xff\xfe",                                                    # not RLP
    rlp.encode([b"", b"", EMPTY_TRIE_ROOT]),                        # three items
    rlp.encode([b"\x00\x01", b"", EMPTY_TRIE_ROOT, EMPTY_CODE_HASH]),  # a nonce with a zero byte first
    rlp.encode([b"", b"", b"\x01", EMPTY_CODE_HASH]),               # a short storage root
    rlp.encode([b"", [b""], EMPTY_TRIE_ROOT, EMPTY_CODE_HASH]),     # a list for the balance
])
def test_malformed_account_leaf(leaf: bytes) -> None:
    address = b"\x42" * 20
    root, nodes = _proof_of({keccak(address): leaf, keccak(b"other"): b"\x01"}, keccak(address))
    proof = {"address": "0x" + address.hex(), "accountProof": nodes, "balance": "0x0",
             "nonce": "0x0", "codeHash": "0x" + EMPTY_CODE_HASH.hex(),
             "storageHash": "0x" + EMPTY_TRIE_ROOT.hex()}
    fails(Check.ACCOUNT_PROOF, verify_account_proof, root, proof, address)


@pytest.mark.parametrize("value", [b"\xff\xfe", rlp.encode(b"\x00\x01"), rlp.encode([b"\x01"]),
                                   rlp.encode(b"\x01" * 33)])
def test_malformed_storage_value(value: bytes) -> None:
    slot = (7).to_bytes(32, "big")
    root, nodes = _proof_of({keccak(slot): value, keccak(b"x"): b"\x01"}, keccak(slot))
    account = ProvenAccount(b"\x42" * 20, True, 1, 0, root, EMPTY_CODE_HASH)
    fails(Check.STORAGE_PROOF, verify_storage_proof, account,
          {"key": "0x7", "value": "0x1", "proof": nodes})


def test_a_storage_trie_built_here() -> None:
    slot = (7).to_bytes(32, "big")
    root, nodes = _proof_of({keccak(slot): rlp.encode(b"\x01\x02"), keccak(b"x"): b"\x01"},
                            keccak(slot))
    account = ProvenAccount(b"\x42" * 20, True, 1, 0, root, EMPTY_CODE_HASH)
    assert verify_storage_proof(account, {"key": "0x7", "value": "0x102", "proof": nodes}) == (7, 0x102)
