"""OP-stack deposit transactions (EIP-2718 type 0x7E) and their receipts.

A deposit is made on L1 (a portal call, or the L1 attributes of each L2 block) and
derived into the L2 block by the rollup node; it has no signature. Its hash is
``keccak(0x7E || rlp([sourceHash, from, to, mint, value, gas, isSystemTx, data]))``
(op-geth core/types/deposit_tx.go): ``from`` is one of the hashed fields, so the hash
proves it as it proves the others, and there is nothing to recover it from. ``to`` is
empty for a creation and ``mint`` empty when nothing is minted (the same bytes as 0).
The ``nonce`` op-geth puts in the JSON (the nonce the deposit used, Regolith on) is
not in the encoding: informational, proven by nothing here.

Its receipt, in the receipts trie, is ``0x7E || rlp([status, cumulativeGasUsed,
logsBloom, logs])`` and, from Canyon on (``depositReceiptVersion`` present),
``[..., depositNonce, depositReceiptVersion]``: op-geth's ``Receipts.EncodeIndex``
leaves a Regolith receipt's ``depositNonce`` out of the trie, so before Canyon the
receipts root does not prove it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ._hex import as_int, field_bytes, field_int, field_opt_bytes
from .errors import Check, TrustError

__all__ = ["DEPOSIT_TX_TYPE", "deposit_items", "deposit_receipt_tail"]

DEPOSIT_TX_TYPE = 0x7E

_F = Check.TX_FIELDS


def _flag(tx: Mapping[str, Any]) -> int:
    """``isSystemTx``: a JSON bool; op-geth treats absent as false."""
    value = tx.get("isSystemTx")
    if value is None or value is False:
        return 0
    if value is True:
        return 1
    raise TrustError(_F, f"isSystemTx is not a boolean: {value!r}"[:120])


def _zero_signature(tx: Mapping[str, Any]) -> None:
    """op-geth refuses a deposit whose v, r or s is set and not 0: a deposit claiming a
    signature is malformed, not a signed deposit."""
    for key in ("v", "r", "s", "yParity"):
        if tx.get(key) is not None and as_int(tx[key], _F, key) != 0:
            raise TrustError(_F, f"a deposit has no signature, yet its {key} is {tx[key]}")


def deposit_items(tx: Mapping[str, Any], data: bytes) -> list[Any]:
    """The RLP items of a deposit's encoding, from op-geth's JSON (``data``: its input)."""
    _zero_signature(tx)
    mint = tx.get("mint")
    return [field_bytes(tx, "sourceHash", _F, 32), field_bytes(tx, "from", _F, 20),
            field_opt_bytes(tx, "to", _F, 20) or b"",
            0 if mint is None else as_int(mint, _F, "mint"),
            field_int(tx, "value", _F), field_int(tx, "gas", _F), _flag(tx), data]


def deposit_receipt_tail(receipt: Mapping[str, Any], check: Check) -> tuple[int | None, int | None]:
    """(depositNonce, depositReceiptVersion) of a deposit receipt; the trie encoding
    carries both when the version is present (Canyon on), neither before."""
    nonce = receipt.get("depositNonce")
    version = receipt.get("depositReceiptVersion")
    n = None if nonce is None else as_int(nonce, check, "depositNonce")
    v = None if version is None else as_int(version, check, "depositReceiptVersion")
    if v is not None and n is None:
        raise TrustError(check, "a deposit receipt with depositReceiptVersion has no depositNonce")
    return n, v
