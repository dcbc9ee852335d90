"""Turn upstream JSON-RPC objects into the node's result types."""

from __future__ import annotations

from typing import Any

from .inputs import to_checksum_address
from .types import Account, Block, Transaction, TxStatus

__all__ = ["hex_int", "to_account", "to_block", "to_transaction"]


def hex_int(value: Any) -> int:
    """A JSON-RPC quantity as int. Raises ValueError/TypeError when malformed."""
    if not isinstance(value, str) or not value.startswith("0x"):
        raise ValueError(f"not a quantity: {value!r}")
    return int(value, 16)


def _opt_hex_int(value: Any) -> int | None:
    return None if value is None else hex_int(value)


def _checksum(addr: Any) -> str | None:
    if addr is None:
        return None
    return to_checksum_address(str(addr)[2:].lower())


def tx_status(tx: dict[str, Any], receipt: dict[str, Any] | None) -> TxStatus:
    if tx.get("blockNumber") is None or receipt is None:
        return "pending"
    return "confirmed" if receipt.get("status") == "0x1" else "failed"


def to_transaction(tx: dict[str, Any], receipt: dict[str, Any] | None, *, head: int,
                   finalized_at: int, timestamp: int | None) -> Transaction:
    status = tx_status(tx, receipt)
    block_number = _opt_hex_int(tx.get("blockNumber")) if status != "pending" else None
    gas_price = tx.get("gasPrice")
    if receipt is not None and receipt.get("effectiveGasPrice") is not None:
        gas_price = receipt["effectiveGasPrice"]
    return Transaction(
        hash=str(tx["hash"]).lower(),
        from_=_checksum(tx["from"]) or "",
        to=_checksum(tx.get("to")),
        value=str(hex_int(tx["value"])),
        gas=hex_int(tx["gas"]),
        gas_price=None if gas_price is None else str(hex_int(gas_price)),
        nonce=hex_int(tx["nonce"]),
        block_number=block_number,
        block_hash=tx.get("blockHash") if block_number is not None else None,
        timestamp=timestamp if block_number is not None else None,
        status=status,
        confirmations=0 if block_number is None else max(head - block_number + 1, 1),
        finalized=block_number is not None and block_number <= finalized_at,
        data=str(tx.get("input") or tx.get("data") or "0x"),
        type=_opt_hex_int(tx.get("type")) or 0,
    )


def to_block(block: dict[str, Any], *, finalized_at: int) -> Block:
    number = hex_int(block["number"])
    txs = block.get("transactions") or []
    return Block(
        number=number,
        hash=str(block["hash"]),
        parent_hash=str(block["parentHash"]),
        timestamp=hex_int(block["timestamp"]),
        transactions=[t if isinstance(t, str) else str(t["hash"]) for t in txs],
        miner=_checksum(block.get("miner")) or "",
        gas_limit=hex_int(block["gasLimit"]),
        gas_used=hex_int(block["gasUsed"]),
        base_fee_per_gas=None if block.get("baseFeePerGas") is None
        else str(hex_int(block["baseFeePerGas"])),
        size=_opt_hex_int(block.get("size")) or 0,
        finalized=number <= finalized_at,
    )


def to_account(address: str, balance: Any, nonce: Any, code: Any, head: int) -> Account:
    if not isinstance(code, str) or not code.startswith("0x"):
        raise ValueError("code is not hex")
    return Account(
        address=address,
        balance=str(hex_int(balance)),
        nonce=hex_int(nonce),
        code=code,
        is_contract=len(code) > 2,
        block_number=head,
    )
