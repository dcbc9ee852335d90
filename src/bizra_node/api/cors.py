"""CORS for the JSON-RPC endpoint, so a dapp in a browser can use the node.

Allowed origins are a setting (RPC_CORS_ORIGINS): ``*`` for any origin, else a list
of exact origins (``https://app.example``). A preflight (``OPTIONS /rpc``) from an
allowed origin is answered 204 with the methods and headers it may use. Every other
answer under /rpc to an allowed origin -- results, and refusals of every kind (401,
403, 429, 405, 404, 408, 503, 500), on the synchronous lane as on the full path --
carries ``Access-Control-Allow-Origin`` and ``Access-Control-Expose-Headers`` (the
fields a script needs to read: X-Verification, X-Request-Id, Retry-After, RateLimit,
RateLimit-Policy, WWW-Authenticate): without them a browser hands the page an opaque
network error instead of the -32005 it could back off on. The adapters add them
(``add``) where every answer goes out, so no answer can miss them. Without the setting
no CORS header is sent, and browsers keep pages of other origins out, as before.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .http import Request, Response

__all__ = ["EXPOSED", "CorsPolicy"]

_MAX_AGE = "600"
EXPOSED = ("x-verification, x-request-id, retry-after, ratelimit, ratelimit-policy, "
           "www-authenticate")
"""Response fields a page's script may read (Access-Control-Expose-Headers)."""
_PATH = "/rpc"
_HEADER_LIST = re.compile(r"[A-Za-z0-9_ ,-]{1,512}")


class CorsPolicy:
    __slots__ = ("_any", "_any_tail", "_origins", "_preflight_tail")

    def __init__(self, origins: Iterable[str]) -> None:
        listed = [o.strip().rstrip("/") for o in origins if o.strip()]
        self._any = "*" in listed
        self._origins = frozenset(o for o in listed if o != "*")
        self._preflight_tail = [("access-control-allow-methods", "POST, GET, OPTIONS"),
                                ("access-control-max-age", _MAX_AGE)]
        self._any_tail = (("access-control-allow-origin", "*"),
                          ("access-control-expose-headers", EXPOSED))

    @property
    def enabled(self) -> bool:
        return self._any or bool(self._origins)

    def allow_origin(self, origin: str | None) -> str | None:
        """The Access-Control-Allow-Origin value for a request from ``origin``."""
        if not origin:
            return None
        if self._any:
            return "*"
        return origin if origin in self._origins else None

    def headers(self, req: Request) -> list[tuple[str, str]]:
        """Headers for an answer to ``req`` (empty when its origin is not allowed)."""
        allowed = self.allow_origin(req.header("origin"))
        if allowed is None:
            return []
        if allowed == "*":
            return [("access-control-allow-origin", "*")]
        return [("access-control-allow-origin", allowed), ("vary", "Origin")]

    def add(self, req: Request, resp: Response) -> None:
        """Give an answer under /rpc to an allowed origin its CORS fields (not a
        preflight's: that route answers with its own)."""
        path = req.path
        if not path.startswith(_PATH) or (len(path) > 4 and path[4] != "/") \
                or req.method == "OPTIONS":
            return
        origin = req.header("origin")
        if not origin:
            return
        if self._any:
            resp.headers.extend(self._any_tail)
        elif origin in self._origins:
            resp.headers.extend((("access-control-allow-origin", origin), ("vary", "Origin"),
                                 ("access-control-expose-headers", EXPOSED)))

    def preflight(self, req: Request) -> Response:
        """The answer to ``OPTIONS``: 204 with the CORS headers for an allowed origin
        (the headers it asked for are allowed: JSON-RPC needs content-type and, with
        API keys, authorization), 204 without them otherwise."""
        headers = self.headers(req)
        if headers:
            wanted = req.header("access-control-request-headers")
            headers.extend(self._preflight_tail)
            headers.append(("access-control-allow-headers",
                            wanted if wanted and _HEADER_LIST.fullmatch(wanted)
                            else "content-type"))
        return Response(204, b"", headers=headers)
