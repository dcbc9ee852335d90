"""What the domain needs from the chain layer (a protocol: validation/ never imports
chain/), and the two helpers that turn upstream trouble into a 503 (a caller's error
into a 400)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from ..errors import CallRejected, IntegrityFailure, UpstreamUnavailable
from ..faults import Fault
from ..jsonrpc import Call, RpcError

__all__ = ["HeadVotes", "Upstreams", "Verify", "need", "unavailable"]

Verify = Callable[[list[Any], str], Awaitable[None]]
"""(answers in call order, the upstream that gave them) -> None; raises IntegrityFailure
when the answers fail a check (the pool then asks another upstream)."""


class Upstreams(Protocol):
    async def batch(self, calls: list[Call], *, verify: Verify | None = None) -> list[Any]: ...

    async def ask_each(self, calls: list[Call], timeout: float = 2.0
                       ) -> dict[str, list[Any] | None]: ...

    def blame(self, name: str, exc: IntegrityFailure) -> None:
        """Count a failed check against the upstream ``name`` (answers it gave to
        :meth:`ask_each`)."""
        ...


class HeadVotes(Protocol):
    """What the head rule reads of the pool (chain/head.py): the highest block a quorum
    of upstreams has each reached, and the quorum that takes now."""

    def vouched_head(self) -> int | None: ...

    @property
    def head_quorum(self) -> int: ...

    async def poll_heads(self) -> None: ...


def unavailable(reason: str, **details: Any) -> UpstreamUnavailable:
    return UpstreamUnavailable(f"upstream could not answer: {reason}", {"reason": reason, **details})


def need(value: Any, what: str) -> Any:
    """Raise for a JSON-RPC error object in place of a result: a 400 CALL_REJECTED when
    it is the caller's (faults.py), a 503 otherwise."""
    if isinstance(value, RpcError):
        details = {"reason": f"{what} failed", "rpcCode": value.code,
                   "rpcMessage": value.message[:200]}
        if value.fault is Fault.CALLER:
            raise CallRejected(f"the upstream refused {what}: {value.message[:200]}", details)
        raise unavailable(f"{what} failed", rpcCode=value.code, rpcMessage=value.message[:200])
    return value
