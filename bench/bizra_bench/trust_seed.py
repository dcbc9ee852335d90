"""Seed an anvil devnet with what the trust checks need: every transaction type anvil
mines, logs, a failed transaction, storage, a delegated (EIP-7702) account, and big
blocks (100 and 1 000 transactions) for the tries.

anvil must run with a hardfork that has blob and set-code transactions: Prague or
later (anvil 1.7.1's default is its latest, Osaka with the first blob-parameter fork;
both accept the EIP-7594 sidecar built here). Types 0, 1 and 2 are sent through
anvil's unlocked accounts (``eth_sendTransaction``); a legacy transaction without
EIP-155 (chain id None), a blob and a set-code transaction are signed with eth-account
and sent raw. Keys are fixed, so a run seeds the same senders.

Blob sidecars: eth-account can build them, but it reloads the KZG trusted setup (~2 s)
for every commitment and proof (~12 s a transaction); here eth-account signs the
transaction payload (with its blobVersionedHashes) and the sidecar (commitments and
cell proofs, wrapper version 1) is computed with ckzg, the setup loaded once.

This is test support, not the node's devnet seed (``bizra_node.devnet.seed``), which
other tests count on and which stays as it is.
"""

from __future__ import annotations

import hashlib
import json
import urllib.request
from dataclasses import asdict, dataclass, field
from functools import cache
from typing import Any

import ckzg
import rlp
from eth_account import Account
from eth_account.typed_transactions.base import TRUSTED_SETUP
from eth_hash.auto import keccak

from bizra_node.devnet import Anvil, rpc, wait_receipt
from bizra_node.devnet.seed import INIT_CODE as REVERTING_INIT_CODE
from bizra_node.validation import to_checksum_address

__all__ = ["HARDFORK", "LOG_TOPIC", "STORAGE", "TrustDevnet", "TrustManifest", "TxBundle",
           "fill_block", "seed_trust", "send_blob_tx", "start_trust_anvil"]

HARDFORK: str | None = None
"""anvil's default (its latest); ``prague`` works as well."""
SEED_TIMEOUT = 60.0
"""Seconds to wait for one of anvil's answers or receipts while seeding: a blob
transaction's sidecar (cell proofs) is checked when it is sent, which takes seconds
on a loaded machine (the devnet module's 10 s timed out)."""


def _rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    return rpc(url, method, params, timeout=SEED_TIMEOUT)
GWEI = 10**9
LOG_TOPIC = keccak(b"Seeded(address,bytes)")
STORAGE = {0: 42, 1: 0xBEEF}
"""What the log contract's constructor stores (slot -> value)."""


def _push(data: bytes) -> bytes:
    return bytes((0x5F + len(data),)) + data


# Runtime: copy calldata to memory, LOG2(topic=LOG_TOPIC, caller) with the calldata as
# data, then an empty LOG0, STOP. Two logs per call, so a test can remove one.
_RUNTIME = (bytes.fromhex("3660006000" "37" "33") + _push(LOG_TOPIC)
            + bytes.fromhex("366000" "a2" "60006000" "a0" "00"))
# Constructor: SSTORE the STORAGE slots, then return the runtime.
_CTOR = b"".join(_push(v.to_bytes((v.bit_length() + 7) // 8 or 1, "big")) + _push(bytes((k,)))
                 + b"\x55" for k, v in STORAGE.items())
_COPY_LEN = 11  # PUSH1 len DUP1 PUSH1 off PUSH1 0 CODECOPY PUSH1 0 RETURN
LOG_INIT_CODE = "0x" + (_CTOR + bytes.fromhex(
    f"60{len(_RUNTIME):02x}8060{len(_CTOR) + _COPY_LEN:02x}6000396000f3") + _RUNTIME).hex()


def _key(i: int) -> Any:
    return Account.from_key(keccak(f"bizra-trust-{i}".encode()))


@dataclass
class TrustManifest:
    chain_id: int
    txs: dict[str, str]
    """kind -> hash, each in its own block: legacy (EIP-155), legacy_pre155,
    access_list, dynamic_fee, logs, create, reverted, blob, set_code."""
    mixed_block: int
    """One block with a transaction of each kind."""
    mixed_txs: dict[str, str]
    log_contract: str
    reverting_contract: str
    delegated: str
    """An account that delegated its code (EIP-7702) to ``log_contract``."""
    untouched: str
    """An address nothing ever sent to (a proof of exclusion)."""
    big_blocks: dict[int, int] = field(default_factory=dict)
    """transaction count -> block number."""
    head: int = 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _batch(url: str, calls: list[dict[str, Any]]) -> list[Any]:
    body = json.dumps([{"jsonrpc": "2.0", "id": i, **c} for i, c in enumerate(calls)]).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        answers = sorted(json.loads(resp.read()), key=lambda a: a["id"])
    errors = [a["error"] for a in answers if "error" in a]
    if errors:
        raise RuntimeError(f"{len(errors)} calls failed, first: {errors[0]}")
    return [a["result"] for a in answers]


class _Sender:
    """Sends one transaction of each kind; with automine off they wait for a block."""

    def __init__(self, url: str, chain_id: int, accounts: list[str], log_contract: str,
                 reverting: str) -> None:
        self.url, self.chain_id, self.accounts = url, chain_id, accounts
        self.log_contract, self.reverting = log_contract, reverting
        self.signer = _key(0)
        self.nonce = int(_rpc(url, "eth_getTransactionCount", [self.signer.address, "pending"]), 16)

    def _send(self, tx: dict[str, Any]) -> str:
        tx.setdefault("nonce", _rpc(self.url, "eth_getTransactionCount", [tx["from"], "pending"]))
        return str(_rpc(self.url, "eth_sendTransaction", [tx]))

    def _raw(self, tx: dict[str, Any], blobs: tuple[bytes, ...] = ()) -> str:
        tx["to"] = to_checksum_address(tx["to"][2:].lower())
        tx["nonce"] = self.nonce
        self.nonce += 1
        signed = Account.sign_transaction(tx, self.signer.key)
        raw = bytes(signed.raw_transaction)
        if blobs:
            raw = _with_sidecar(raw, blobs)
        return str(_rpc(self.url, "eth_sendRawTransaction", ["0x" + raw.hex()]))

    def all_kinds(self, delegator: Any) -> dict[str, str]:
        a, b, c = self.accounts[:3]
        fees = {"maxFeePerGas": hex(30 * GWEI), "maxPriorityFeePerGas": hex(GWEI)}
        out = {
            "legacy": self._send({"from": a, "to": b, "value": hex(10**15), "type": "0x0",
                                  "gasPrice": hex(30 * GWEI)}),
            "access_list": self._send({
                "from": b, "to": self.log_contract, "value": "0x0", "type": "0x1",
                "gasPrice": hex(30 * GWEI), "data": "0x" + "ab" * 8,
                "accessList": [{"address": self.log_contract,
                                "storageKeys": ["0x" + "00" * 32, "0x" + "00" * 31 + "01"]}]}),
            "dynamic_fee": self._send({"from": c, "to": a, "value": hex(3 * 10**15), "type": "0x2",
                                       **fees}),
            "logs": self._send({"from": a, "to": self.log_contract, "value": "0x0", "type": "0x2",
                                "data": "0x" + "cd" * 40, **fees}),
            "create": self._send({"from": b, "data": REVERTING_INIT_CODE, "gas": hex(200_000),
                                  **fees}),
            "reverted": self._send({"from": c, "to": self.reverting, "data": "0x01",
                                    "gas": hex(60_000), **fees}),
            "legacy_pre155": self._raw({"to": b, "value": 7, "gas": 21_000,
                                        "gasPrice": 30 * GWEI, "data": b""}),
            "blob": self._raw({"type": 3, "chainId": self.chain_id, "to": c, "value": 1,
                               "gas": 50_000, "maxFeePerGas": 30 * GWEI,
                               "maxPriorityFeePerGas": GWEI, "maxFeePerBlobGas": 30 * GWEI,
                               "data": b"\x01\x02", "accessList": [],
                               "blobVersionedHashes": [_sidecar(b)[0] for b in _BLOBS]},
                              blobs=_BLOBS),
        }
        auth = Account.sign_authorization(
            {"chainId": self.chain_id, "address": self.log_contract,
             "nonce": int(_rpc(self.url, "eth_getTransactionCount", [delegator.address, "pending"]),
                          16)}, delegator.key)
        out["set_code"] = self._raw({
            "type": 4, "chainId": self.chain_id, "to": delegator.address, "value": 0,
            "gas": 120_000, "maxFeePerGas": 30 * GWEI, "maxPriorityFeePerGas": GWEI,
            "data": b"\x99", "accessList": [], "authorizationList": [auth]})
        return out


def _blob(text: bytes) -> bytes:
    """A blob of 4096 field elements, each < the BLS modulus (first byte of each 0)."""
    body = bytearray(4096 * 32)
    for i, byte in enumerate(text):
        body[i * 32 + 31] = byte
    return bytes(body)


_BLOBS = (_blob(b"bizra blob one"), _blob(b"bizra blob two"))


@cache
def _trusted_setup() -> Any:
    return ckzg.load_trusted_setup(TRUSTED_SETUP, 0)


@cache
def _sidecar(blob: bytes) -> tuple[bytes, bytes, list[bytes], bytes]:
    """(versioned hash, commitment, cell proofs, blob proof) of a blob."""
    commitment = bytes(ckzg.blob_to_kzg_commitment(blob, _trusted_setup()))
    _cells, proofs = ckzg.compute_cells_and_kzg_proofs(blob, _trusted_setup())
    blob_proof = bytes(ckzg.compute_blob_kzg_proof(blob, commitment, _trusted_setup()))
    return b"\x01" + hashlib.sha256(commitment).digest()[1:], commitment, list(proofs), blob_proof


def _with_sidecar(raw: bytes, blobs: tuple[bytes, ...], version: int = 1) -> bytes:
    """The network form: 0x03 || rlp([payload, 1, blobs, commitments, cell proofs])
    (EIP-7594, Osaka on), or version 0: rlp([payload, blobs, commitments, blob proofs])
    (EIP-4844, Cancun and Prague)."""
    cars = [_sidecar(b) for b in blobs]
    commitments = [c[1] for c in cars]
    if version == 0:
        return b"\x03" + bytes(rlp.encode([rlp.decode(raw[1:]), list(blobs), commitments,
                                           [c[3] for c in cars]]))
    return b"\x03" + bytes(rlp.encode([rlp.decode(raw[1:]), 1, list(blobs), commitments,
                                       [p for c in cars for p in c[2]]]))


def send_blob_tx(url: str, key_index: int, *, version: int = 1) -> str:
    """Sign and send a blob transaction (two blobs) from a fixed test key; returns its hash."""
    signer = _key(key_index)
    _rpc(url, "anvil_setBalance", [signer.address, hex(10**22)])
    nonce = int(_rpc(url, "eth_getTransactionCount", [signer.address, "pending"]), 16)
    tx = {"type": 3, "chainId": int(_rpc(url, "eth_chainId"), 16), "nonce": nonce,
          "to": signer.address, "value": 1, "gas": 50_000, "maxFeePerGas": 30 * GWEI,
          "maxPriorityFeePerGas": GWEI, "maxFeePerBlobGas": 30 * GWEI, "data": b"",
          "accessList": [], "blobVersionedHashes": [_sidecar(b)[0] for b in _BLOBS]}
    raw = _with_sidecar(bytes(Account.sign_transaction(tx, signer.key).raw_transaction), _BLOBS,
                        version)
    return str(_rpc(url, "eth_sendRawTransaction", ["0x" + raw.hex()]))


def _deploy(url: str, sender: str, init_code: str) -> str:
    tx_hash = str(_rpc(url, "eth_sendTransaction", [{"from": sender, "data": init_code,
                                                     "gas": hex(300_000)}]))
    return str(wait_receipt(url, tx_hash, SEED_TIMEOUT)["contractAddress"])


def fill_block(url: str, count: int, accounts: list[str], log_contract: str) -> int:
    """Mine one block of ``count`` transactions (types 0/1/2 transfers and, every
    fifth, a contract call with two logs); returns its number. Automine must be on."""
    nonces = [int(n, 16) for n in _batch(url, [
        {"method": "eth_getTransactionCount", "params": [a, "pending"]} for a in accounts])]
    calls = []
    for i in range(count):
        k = i % len(accounts)
        tx: dict[str, Any] = {"from": accounts[k], "nonce": hex(nonces[k]), "type": hex(i % 3)}
        nonces[k] += 1
        if i % 5 == 4:
            tx.update(to=log_contract, data="0x" + i.to_bytes(4, "big").hex() * 9, gas=hex(60_000))
        else:
            tx.update(to=accounts[(k + 1) % len(accounts)], value=hex(i + 1), gas=hex(21_000))
        calls.append({"method": "eth_sendTransaction", "params": [tx]})
    _rpc(url, "evm_setAutomine", [False])
    try:
        _batch(url, calls)
        _rpc(url, "evm_mine")
    finally:
        _rpc(url, "evm_setAutomine", [True])
    block = _rpc(url, "eth_getBlockByNumber", ["latest", False])
    if len(block["transactions"]) != count:
        raise RuntimeError(f"block holds {len(block['transactions'])} transactions, not {count}")
    return int(block["number"], 16)


def seed_trust(url: str, *, big: tuple[int, ...] = (1, 100)) -> TrustManifest:
    """Seed a fresh anvil (automine on, hardfork :data:`HARDFORK`)."""
    chain_id = int(_rpc(url, "eth_chainId"), 16)
    accounts = [str(a) for a in _rpc(url, "eth_accounts")]
    for i in range(3):
        _rpc(url, "anvil_setBalance", [_key(i).address, hex(10**22)])
    log_contract = _deploy(url, accounts[0], LOG_INIT_CODE)
    reverting = _deploy(url, accounts[0], REVERTING_INIT_CODE)
    sender = _Sender(url, chain_id, accounts, log_contract, reverting)

    txs: dict[str, str] = {}
    delegator = _key(1)
    for kind, tx_hash in sender.all_kinds(delegator).items():
        txs[kind] = tx_hash
        wait_receipt(url, tx_hash, SEED_TIMEOUT)

    _rpc(url, "evm_setAutomine", [False])
    try:
        mixed = sender.all_kinds(_key(2))
        _rpc(url, "evm_mine")
    finally:
        _rpc(url, "evm_setAutomine", [True])
    mixed_block = int(wait_receipt(url, mixed["legacy"], SEED_TIMEOUT)["blockNumber"], 16)

    big_blocks = {n: fill_block(url, n, accounts, log_contract) for n in big}
    return TrustManifest(
        chain_id=chain_id, txs=txs, mixed_block=mixed_block, mixed_txs=mixed,
        log_contract=log_contract, reverting_contract=reverting, delegated=delegator.address,
        untouched="0x" + keccak(b"bizra-untouched")[:20].hex(), big_blocks=big_blocks,
        head=int(_rpc(url, "eth_blockNumber"), 16))


def start_trust_anvil(hardfork: str | None = HARDFORK) -> Anvil:
    return Anvil(hardfork=hardfork).start()


if __name__ == "__main__":
    with start_trust_anvil() as anvil:
        print(seed_trust(anvil.url, big=(1, 100, 1000)).to_json())


@dataclass
class TxBundle:
    """What proving a transaction takes: the transaction and its receipt as
    ``eth_getTransactionByHash``/``eth_getTransactionReceipt`` return them, the full
    block and the block's receipts."""

    tx: dict[str, Any]
    receipt: dict[str, Any]
    block: dict[str, Any]
    receipts: list[dict[str, Any]]


@dataclass
class TrustDevnet:
    anvil: Anvil
    manifest: TrustManifest

    @property
    def url(self) -> str:
        return self.anvil.url

    def call(self, method: str, *params: Any) -> Any:
        return _rpc(self.url, method, list(params))

    def block(self, number: int, full: bool = True) -> dict[str, Any]:
        return dict(self.call("eth_getBlockByNumber", hex(number), full))

    def bundle(self, tx_hash: str) -> TxBundle:
        tx, receipt = _batch(self.url, [
            {"method": "eth_getTransactionByHash", "params": [tx_hash]},
            {"method": "eth_getTransactionReceipt", "params": [tx_hash]}])
        block, receipts = _batch(self.url, [
            {"method": "eth_getBlockByHash", "params": [tx["blockHash"], True]},
            {"method": "eth_getBlockReceipts", "params": [tx["blockHash"]]}])
        return TxBundle(tx, receipt, block, receipts)

    def all_txs(self) -> dict[str, str]:
        """Every seeded kind, alone in its block and in the mixed block."""
        m = self.manifest
        return {**m.txs, **{f"mixed_{k}": v for k, v in m.mixed_txs.items()}}
