"""The domain: validating transactions, blocks and addresses, the chain view, and the
JSON-RPC endpoint (its caching and consistency rules, filters, subscriptions)."""

from __future__ import annotations

from .anchor import (
    INCIDENT_REASONS,
    AnchorConfig,
    ConsensusHeads,
    ExecutionClaim,
    parse_checkpoint,
)
from .answer import BLOCK_NOT_FOUND, TX_NOT_FOUND, Answer
from .chain_view import ChainView, ChainViewConfig
from .filters import FilterService, FilterState, RpcFailed
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
from .logs import ProvenLogs
from .prover import Prover
from .reorgs import Notice, ReorgHandler
from .rpc import RpcService
from .rpc_policy import FAST_METHODS, cacheable, method_allowed
from .rpc_proofs import PROVEN_METHODS, UNVERIFIED, RpcProofs, verification_header, weakest
from .service import Recorder, ValidationService, now_iso
from .shared_heads import HEAD, HeadsFileError, SharedHeads, create_heads_file, remove_heads_file
from .subscriptions import LogMatcher, PendingSource, Subscriber, SubscriptionHub
from .trust import Check
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
    "ADDRESS_PATTERN",
    "BLOCK_NOT_FOUND",
    "BLOCK_REF_PATTERN",
    "FAST_METHODS",
    "HASH_PATTERN",
    "HEAD",
    "INCIDENT_REASONS",
    "MAX_BLOCK_NUMBER",
    "PROVEN_METHODS",
    "TX_NOT_FOUND",
    "UINT_PATTERN",
    "UNVERIFIED",
    "Account",
    "AccountResult",
    "AnchorConfig",
    "Answer",
    "Block",
    "BlockResult",
    "ChainView",
    "ChainViewConfig",
    "Check",
    "ConsensusHeads",
    "ExecutionClaim",
    "FilterService",
    "FilterState",
    "HeadsFileError",
    "LogMatcher",
    "Notice",
    "PendingSource",
    "ProvenLogs",
    "Prover",
    "Recorder",
    "ReorgHandler",
    "RpcFailed",
    "RpcProofs",
    "RpcService",
    "SharedHeads",
    "Subscriber",
    "SubscriptionHub",
    "Transaction",
    "TransactionResult",
    "Upstreams",
    "ValidationService",
    "cacheable",
    "create_heads_file",
    "is_uint",
    "method_allowed",
    "now_iso",
    "parse_address",
    "parse_block_ref",
    "parse_checkpoint",
    "parse_tx_hash",
    "parse_uint",
    "remove_heads_file",
    "shown_value",
    "to_checksum_address",
    "verification_header",
    "weakest",
]
