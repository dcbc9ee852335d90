"""What the node answers: result types, shared by the service, the API and OpenAPI.

Wei amounts are decimal strings (they overflow JSON numbers in most clients);
counts, numbers and timestamps are integers; hashes and addresses are 0x-hex.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from .trust import Verification

__all__ = [
    "Account",
    "AccountResult",
    "Block",
    "BlockResult",
    "Transaction",
    "TransactionResult",
    "TxStatus",
]

TxStatus = Literal["confirmed", "failed", "pending"]


class Transaction(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=False):
    hash: str
    from_: str = msgspec.field(name="from")
    to: str | None
    value: str
    gas: int
    gas_price: str | None
    nonce: int
    block_number: int | None
    block_hash: str | None
    timestamp: int | None
    status: TxStatus
    confirmations: int
    finalized: bool
    data: str
    type: int


class Block(msgspec.Struct, kw_only=True, rename="camel"):
    number: int
    hash: str
    parent_hash: str
    timestamp: int
    transactions: list[str]
    miner: str
    gas_limit: int
    gas_used: int
    base_fee_per_gas: str | None
    size: int
    finalized: bool


class Account(msgspec.Struct, kw_only=True, rename="camel"):
    address: str
    balance: str
    nonce: int
    code: str
    is_contract: bool
    block_number: int


class TransactionResult(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    valid: bool | None
    """true: proven (``verification`` says how far, and ``unproven`` what not); false:
    refused or not found; null: a transaction type the node cannot encode, the data
    the upstream's word (``verification.level`` is ``unverified``)."""
    validated_at: str
    network_id: int
    data: Transaction | None = None
    error: str | None = None
    verification: Verification | None = None
    """What was proven (and against which anchor), or which check failed."""


class BlockResult(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    valid: bool
    validated_at: str
    network_id: int
    data: Block | None = None
    error: str | None = None
    verification: Verification | None = None
    """What was proven (and against which anchor), or which check failed."""


class AccountResult(msgspec.Struct, kw_only=True, rename="camel", omit_defaults=True):
    valid: bool | None
    """true: proven (``verification`` says how far); false: refused (an upstream's
    answer failed a check); null: no upstream would prove it, so the data is the
    upstreams' word (``verification.level`` is ``unverified``)."""
    validated_at: str
    network_id: int
    data: Account | None = None
    error: str | None = None
    verification: Verification | None = None
    """What was proven (and against which anchor), or which check failed."""
