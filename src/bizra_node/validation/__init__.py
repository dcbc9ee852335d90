"""The domain: validating transactions, blocks and addresses, the chain view, and the
JSON-RPC endpoint's caching rules."""

from __future__ import annotations

from .anchor import AnchorConfig, parse_checkpoint
from .answer import BLOCK_NOT_FOUND, TX_NOT_FOUND, Answer
from .chain_view import ChainView, ChainViewConfig
from .inputs import parse_address, parse_block_ref, parse_tx_hash, to_checksum_address
from .prover import Prover
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
from .upstreams import Upstreams

__all__ = [
    "BLOCK_NOT_FOUND",
    "MAX_BATCH",
    "TX_NOT_FOUND",
    "Account",
    "AccountResult",
    "AnchorConfig",
    "Answer",
    "Block",
    "BlockResult",
    "ChainView",
    "ChainViewConfig",
    "Prover",
    "Recorder",
    "RpcService",
    "Transaction",
    "TransactionResult",
    "Upstreams",
    "ValidationService",
    "method_allowed",
    "now_iso",
    "parse_address",
    "parse_block_ref",
    "parse_checkpoint",
    "parse_tx_hash",
    "to_checksum_address",
]
