"""The state of one :meth:`UpstreamPool.batch` across its attempts (pool.py).

One record instead of a dozen loop variables: the answers so far, the calls still to
ask after an answer with transient errors, the upstreams tried and those banned for
this batch, the nulls being asked of one more upstream, the first proof withheld,
answers that passed the verify hook with retryable errors, and why the last attempt
failed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..errors import ProofUnavailable, UpstreamError
from ..jsonrpc import Call
from .health import UpstreamHealth
from .methods import idempotent, reads_head

__all__ = ["BatchAttempts"]


@dataclass(slots=True)
class BatchAttempts:
    calls: list[Call]
    proving: bool
    """The calls have a verify hook."""
    safe: bool = False
    """Every call is idempotent (resent after a failure)."""
    latest: bool = False
    """A call reads the head (upstreams behind the best one rank lower)."""
    results: list[Any] = field(default_factory=list)
    todo: list[int] | None = None
    """Indices still to ask for after an answer with transient JSON-RPC errors."""
    tried: list[UpstreamHealth] = field(default_factory=list)
    banned: list[UpstreamHealth] = field(default_factory=list)
    absent: dict[int, UpstreamHealth] = field(default_factory=dict)
    """Calls an upstream answered null, asked again of one more (pool._doubt)."""
    last: UpstreamError | None = None
    withheld: ProofUnavailable | None = None
    """The first upstream that withheld a proof (its answers), served only when no
    other upstream proves."""
    checked: tuple[str, list[Any]] | None = None
    """With a verify hook: answers that passed it but had retryable JSON-RPC errors."""
    why: str = "no upstream available"
    reason: str = ""
    """Why the last attempt did not end the batch (the retry metric's label)."""
    attempt: int = 0

    @classmethod
    def of(cls, calls: list[Call], *, proving: bool) -> BatchAttempts:
        return cls(calls, proving, safe=idempotent(calls), latest=reads_head(calls),
                   results=[None] * len(calls))

    def asking(self) -> list[Call]:
        """The calls the next attempt asks for."""
        return self.calls if self.todo is None else [self.calls[i] for i in self.todo]

    def indices(self) -> Iterable[int]:
        """The indices of :meth:`asking`'s calls."""
        return range(len(self.calls)) if self.todo is None else self.todo

    def fresh_results(self) -> None:
        """After a verified attempt that did not end the batch: the next upstream's
        answers are checked on their own, never merged with these."""
        self.results = [None] * len(self.calls)
