"""Transactions: the signed transaction rebuilt from an upstream's JSON object.

For every type the chain uses (legacy with and without EIP-155, 1 access list,
2 dynamic fee, 3 blob, 4 set code) :func:`decode_transaction` builds the signed
transaction from the fields ``eth_getTransactionByHash`` and full blocks return; from
it come the canonical (consensus) encoding that goes into the transactions trie, the
hash (keccak of that encoding), the signing hash and the sender. A blob transaction's
network form (blobs, commitments, proofs) is never in a block: its encoding and hash
cover the payload with ``blobVersionedHashes`` only, and a ``blobs`` field an upstream
adds is ignored here.

:func:`verify_transaction` runs the checks: tx_fields, tx_hash (the claimed and the
asked-for hash), tx_signature (low s as EIP-2 requires, recovers to ``from``) and
tx_chain_id (the node's network). A legacy transaction signed before EIP-155 carries
no chain id: it is valid on every chain, and the result says so
(``chain_id is None``, tx_chain_id not among the checks run) instead of failing.

An OP-stack deposit (type 0x7E, deposit.py) is hashed from its fields like the others,
but has no signature: its sender is its hashed ``from``, and the checks say
deposit_no_signature instead of tx_signature. Any other type the node has no encoding
for (Arbitrum's 0x64-0x6A among them) raises :class:`Unprovable`: served unverified,
never refused as invalid nor claimed proven.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from coincurve import PublicKey

from ._hex import (
    as_bytes,
    as_int,
    as_object,
    field_bytes,
    field_int,
    field_list,
    field_opt_bytes,
)
from ._keccak import keccak
from ._rlp import encode
from .deposit import DEPOSIT_TX_TYPE, deposit_items
from .errors import Check, TrustError, Unprovable

__all__ = [
    "SECP256K1_N",
    "SignedTx",
    "VerifiedTx",
    "decode_transaction",
    "encode_transaction",
    "recover_address",
    "recover_sender",
    "signing_hash",
    "transaction_hash",
    "verify_transaction",
]

SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_HALF_N = SECP256K1_N // 2
_F = Check.TX_FIELDS


@dataclass(frozen=True, slots=True)
class SignedTx:
    """A signed transaction as it is in a block."""

    type: int
    chain_id: int | None
    """The signed chain id; None for a legacy transaction signed before EIP-155."""
    unsigned: list[Any]
    """The RLP items the signature covers, without the signature (nor, for EIP-155
    legacy, the ``chainId, 0, 0`` suffix)."""
    y_parity: int
    r: int
    s: int
    encoding: bytes
    """The canonical encoding: rlp(list) for legacy, ``type || rlp(payload)`` else."""

    @property
    def hash(self) -> bytes:
        return keccak(self.encoding)

    @property
    def is_deposit(self) -> bool:
        """An OP-stack deposit: no signature, ``unsigned`` is its whole payload."""
        return self.type == DEPOSIT_TX_TYPE

    @property
    def signing_hash(self) -> bytes:
        if self.is_deposit:
            raise TrustError(Check.TX_SIGNATURE, "a deposit transaction is not signed")
        if self.type == 0:
            items = self.unsigned if self.chain_id is None else [*self.unsigned, self.chain_id, 0, 0]
            return keccak(encode(items))
        return keccak(bytes((self.type,)) + encode(self.unsigned))

    @property
    def nonce(self) -> int:
        """The signed nonce (a deposit has none in its encoding: see deposit.py)."""
        if self.is_deposit:
            raise ValueError("a deposit's encoding has no nonce")
        return int(self.unsigned[0 if self.type == 0 else 1])

    @property
    def to(self) -> bytes | None:
        """The recipient; None for a contract creation."""
        to = self.unsigned[2 if self.is_deposit else 3 if self.type == 0 else
                           4 if self.type == 1 else 5]
        return bytes(to) or None

    def effective_gas_price(self, base_fee: int | None) -> int:
        """What the sender paid per gas in a block with ``base_fee`` (a deposit: 0, its
        gas is bought on L1)."""
        if self.is_deposit:
            return 0
        if self.type in (0, 1):
            return int(self.unsigned[1 if self.type == 0 else 2])
        priority, max_fee = int(self.unsigned[2]), int(self.unsigned[3])
        return max_fee if base_fee is None else min(max_fee, base_fee + priority)

    def recover_sender(self) -> bytes:
        """The 20-byte address that signed; raises TrustError(tx_signature) if the
        signature is invalid or has a high s (EIP-2)."""
        return recover_address(self.signing_hash, self.y_parity, self.r, self.s)


@dataclass(frozen=True, slots=True)
class VerifiedTx:
    """What :func:`verify_transaction` proved about a transaction object."""

    hash: bytes
    sender: bytes
    """Recovered from the signature; a deposit's hashed ``from`` (no signature)."""
    chain_id: int | None
    """None: a legacy pre-EIP-155 transaction, replayable on any chain, or a deposit
    (no chain id in its encoding: its source hash ties it to one L1 deposit)."""
    signed: SignedTx
    checks: tuple[Check, ...]


def _access_list(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TrustError(_F, "accessList is not a list")
    out: list[Any] = []
    for entry in value:
        item = as_object(entry, _F, "accessList entry")
        keys = field_list(item, "storageKeys", _F)
        out.append([field_bytes(item, "address", _F, 20),
                    [as_bytes(k, _F, "storage key", 32) for k in keys]])
    return out


def _authorizations(value: object) -> list[Any]:
    if not isinstance(value, list):
        raise TrustError(_F, "authorizationList is not a list")
    out: list[Any] = []
    for entry in value:
        item = as_object(entry, _F, "authorization")
        parity = item.get("yParity", item.get("v"))
        out.append([field_int(item, "chainId", _F), field_bytes(item, "address", _F, 20),
                    field_int(item, "nonce", _F), as_int(parity, _F, "authorization yParity"),
                    field_int(item, "r", _F), field_int(item, "s", _F)])
    return out


def _input(tx: Mapping[str, Any]) -> bytes:
    value = tx.get("input")
    if value is None:
        value = tx.get("data")
    return as_bytes(value, _F, "input")


def _to(tx: Mapping[str, Any], *, required: bool) -> bytes:
    to = field_opt_bytes(tx, "to", _F, 20)
    if to is None:
        if required:
            raise TrustError(_F, "this transaction type cannot create a contract: to is missing")
        return b""
    return to


def _typed_parity(tx: Mapping[str, Any]) -> int:
    """yParity of a typed transaction; nodes send ``yParity``, ``v`` or both (equal)."""
    parity = tx.get("yParity")
    v = tx.get("v")
    if parity is None and v is None:
        raise TrustError(_F, "field yParity is missing")
    y = as_int(parity if parity is not None else v, Check.TX_SIGNATURE, "yParity")
    if parity is not None and v is not None and as_int(v, Check.TX_SIGNATURE, "v") != y:
        raise TrustError(Check.TX_SIGNATURE, "v and yParity disagree")
    if y > 1:
        raise TrustError(Check.TX_SIGNATURE, f"yParity is {y}, not 0 or 1")
    return y


def decode_transaction(tx_json: object) -> SignedTx:
    """Build the signed transaction from an upstream's JSON transaction object.
    Raises TrustError(tx_fields) for a malformed object or a type past EIP-2718's
    0x7F, Unprovable for a type the node has no encoding for."""
    tx = as_object(tx_json, _F, "transaction")
    type_ = as_int(tx["type"], _F, "type") if tx.get("type") is not None else 0
    if type_ == DEPOSIT_TX_TYPE:
        items = deposit_items(tx, _input(tx))
        return SignedTx(type_, None, items, 0, 0, 0, bytes((type_,)) + encode(items))
    if type_ > 0x7F:
        raise TrustError(_F, f"transaction type {type_:#x} is not an EIP-2718 type")
    if type_ > 4:
        raise Unprovable(_unknown_type(type_))
    nonce = field_int(tx, "nonce", _F)
    gas = field_int(tx, "gas", _F)
    value = field_int(tx, "value", _F)
    data = _input(tx)
    r = field_int(tx, "r", _F)
    s = field_int(tx, "s", _F)
    if type_ == 0:
        v = field_int(tx, "v", _F)
        if v in (27, 28):
            chain_id: int | None = None
            parity = v - 27
        elif v >= 35:
            chain_id, parity = divmod(v - 35, 2)
        else:
            raise TrustError(Check.TX_SIGNATURE, f"legacy v is {v}: neither 27/28 nor EIP-155")
        unsigned: list[Any] = [nonce, field_int(tx, "gasPrice", _F), gas, _to(tx, required=False),
                               value, data]
        encoding = encode([*unsigned, v, r, s])
        return SignedTx(0, chain_id, unsigned, parity, r, s, encoding)
    chain_id = field_int(tx, "chainId", _F)
    access = _access_list(tx.get("accessList"))
    if type_ == 1:
        unsigned = [chain_id, nonce, field_int(tx, "gasPrice", _F), gas,
                    _to(tx, required=False), value, data, access]
    else:
        unsigned = [chain_id, nonce, field_int(tx, "maxPriorityFeePerGas", _F),
                    field_int(tx, "maxFeePerGas", _F), gas, _to(tx, required=type_ >= 3),
                    value, data, access]
        if type_ == 3:
            hashes = field_list(tx, "blobVersionedHashes", _F)
            unsigned += [field_int(tx, "maxFeePerBlobGas", _F),
                         [as_bytes(h, _F, "blob versioned hash", 32) for h in hashes]]
        elif type_ == 4:
            unsigned.append(_authorizations(tx.get("authorizationList")))
    parity = _typed_parity(tx)
    encoding = bytes((type_,)) + encode([*unsigned, parity, r, s])
    return SignedTx(type_, chain_id, unsigned, parity, r, s, encoding)


def _unknown_type(type_: int) -> str:
    whose = " (an Arbitrum type)" if 0x64 <= type_ <= 0x6A else ""
    return f"transaction type {type_:#04x}{whose}: the node has no encoding for it"


def encode_transaction(tx_json: object) -> bytes:
    """The canonical encoding, as it goes into the transactions trie."""
    return decode_transaction(tx_json).encoding


def transaction_hash(tx_json: object) -> bytes:
    return decode_transaction(tx_json).hash


def signing_hash(tx_json: object) -> bytes:
    return decode_transaction(tx_json).signing_hash


def recover_sender(tx_json: object) -> bytes:
    return decode_transaction(tx_json).recover_sender()


def recover_address(msg_hash: bytes, y_parity: int, r: int, s: int) -> bytes:
    """The address whose key made signature (y_parity, r, s) over ``msg_hash``.

    libsecp256k1 through coincurve, the call eth-keys' coincurve backend makes, without
    eth-keys' key objects and checks around it (~38 µs against ~67 µs a recovery,
    `bizra-node bench trust`); tests check it recovers what eth-keys recovers.
    """
    if not (0 < r < SECP256K1_N and 0 < s < SECP256K1_N) or y_parity not in (0, 1):
        raise TrustError(Check.TX_SIGNATURE, "signature values are out of range")
    if s > _HALF_N:
        raise TrustError(Check.TX_SIGNATURE, "signature has a high s value (EIP-2)")
    signature = r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes((y_parity,))
    try:
        public = PublicKey.from_signature_and_message(signature, msg_hash, hasher=None)
    except ValueError:
        raise TrustError(Check.TX_SIGNATURE, "no key recovers from the signature") from None
    return keccak(public.format(compressed=False)[1:])[12:]


def verify_transaction(tx_json: object, network_id: int, *,
                       expected_hash: bytes | None = None) -> VerifiedTx:
    """Check a transaction object: its fields make its hash (and the asked-for hash),
    its signature recovers to its ``from``, and it was signed for ``network_id``. A
    deposit: the hash only (its ``from`` is hashed; it has no signature nor chain id)."""
    tx = as_object(tx_json, _F, "transaction")
    signed = decode_transaction(tx)
    claimed = field_bytes(tx, "hash", Check.TX_HASH, 32)
    computed = signed.hash
    if computed != claimed:
        raise TrustError(Check.TX_HASH, f"the fields hash to 0x{computed.hex()}, "
                                        f"not the claimed 0x{claimed.hex()}")
    if expected_hash is not None and claimed != expected_hash:
        raise TrustError(Check.TX_HASH, f"asked for 0x{expected_hash.hex()}, "
                                        f"the upstream answered 0x{claimed.hex()}")
    if signed.is_deposit:
        return VerifiedTx(computed, bytes(signed.unsigned[1]), None, signed,
                          (Check.TX_FIELDS, Check.TX_HASH, Check.DEPOSIT_NO_SIGNATURE))
    sender = signed.recover_sender()
    claimed_from = field_bytes(tx, "from", _F, 20)
    if sender != claimed_from:
        raise TrustError(Check.TX_SIGNATURE, f"the signature recovers to 0x{sender.hex()}, "
                               f"not the claimed from 0x{claimed_from.hex()}")
    checks: tuple[Check, ...] = (Check.TX_FIELDS, Check.TX_HASH, Check.TX_SIGNATURE)
    if signed.chain_id is not None:
        if signed.chain_id != network_id:
            raise TrustError(Check.TX_CHAIN_ID, f"signed for chain {signed.chain_id}, "
                                                f"this node validates {network_id}")
        if signed.type == 0 and tx.get("chainId") is not None and \
                as_int(tx["chainId"], Check.TX_CHAIN_ID, "chainId") != signed.chain_id:
            raise TrustError(Check.TX_CHAIN_ID, "chainId disagrees with the chain id in v")
        checks += (Check.TX_CHAIN_ID,)
    return VerifiedTx(computed, sender, signed.chain_id, signed, checks)
