"""A block's body against its verified header: transactions, receipts, withdrawals.

:func:`prove_block` checks a full block (``eth_getBlockByNumber(n, true)``) and, if
given, the block's receipts (``eth_getBlockReceipts``, or each receipt in order): the
header hash, then the transactions, receipts and withdrawals roots rebuilt from the
lists. The :class:`ProvenBlock` it returns holds what later checks need (transaction
hashes computed from the fields, consensus receipts), so a caller can memoise it per
block hash and prove every transaction of the block against it without a rebuild.

anvil up to 1.7.1 commits ``transactionsRoot`` over a blob transaction's pooled
(network) form, sidecar included, instead of the block-body form every other client
uses (foundry-rs/foundry#15132, fixed by #15699 after 1.7.1). ``pooled_blob_leaves``
accepts such a block: when the canonical root does not match and the upstream sent each
blob transaction's sidecar (``blobs``, ``commitments``, ``cellProofs`` or ``proofs``),
the root is rebuilt with the pooled form. The pooled form holds the canonical payload,
so the transactions are proven as firmly; the option exists only for anvil devnets.

An OP-stack block from Isthmus on puts the L2ToL1MessagePasser's storage root in
``withdrawalsRoot`` and has no withdrawals: such a block (its proven transactions start
with a deposit) has that root left unchecked and said so (``ProvenBlock.unproven``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._hex import as_bytes, as_object, field_bytes, field_int
from ._keccak import keccak
from ._rlp import encode, encode_list_payload
from .deposit import DEPOSIT_TX_TYPE
from .errors import Check, TrustError
from .header import Header, verify_header
from .receipts import ConsensusReceipt, decode_receipt
from .transactions import decode_transaction
from .tries import ordered_trie_root

__all__ = [
    "OP_WITHDRAWALS_ROOT",
    "ProvenBlock",
    "encode_withdrawal",
    "prove_block",
    "receipt_hashes",
    "receipts_root",
    "transactions_root",
    "withdrawals_root",
]

_W = Check.WITHDRAWALS_ROOT

OP_WITHDRAWALS_ROOT = ("withdrawalsRoot not proven: an OP-stack block (its first transaction "
                       "a deposit) commits there, from Isthmus on, to the L2ToL1MessagePasser "
                       "storage root, not to its (empty) withdrawals")
"""Why an OP-stack block's withdrawalsRoot is left unchecked: it is a state commitment
(provable through an account proof of 0x4200000000000000000000000000000000000016, which
the node does not ask for), and only a block whose proven transactions start with a
deposit, with no withdrawals, is taken as one (an L1 block cannot hold a deposit)."""


@dataclass(frozen=True, slots=True)
class ProvenBlock:
    header: Header
    tx_hashes: tuple[bytes, ...]
    """keccak of each transaction's canonical encoding, in block order."""
    receipts: tuple[ConsensusReceipt, ...] | None
    """The block's receipts, proven by receiptsRoot (None: not checked)."""
    checks: tuple[Check, ...]
    unproven: str | None = None
    """What in the header the checks could not reach (OP_WITHDRAWALS_ROOT)."""


def encode_withdrawal(withdrawal_json: object) -> bytes:
    """EIP-4895: rlp([index, validatorIndex, address, amount in Gwei])."""
    w = as_object(withdrawal_json, _W, "withdrawal")
    return encode([field_int(w, "index", _W), field_int(w, "validatorIndex", _W),
                   field_bytes(w, "address", _W, 20), field_int(w, "amount", _W)])


def _list(value: object, check: Check, what: str) -> Sequence[Any]:
    if not isinstance(value, list):
        raise TrustError(check, f"{what} is not a list")
    return value


def transactions_root(transactions: Sequence[object]) -> bytes:
    return ordered_trie_root([decode_transaction(tx).encoding for tx in transactions])


def receipts_root(receipts: Sequence[object]) -> bytes:
    return ordered_trie_root([decode_receipt(r).encoding for r in receipts])


def withdrawals_root(withdrawals: Sequence[object]) -> bytes:
    return ordered_trie_root([encode_withdrawal(w) for w in withdrawals])


def _pooled_leaf(tx_json: object, canonical: bytes) -> bytes:
    """anvil's leaf for a blob transaction: 0x03 || rlp([payload, (1,) blobs,
    commitments, proofs]) with wrapper version 1 for EIP-7594 cell proofs."""
    tx = as_object(tx_json, Check.TRANSACTIONS_ROOT, "transaction")
    if canonical[:1] != b"\x03" or tx.get("blobs") is None:
        return canonical
    t = Check.TRANSACTIONS_ROOT
    blobs = [as_bytes(b, t, "blob") for b in _list(tx.get("blobs"), t, "blobs")]
    commitments = [as_bytes(c, t, "commitment", 48)
                   for c in _list(tx.get("commitments"), t, "commitments")]
    if tx.get("cellProofs") is not None:
        version = [1]
        proofs = _list(tx.get("cellProofs"), t, "cellProofs")
    else:
        version = []
        proofs = _list(tx.get("proofs"), t, "proofs")
    items = [encode(blobs), encode(commitments),
             encode([as_bytes(p, t, "proof", 48) for p in proofs])]
    wrapper = canonical[1:] + (encode(version[0]) if version else b"") + b"".join(items)
    return b"\x03" + encode_list_payload(wrapper)


def _mismatch(check: Check, what: str, computed: bytes, header_root: bytes) -> TrustError:
    return TrustError(check, f"the {what} have root 0x{computed.hex()}, the header says "
                             f"0x{header_root.hex()}")


def prove_block(block_json: object, receipts: Sequence[object] | None = None, *,
                expected_hash: bytes | None = None,
                pooled_blob_leaves: bool = False) -> ProvenBlock:
    """Check a full block (and its receipts, if given) against its own header.
    ``pooled_blob_leaves``: accept anvil's non-canonical blob leaves (module doc)."""
    block = as_object(block_json, Check.HEADER_HASH, "block")
    header = verify_header(block, expected_hash=expected_hash)
    checks = [Check.HEADER_HASH]

    txs = _list(block.get("transactions"), Check.TRANSACTIONS_ROOT, "transactions")
    if any(isinstance(tx, str) for tx in txs):
        raise TrustError(Check.TRANSACTIONS_ROOT,
                         "the block lists transaction hashes: the root needs full transactions")
    encodings = [decode_transaction(tx).encoding for tx in txs]
    computed = ordered_trie_root(encodings)
    if computed != header.transactions_root and pooled_blob_leaves:
        pooled = [_pooled_leaf(tx, e) for tx, e in zip(txs, encodings, strict=True)]
        if pooled != encodings:
            computed = ordered_trie_root(pooled)
    if computed != header.transactions_root:
        raise _mismatch(Check.TRANSACTIONS_ROOT, "transactions", computed, header.transactions_root)
    checks.append(Check.TRANSACTIONS_ROOT)
    tx_hashes = tuple(keccak(e) for e in encodings)
    _served_hashes(txs, tx_hashes)

    withdrawals = block.get("withdrawals")
    unproven: str | None = None
    if header.withdrawals_root is not None:
        computed = withdrawals_root(_list(withdrawals, _W, "withdrawals"))
        if computed == header.withdrawals_root:
            checks.append(_W)
        elif not withdrawals and encodings and encodings[0][0] == DEPOSIT_TX_TYPE:
            unproven = OP_WITHDRAWALS_ROOT
        else:
            raise _mismatch(_W, "withdrawals", computed, header.withdrawals_root)
    elif withdrawals:
        raise TrustError(_W, "the block has withdrawals but its header has no withdrawalsRoot")

    proven_receipts: tuple[ConsensusReceipt, ...] | None = None
    if receipts is not None:
        proven_receipts = tuple(decode_receipt(r) for r in
                                _list(receipts, Check.RECEIPTS_ROOT, "receipts"))
        computed = ordered_trie_root([r.encoding for r in proven_receipts])
        if computed != header.receipts_root:
            raise _mismatch(Check.RECEIPTS_ROOT, "receipts", computed, header.receipts_root)
        _receipt_hashes(receipts, tx_hashes)
        checks.append(Check.RECEIPTS_ROOT)
    return ProvenBlock(header, tx_hashes, proven_receipts, tuple(checks), unproven)


def _served_hashes(txs: Sequence[Any], computed: tuple[bytes, ...]) -> None:
    """Each transaction's ``hash`` as served must be keccak of the encoding the root was
    rebuilt from: the root proves the fields, never the hash an upstream wrote beside
    them, and it is the hash clients are shown."""
    for i, (tx, mine) in enumerate(zip(txs, computed, strict=True)):
        served = tx.get("hash") if isinstance(tx, dict) else None
        if served is not None and as_bytes(served, Check.TX_HASH, "hash", 32) != mine:
            raise TrustError(Check.TX_HASH, f"transaction {i} is served with hash {served}, "
                                            f"its fields hash to 0x{mine.hex()}")


def receipt_hashes(receipt: Mapping[str, Any], tx_hash: bytes, check: Check) -> None:
    """The receipt's ``transactionHash`` and its logs' must be ``tx_hash`` (computed
    from the proven transaction): the receipts root proves neither."""
    served = receipt.get("transactionHash")
    if served is not None and as_bytes(served, check, "transactionHash", 32) != tx_hash:
        raise TrustError(check, f"transactionHash {served} is not the hash of the "
                                f"transaction, 0x{tx_hash.hex()}")
    logs = receipt.get("logs")
    for log in logs if isinstance(logs, list) else ():
        served = log.get("transactionHash") if isinstance(log, dict) else None
        if served is not None and as_bytes(served, check, "log transactionHash", 32) != tx_hash:
            raise TrustError(check, f"a log's transactionHash {served} is not the hash of "
                                    f"its transaction, 0x{tx_hash.hex()}")


def _receipt_hashes(receipts: Sequence[Any], tx_hashes: tuple[bytes, ...]) -> None:
    if len(receipts) != len(tx_hashes):
        raise TrustError(Check.RECEIPTS_ROOT, f"{len(receipts)} receipts for "
                                              f"{len(tx_hashes)} transactions")
    for receipt, tx_hash in zip(receipts, tx_hashes, strict=True):
        receipt_hashes(as_object(receipt, Check.RECEIPT_MISMATCH, "receipt"), tx_hash,
                       Check.RECEIPT_MISMATCH)

