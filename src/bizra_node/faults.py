"""Whose fault is an upstream's JSON-RPC error: the caller's, or the upstream's.

One table decides, for every layer (the pool's retries and breakers, its logs, the
REST routes' status). The rule:

- ``CALLER``: the call itself fails wherever it runs -- execution reverted, out of
  gas, an invalid opcode, nonce too low, insufficient funds, invalid params,
  replacement underpriced, already known, intrinsic gas too low, no such method...
  It goes back to the caller as the upstream gave it (code, message, data), is never
  retried, and never counts against the upstream or its circuit breaker.
- ``UPSTREAM``: the upstream is in trouble -- rate limited, overloaded, an internal
  error, a timeout. It counts against that upstream (breaker, metrics, a throttled
  log line) and the call is asked of another.
- ``MISSING``: the upstream does not have the block or the state asked for (header
  not found, missing trie node, pruned history). Asked of another upstream when some
  upstream has shown that block (``chain.methods.retryable``); a block above every
  known head is the caller's. It does not open the breaker: a node that lags or
  prunes is not sick (lag is what the head tracker is for), and a caller asking for
  old state must not take a pruned upstream away from everyone.

Clients word these differently (geth, Erigon, Nethermind, Besu, anvil/revm), and some
use -32603 "internal error" for a caller's halt (anvil: ``EVM error OutOfGas``), so
the message decides before the code, as eRPC's error normalisation does: the rows
below are tried in order, the first whose code (if it names codes) and one of whose
phrases (if it names phrases) match wins. tests/unit/test_faults.py holds each
client's real wording.
"""

from __future__ import annotations

from enum import Enum

__all__ = ["FAULT_TABLE", "Fault", "classify"]


class Fault(Enum):
    CALLER = "caller"
    UPSTREAM = "upstream"
    MISSING = "missing"


_ANY: frozenset[int] = frozenset()

FAULT_TABLE: tuple[tuple[frozenset[int], tuple[str, ...], Fault], ...] = (
    # A revert first, whatever else its message says: a revert reason is the
    # contract's text ("execution reverted: rate limited, try again"), so the caller's.
    (frozenset({3}), (), Fault.CALLER),
    (_ANY, ("execution reverted", "reverted", "vm execution error", "vm exception",
            "evm error"), Fault.CALLER),
    # The upstream's own trouble, whatever the code (phrases are lower case).
    (_ANY, ("rate limit", "too many requests", "request limit reached", "exceeded the quota",
            "reached the quota", "timeout", "timed out", "try again", "temporarily",
            "is busy", "overloaded", "under too much load", "capacity", "no server available",
            "service unavailable", "pool is full", "upstream", "shutting down"),
     Fault.UPSTREAM),
    # It lacks the block or the state (lagging, pruned).
    (_ANY, ("header not found", "unknown block", "block not found", "could not find block",
            "missing trie node", "blockoutofrange", "block out of range",
            "beyond current head", "after last accepted block", "not yet available",
            "pruned", "pruning", "historical state", "no state available",
            "world state unavailable", "state is not available", "state not available",
            "requested data is not available", "trie does not", "greater than latest",
            "not currently canonical"), Fault.MISSING),
    (frozenset({-39001, 4444}), (), Fault.MISSING),  # "unknown block", "pruned history"
    # The call fails wherever it runs: execution, transaction, parameters.
    (_ANY, ("revert", "execution halted", "out of gas", "outofgas", "gas required exceeds",
            "opcode", "bad instruction", "badinstruction", "invalid_operation",
            "invalid operation", "invalid jump", "stack underflow", "stack overflow",
            "stack limit", "write protection", "static state change",
            "return data out of bounds", "max code size", "precompile",
            "nonce too low", "nonce too high", "nonce is too low", "oldnonce", "noncetoolow",
            "nonce has already been used", "insufficient funds", "insufficientfunds",
            "insufficient balance", "upfront cost exceeds", "underpriced", "already known",
            "alreadyknown", "known transaction", "already imported", "already in mempool",
            "already in the mempool", "intrinsic gas", "exceeds block gas limit",
            "gas limit exceeds", "fee cap", "feecap", "less than block base fee",
            "priority fee", "fee too low", "feetoolow", "below configured minimum",
            "exceeds the configured cap", "tx fee", "transaction type not supported",
            "invalid sender", "invalid signature", "chain id", "failed to decode", "rlp:",
            "oversized data", "invalid argument", "invalid param", "cannot unmarshal",
            "hex string", "invalid string length", "invalid type", "missing value",
            "does not exist/is not available", "method not found", "not supported",
            "unsupported", "filter not found"), Fault.CALLER),
    # No phrase matched: the code decides.
    (frozenset({-32603, -32005, -32002, -32016, -32017, 429, 500, 502, 503, 504}), (),
     Fault.UPSTREAM),
)
"""(codes, phrases, fault), tried in order. An empty ``codes`` matches any code; empty
``phrases`` match any message. Anything no row matches (-32000 with an unknown
message, -32602, -32601, 3, -32003 "transaction rejected", -32010, -32015...) is the
caller's: an error about the call is answered at once, and a wording we have never
seen must not be able to open a breaker for every client."""


def classify(code: int, message: str) -> Fault:
    """The fault of a JSON-RPC error ``(code, message)`` an upstream answered."""
    lower = message.lower()
    for codes, phrases, fault in FAULT_TABLE:
        if codes and code not in codes:
            continue
        if not phrases:
            return fault
        for phrase in phrases:
            if phrase in lower:
                return fault
    return Fault.CALLER
