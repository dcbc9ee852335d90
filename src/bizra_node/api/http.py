"""Interface-neutral request and response: the ASGI and RSGI adapters translate."""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from ..security import Policy
    from .routing import Route

__all__ = ["UNPARSED", "Request", "Response", "new_request_id", "pick_request_id"]

_SAFE_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")

HeaderGetter = Callable[[str], "str | None"]


_ID_PREFIX = os.urandom(6).hex()
_ID_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big"))


def _reseed() -> None:
    """A forked worker must not repeat its parent's (or a sibling's) ids."""
    global _ID_PREFIX, _ID_COUNTER
    _ID_PREFIX = os.urandom(6).hex()
    _ID_COUNTER = itertools.count(int.from_bytes(os.urandom(3), "big"))


os.register_at_fork(after_in_child=_reseed)


def new_request_id() -> str:
    """24 hex digits, unique per process and across processes: a random per-process
    prefix and a counter (ids need to be unique, not secret; this costs a third of
    ``os.urandom(12).hex()``, a system call per request)."""
    return f"{_ID_PREFIX}{next(_ID_COUNTER) & 0xFFFFFFFFFFFF:012x}"


def pick_request_id(caller: str | None) -> str:
    """Echo the caller's X-Request-Id when it is safe to splice into JSON and logs."""
    if caller and _SAFE_ID.fullmatch(caller):
        return caller
    return new_request_id()


class _Unparsed:
    __slots__ = ()

    def __repr__(self) -> str:
        return "UNPARSED"


UNPARSED: Final = _Unparsed()
"""``Request.input`` before the route's parse ran."""


@dataclass(slots=True)
class Request:
    method: str
    path: str
    query: str
    header: HeaderGetter
    """Looks up a header by lower-case name."""
    body: bytes
    request_id: str
    param: str = ""
    """The path segment after a prefix route (a hash, number or address)."""
    route: Route | None = None
    """Set by the dispatcher when the request is matched (once)."""
    input: object = UNPARSED
    """What the route's ``parse`` made of the request (the route's request struct, e.g.
    api/inputs.py TransactionRequest, or /rpc's parsed document); UNPARSED until then.
    Its handlers read it as the type their route's ``parse`` returns."""
    client: str = ""
    """The peer as ``host:port`` (``[v6]:port`` or ``v6:port``), as the server gave it;
    the guard takes the host when it needs one (not on every request)."""
    has_header: Callable[[str], bool] | None = None
    """Whether a header (lower-case name) was sent, readable or not: granian's ``get``
    answers None for a value that is not visible ASCII (the guard refuses such a
    credential rather than taking the caller for anonymous)."""
    header_all: Callable[[str], list[str]] | None = None
    """Every line of a header (lower-case name), in the order received; None: only
    ``header`` (the first line) is known. Read where repeated lines matter
    (X-Forwarded-For), never on the hit path otherwise."""
    admitted: bool = False
    """The guard let it through (on the synchronous lane: not checked again)."""
    caller: str = ""
    """Who the rate limit counts this request against (set by the guard)."""
    policy: Policy | None = None
    """The caller's rate-limit policy (set by the guard)."""
    cost: int = 1
    """Units of the caller's allowance this request spends (set by the guard)."""


@dataclass(slots=True)
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
