"""Routes, each described once, and the lookups compiled from them.

A :class:`Route` says everything about one path (as Starlette's ``Route`` does): the
path (``/api/v1/blocks/{number}`` ends in one parameter segment), its methods, the
handler of the full path, and optionally:

- ``parse``: turns the request into the handler's input (content type, body decoding,
  network check) once, raising ValidationError; both lanes use what it made;
- ``hit``: the synchronous lane: answers from memory (an L1 hit) or declines with
  None, never awaiting and never reporting errors;
- ``max_body``: the largest body this route reads (None: the node's default);
- ``scope``: what an API key must allow to use it (validate, rpc, history, metrics);
  None: no key check and no rate limit (/health, /ready, /openapi.json);
- ``cost``: the units of the caller's rate limit one request spends: a number, or a
  function of the request (/rpc: by JSON-RPC method);
- ``render_error``: how a refusal before the handler (the guard's, or a body over
  ``max_body``) and the handler's errors are written (/rpc answers JSON-RPC error
  objects); None: the envelope.

:class:`Router` compiles the list into what a request is matched with: one dict
lookup for exact paths, then the parameter routes by prefix. A path that exists with
other methods matches a "method not allowed" route; anything else the "not found"
route (405 with ``Allow``); a parameter route's prefix followed by more than one
segment, a "bad parameter" route (400); anything else the "not found" route (404).
Every route, real or not, has a bounded metric label (its template).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..apikeys import SCOPES
from ..errors import MethodNotAllowed, NodeError, NotFoundError, ValidationError
from .http import Request, Response

__all__ = ["UNMATCHED", "Cost", "ErrorRenderer", "FastHandler", "Handler", "Parse", "Route",
           "Router"]

Handler = Callable[[Request], Awaitable[Response]]
Cost = Callable[[Request], int]
"""The units a request spends (Route.cost); may set ``req.input`` (its parse)."""
ErrorRenderer = Callable[[NodeError, str], Response]
"""(error, request id) -> the answer (Route.render_error)."""
FastHandler = Callable[[Request], "Response | None"]
"""Answers from memory or declines with None (see Dispatcher.answer_now)."""
Parse = Callable[[Request], Any]
"""Makes the handler's input from the request (stored in ``req.input``); raises
ValidationError for bad input."""

UNMATCHED = "unmatched"
"""The route label of requests that matched no route (bounded: never the raw path)."""


@dataclass(frozen=True, slots=True)
class Route:
    path: str
    methods: tuple[str, ...]
    handler: Handler
    hit: FastHandler | None = None
    parse: Parse | None = None
    max_body: int | None = None
    scope: str | None = None
    cost: int | Cost = 1
    render_error: ErrorRenderer | None = None
    label: str = field(default="")
    """The metric label (the path template); set from ``path``."""
    prefix: str = field(default="")
    """For a path ending in a ``{parameter}`` segment: the path up to it."""
    ok_key: tuple[str, str] = field(default=("", ""))
    """(label, "200"): the metric key of most answers, made once."""

    def __post_init__(self) -> None:
        path = self.path
        if self.scope is not None and self.scope not in SCOPES:
            raise ValueError(f"unknown scope {self.scope!r} for {path}; known: {SCOPES}")
        if not path.startswith("/"):
            raise ValueError(f"route path must start with '/': {path!r}")
        cut = path.rfind("/") + 1
        last = path[cut:]
        if last.startswith("{") and last.endswith("}"):
            object.__setattr__(self, "prefix", path[:cut])
            # one label for every parameter route: dashboards and alerts use "{param}"
            object.__setattr__(self, "label", path[:cut] + "{param}")
        elif "{" in path:
            raise ValueError(f"only the last segment may be a parameter: {path!r}")
        else:
            object.__setattr__(self, "label", path)
        object.__setattr__(self, "ok_key", (self.label, "200"))


async def _not_found(req: Request) -> Response:
    raise NotFoundError(f"no route for {req.method} {req.path[:200]}")


async def _bad_parameter(req: Request) -> Response:
    raise ValidationError("the path parameter must be one segment",
                          {"reason": "bad_parameter", "path": req.path[:200]})


def _labelled(route: Route, label: str) -> Route:
    object.__setattr__(route, "label", label)
    object.__setattr__(route, "ok_key", (label, "200"))
    return route


_NOT_FOUND = _labelled(Route("/", ("*",), _not_found), UNMATCHED)


def _not_allowed_route(label: str, allowed: tuple[str, ...]) -> Route:
    async def not_allowed(req: Request) -> Response:
        raise MethodNotAllowed(req.method, allowed)

    return _labelled(Route("/", ("*",), not_allowed), label)


class Router:
    """Matches a request to its route: exact paths by one dict lookup, then the
    parameter routes by prefix (the parameter is one non-empty segment)."""

    __slots__ = ("_bad_parameter", "_exact", "_methods", "_not_allowed", "_not_found",
                 "_prefixes", "routes")

    def __init__(self, routes: Iterable[Route], not_found: Handler | None = None) -> None:
        self.routes: list[Route] = []
        self._not_found = (_NOT_FOUND if not_found is None
                           else _labelled(Route("/", ("*",), not_found), UNMATCHED))
        """What a path no route has is answered by (a 404 unless told otherwise)."""
        self._exact: dict[tuple[str, str], Route] = {}
        self._prefixes: dict[tuple[str, str], Route] = {}
        """(method, prefix) -> parameter route."""
        self._not_allowed: dict[str, Route] = {}
        """path or prefix -> the route answering its other methods."""
        self._methods: dict[str, tuple[str, ...]] = {}
        """path or prefix -> the methods it has (the 405's Allow)."""
        self._bad_parameter: dict[str, Route] = {}
        """prefix -> the route answering a parameter of several segments."""
        for route in routes:
            self.add(route)

    def add(self, route: Route) -> None:
        for method in route.methods:
            if route.prefix:
                self._prefixes[(method, route.prefix)] = route
            else:
                self._exact[(method, route.path)] = route
        key = route.prefix or route.path
        methods = tuple(sorted({*self._methods.get(key, ()), *route.methods}))
        self._methods[key] = methods
        self._not_allowed[key] = _not_allowed_route(route.label, methods)
        if route.prefix:
            self._bad_parameter[key] = _labelled(Route("/", ("*",), _bad_parameter),
                                                 route.label)
        self.routes.append(route)

    def match(self, req: Request) -> Route:
        """The route for ``req`` (sets ``req.param`` for parameter routes)."""
        method, path = req.method, req.path
        route = self._exact.get((method, path))
        if route is not None:
            return route
        if len(path) > 1 and path.endswith("/"):
            path = path.rstrip("/")
            route = self._exact.get((method, path))
            if route is not None:
                return route
        cut = path.rfind("/") + 1
        if cut < len(path):
            route = self._prefixes.get((method, path[:cut]))
            if route is not None:
                req.param = path[cut:]
                return route
        other = self._not_allowed.get(path)
        if other is not None:
            return other
        if cut < len(path):
            other = self._not_allowed.get(path[:cut])  # a parameter route, another method
            if other is not None:
                return other
        for prefix, bad in self._bad_parameter.items():  # /prefix/a/b
            if path.startswith(prefix):
                return bad if method in self._methods[prefix] else self._not_allowed[prefix]
        return self._not_found
