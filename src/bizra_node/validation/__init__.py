"""The domain: validating transactions, blocks and addresses."""

from __future__ import annotations

from .answer import BLOCK_NOT_FOUND, TX_NOT_FOUND, Answer, confirmations
from .inputs import parse_address, parse_block_ref, parse_tx_hash, to_checksum_address
from .integrity import IntegrityError, header_hash
from .service import Recorder, Upstreams, ValidationService, now_iso
from .types import (
    Account,
    AccountResult,
    Block,
    BlockResult,
    Transaction,
    TransactionResult,
)

__all__ = [
    "BLOCK_NOT_FOUND",
    "TX_NOT_FOUND",
    "Account",
    "AccountResult",
    "Answer",
    "Block",
    "BlockResult",
    "IntegrityError",
    "Recorder",
    "Transaction",
    "TransactionResult",
    "Upstreams",
    "ValidationService",
    "confirmations",
    "header_hash",
    "now_iso",
    "parse_address",
    "parse_block_ref",
    "parse_tx_hash",
    "to_checksum_address",
]
