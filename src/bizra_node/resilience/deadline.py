"""Deadlines: one absolute point in time per client request.

A :class:`Deadline` is set once (at the API edge, from ``REQUEST_DEADLINE``) and
every layer below asks it how much time is left, so retries, failover and hedges
never outlive the request. It travels in a context variable (``deadline_scope``),
which asyncio copies into the tasks a request spawns.

Timeouts use ``asyncio.timeout_at``: its timer handle is cancelled when the block
exits, so nothing is left scheduled behind a call that finished early (a timeout raced
against the call with ``Promise.race``, as in the system this node replaces, leaves its
timer behind: a leak under load).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token
from typing import TypeVar

__all__ = ["Deadline", "current_deadline", "deadline_scope", "enter_deadline", "exit_deadline",
           "with_timeout"]

T = TypeVar("T")

_current: ContextVar[Deadline | None] = ContextVar("bizra_deadline", default=None)


class Deadline:
    """An absolute time on the event loop's clock (``time.monotonic``)."""

    __slots__ = ("at",)

    def __init__(self, at: float) -> None:
        self.at = at

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        return cls(time.monotonic() + seconds)

    def remaining(self) -> float:
        return max(self.at - time.monotonic(), 0.0)

    @property
    def expired(self) -> bool:
        return time.monotonic() >= self.at

    def cap(self, seconds: float | None) -> float:
        """``seconds`` bounded by what is left (what is left when ``seconds`` is None)."""
        left = self.remaining()
        return left if seconds is None else min(seconds, left)

    def earliest(self, other: Deadline | None) -> Deadline:
        return self if other is None or self.at <= other.at else other

    def scope(self) -> asyncio.Timeout:
        """``async with deadline.scope():`` raises TimeoutError at the deadline."""
        return asyncio.timeout_at(self.at)

    def __repr__(self) -> str:
        return f"Deadline(in {self.at - time.monotonic():.3f}s)"


def current_deadline() -> Deadline | None:
    """The deadline of the request being served, if the API edge set one."""
    return _current.get()


@contextmanager
def deadline_scope(deadline: Deadline | float | None) -> Iterator[Deadline | None]:
    """Make ``deadline`` (or one ``deadline`` seconds from now) the current one for
    the enclosed code; an enclosing, earlier deadline wins. None changes nothing."""
    if deadline is None:
        yield _current.get()
        return
    new = Deadline.after(deadline) if isinstance(deadline, (int, float)) else deadline
    effective = new.earliest(_current.get())
    token = _current.set(effective)
    try:
        yield effective
    finally:
        _current.reset(token)


def enter_deadline(seconds: float) -> Token[Deadline | None]:
    """``deadline_scope(seconds)`` without the context manager, for the request path
    (a generator-based context manager costs about a microsecond per request):
    ``token = enter_deadline(s)`` then ``exit_deadline(token)`` in a ``finally``."""
    new = Deadline(time.monotonic() + seconds)
    outer = _current.get()
    return _current.set(new if outer is None or new.at <= outer.at else outer)


def exit_deadline(token: Token[Deadline | None]) -> None:
    _current.reset(token)


async def with_timeout(aw: Awaitable[T], seconds: float | None) -> T:
    """Await ``aw`` for at most ``seconds`` (TimeoutError after), leaving no timer
    or task behind whichever way it ends."""
    async with asyncio.timeout(seconds):
        return await aw
