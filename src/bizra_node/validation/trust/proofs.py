"""Accounts, storage and code through EIP-1186 proofs (``eth_getProof``).

The account proof is the list of trie nodes from a verified header's ``stateRoot``
down the path keccak(address). The nodes go into a database keyed by their keccak, and
the ``trie`` library's HexaryTrie walks the path from the root: a node is only ever
reached through the hash its parent names, so a tampered node is never used (its
hash names nothing) and a missing one stops the walk. The leaf is
rlp([nonce, balance, storageRoot, codeHash]); no leaf on the path (a proof of
exclusion) proves the account is empty: zero balance and nonce, no code, no storage.
Storage proofs go the same way from the account's storageRoot down keccak(slot), the
value rlp-encoded; code is proven by keccak(code) == codeHash.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import rlp
from trie.exceptions import MissingTrieNode
from trie.hexary import HexaryTrie

from ._hex import as_bytes, as_int, as_object, field_bytes, field_int, field_list
from ._keccak import keccak
from .errors import Check, TrustError
from .tries import EMPTY_TRIE_ROOT

__all__ = [
    "EMPTY_CODE_HASH",
    "ProvenAccount",
    "proof_get",
    "verify_account_proof",
    "verify_code",
    "verify_storage_proof",
]

EMPTY_CODE_HASH = keccak(b"")


@dataclass(frozen=True, slots=True)
class ProvenAccount:
    address: bytes
    exists: bool
    """False: the proof shows no account at this address (all fields empty)."""
    nonce: int
    balance: int
    storage_root: bytes
    code_hash: bytes


def proof_get(root: bytes, key: bytes, nodes: list[bytes], check: Check) -> bytes:
    """The value at ``key`` in the trie with ``root``, read through ``nodes`` only;
    b"" when the proof shows the key is absent."""
    db = {keccak(node): node for node in nodes}
    try:
        return bytes(HexaryTrie(db, root_hash=root).get(key))
    except MissingTrieNode:
        raise TrustError(check, "the proof does not reach the value from the root") from None
    except Exception as exc:  # rlp decoding errors, malformed nodes
        raise TrustError(check, f"the proof has a malformed node ({type(exc).__name__})") from None


def _nodes(obj: Mapping[str, Any], key: str, check: Check) -> list[bytes]:
    return [as_bytes(n, check, "proof node") for n in field_list(obj, key, check)]


def _int(item: object) -> int:
    if not isinstance(item, bytes) or item[:1] == b"\x00":
        raise TrustError(Check.ACCOUNT_PROOF, "the account leaf has a malformed integer")
    return int.from_bytes(item, "big")


def _decode_account(leaf: bytes) -> tuple[int, int, bytes, bytes]:
    try:
        fields = rlp.decode(leaf)
    except Exception:
        raise TrustError(Check.ACCOUNT_PROOF, "the account leaf is not RLP") from None
    if not isinstance(fields, list) or len(fields) != 4 or \
            not all(isinstance(f, bytes) for f in fields) or \
            len(fields[2]) != 32 or len(fields[3]) != 32:
        raise TrustError(Check.ACCOUNT_PROOF,
                         "the account leaf is not [nonce, balance, storageRoot, codeHash]")
    return _int(fields[0]), _int(fields[1]), bytes(fields[2]), bytes(fields[3])


def verify_account_proof(state_root: bytes, proof_json: object, address: bytes, *,
                         balance: int | None = None, nonce: int | None = None) -> ProvenAccount:
    """Prove the account at ``address`` from ``state_root`` (a verified header's).

    What the proof object itself claims (balance, nonce, storageHash, codeHash) must be
    what the proof proves; ``balance`` and ``nonce``, if given, are other answers for
    the same block (eth_getBalance, eth_getTransactionCount) and must agree too."""
    proof = as_object(proof_json, Check.ACCOUNT_PROOF, "account proof")
    if field_bytes(proof, "address", Check.ACCOUNT_PROOF, 20) != address:
        raise TrustError(Check.ACCOUNT_PROOF, "the proof is for another address")
    leaf = proof_get(state_root, keccak(address),
                     _nodes(proof, "accountProof", Check.ACCOUNT_PROOF), Check.ACCOUNT_PROOF)
    if leaf:
        account = ProvenAccount(address, True, *_decode_account(leaf))
    else:
        account = ProvenAccount(address, False, 0, 0, EMPTY_TRIE_ROOT, EMPTY_CODE_HASH)
    claims: dict[str, tuple[int | bytes, int | bytes]] = {
        "balance": (field_int(proof, "balance", Check.ACCOUNT_PROOF), account.balance),
        "nonce": (field_int(proof, "nonce", Check.ACCOUNT_PROOF), account.nonce),
        "storageHash": (field_bytes(proof, "storageHash", Check.ACCOUNT_PROOF, 32), account.storage_root),
        "codeHash": (field_bytes(proof, "codeHash", Check.ACCOUNT_PROOF, 32), account.code_hash),
    }
    if not account.exists:  # some clients send zero hashes for an account that is not there
        for name in ("storageHash", "codeHash"):
            if claims[name][0] == b"\x00" * 32:
                claims[name] = (claims[name][1], claims[name][1])
    if balance is not None:
        claims["balance (eth_getBalance)"] = (balance, account.balance)
    if nonce is not None:
        claims["nonce (eth_getTransactionCount)"] = (nonce, account.nonce)
    for name, (claimed, proven) in claims.items():
        if claimed != proven:
            raise TrustError(Check.ACCOUNT_PROOF, f"{name} is claimed as {_show(claimed)}, "
                                 f"the proof proves {_show(proven)}")
    return account


def verify_storage_proof(account: ProvenAccount, item_json: object) -> tuple[int, int]:
    """Prove one ``storageProof`` entry from the account's storageRoot: (slot, value)."""
    item = as_object(item_json, Check.STORAGE_PROOF, "storage proof")
    slot = as_int(item.get("key"), Check.STORAGE_PROOF, "storage key")
    claimed = field_int(item, "value", Check.STORAGE_PROOF)
    raw = proof_get(account.storage_root, keccak(slot.to_bytes(32, "big")),
                    _nodes(item, "proof", Check.STORAGE_PROOF), Check.STORAGE_PROOF)
    value = 0
    if raw:
        try:
            data = rlp.decode(raw)
        except Exception:
            raise TrustError(Check.STORAGE_PROOF, "the storage value is not RLP") from None
        if not isinstance(data, bytes) or len(data) > 32 or data[:1] == b"\x00":
            raise TrustError(Check.STORAGE_PROOF, "the storage value is not a 32-byte integer")
        value = int.from_bytes(data, "big")
    if value != claimed:
        raise TrustError(Check.STORAGE_PROOF, f"slot {slot:#x} is claimed as {claimed:#x}, "
                             f"the proof proves {value:#x}")
    return slot, value


def verify_code(account: ProvenAccount, code: bytes) -> None:
    """The code served for the account is the code its proven codeHash names."""
    if keccak(code) != account.code_hash:
        raise TrustError(Check.CODE_HASH, f"keccak of the {len(code)}-byte code is not the "
                                          f"account's codeHash 0x{account.code_hash.hex()}")


def _show(value: int | bytes) -> str:
    return f"0x{value.hex()}" if isinstance(value, bytes) else str(value)
