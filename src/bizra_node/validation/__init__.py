"""The domain: validating transactions, blocks and addresses, the chain view, and the
JSON-RPC endpoint's caching rules."""

from __future__ import annotations

from .answer import BLOCK_NOT_FOUND, TX_NOT_FOUND, Answer
from .chain_view import ChainView, ChainViewConfig, Upstreams
from .inputs import (
    ADDRESS_PATTERN,
    BLOCK_REF_PATTERN,
    HASH_PATTERN,
    MAX_BLOCK_NUMBER,
    UINT_PATTERN,
    is_uint,
    parse_address,
    parse_block_ref,
    parse_tx_hash,
    parse_uint,
    shown_value,
    to_checksum_address,
)
from .rpc import MAX_BATCH, RpcService, method_allowed
from .service import Recorder, ValidationService, now_iso
from .types import (
    Account,
    AccountResult,
    Block,
    BlockResult,
    Transaction,
    TransactionResult,
)

__all__ = [
    "ADDRESS_PATTERN",
    "BLOCK_NOT_FOUND",
    "BLOCK_REF_PATTERN",
    "HASH_PATTERN",
    "MAX_BATCH",
    "MAX_BLOCK_NUMBER",
    "TX_NOT_FOUND",
    "UINT_PATTERN",
    "Account",
    "AccountResult",
    "Answer",
    "Block",
    "BlockResult",
    "ChainView",
    "ChainViewConfig",
    "Recorder",
    "RpcService",
    "Transaction",
    "TransactionResult",
    "Upstreams",
    "ValidationService",
    "is_uint",
    "method_allowed",
    "now_iso",
    "parse_address",
    "parse_block_ref",
    "parse_tx_hash",
    "parse_uint",
    "shown_value",
    "to_checksum_address",
]
