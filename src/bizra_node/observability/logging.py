"""Structured JSON logs on stdlib logging: one line per event, secrets redacted.

- Every line emitted while a request is handled carries its ``request_id``: the
  dispatcher sets :data:`request_id_var` (a contextvar, so concurrent requests on one
  event loop never mix) and a handler filter stamps it on each record.
- Secrets never reach a line: ``user:password@`` in URLs, API keys in query strings
  (``?apikey=…``, ``&token=…``) and key-like path segments of provider URLs
  (``/v3/<32 hex>``) are replaced with ``***`` in the message, every string field and
  tracebacks.
- Upstream failures are logged by :class:`UpstreamErrorLog` with the upstream's name
  and the JSON-RPC method, throttled per (upstream, method, kind) so a dead upstream
  under load writes one line per second with a count, not one per request. The
  dispatcher throttles its 5xx lines the same way (:class:`Throttle`).
"""

from __future__ import annotations

import logging
import re
import sys
import time
from collections.abc import Callable, Hashable, Iterable
from contextvars import ContextVar
from typing import Any

import orjson

from ..errors import UpstreamError

__all__ = [
    "JsonFormatter",
    "RequestIdFilter",
    "Throttle",
    "UpstreamErrorLog",
    "configure_logging",
    "redact",
    "request_id_var",
]

request_id_var: ContextVar[str | None] = ContextVar("bizra_request_id", default=None)
"""The id of the request being handled in this context (None outside requests)."""

_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)[^/@\s:]*(:[^/@\s]*)?@", re.I)
_SECRET_PARAMS = re.compile(
    r"(?P<name>[?&;](?:api[_-]?key|apikey|key|token|access[_-]?token|auth|secret|password|"
    r"passwd|pwd|signature|sig)=)[^&#\s\"']+", re.I)
# A long random-looking path segment in a URL (Infura /v3/<id>, Alchemy /v2/<key>);
# 0x-prefixed hex (hashes, addresses) is data, not a secret, and is kept.
_PATH_KEY = re.compile(r"(?P<head>://[^/\s\"']+(?:/[^/\s\"'?#]*)*?/)(?!0x)[A-Za-z0-9_-]{20,}(?=[/?#\s\"']|$)")
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()) | {
    "message", "asctime", "taskName"}


def redact(text: str) -> str:
    """Remove credentials from URLs in a string: user:password@, secret query
    parameters and key-like path segments."""
    if "=" in text:
        text = _SECRET_PARAMS.sub(r"\g<name>***", text)
    if "://" in text:
        text = _URL_CREDENTIALS.sub(r"\g<scheme>***@", text)
        text = _PATH_KEY.sub(r"\g<head>***", text)
    return text


def _clean(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class RequestIdFilter(logging.Filter):
    """Stamps the current request id on each record that has none."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            rid = request_id_var.get()
            if rid is not None:
                record.request_id = rid
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": redact(record.getMessage()),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = _clean(value)
        if record.exc_info:
            out["exc"] = redact(self.formatException(record.exc_info))
        return orjson.dumps(out, default=lambda v: redact(str(v))).decode()


class ConsoleFormatter(logging.Formatter):
    """Human-readable lines for a terminal, redacted like the JSON ones."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None)
        return redact(f"{line} [request_id={rid}]" if rid else line)


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        formatter: logging.Formatter = JsonFormatter()
        formatter.converter = time.gmtime  # type: ignore[assignment]
    else:
        formatter = ConsoleFormatter()
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


class Throttle:
    """At most one line per key per ``interval`` seconds: :meth:`allow` says whether to
    log now and how many lines for the key were held back since the last one."""

    def __init__(self, interval: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def allow(self, key: Hashable) -> int | None:
        """None to stay quiet, else the number of suppressed lines to report."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return None
        if len(self._last) > 1024:  # keys are bounded (codes, upstreams x methods); be safe
            self._last.clear()
        self._last[key] = now
        return self._suppressed.pop(key, 0)


class UpstreamErrorLog:
    """Logs upstream failures with the upstream's name and the method, at most one
    line per (upstream, method, kind) per ``interval`` seconds; the next line after a
    quiet spell says how many similar failures it stands for (``suppressed``)."""

    def __init__(self, logger: logging.Logger, interval: float = 1.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._log = logger
        self._throttle = Throttle(interval, clock)

    @staticmethod
    def method_of(methods: Iterable[str]) -> str:
        """One method name, or ``batch[a,b]`` for a JSON-RPC batch of several."""
        names = sorted(set(methods))
        if len(names) == 1:
            return names[0]
        return "batch[" + ",".join(names) + "]"

    def record(self, exc: UpstreamError, methods: Iterable[str]) -> bool:
        """Log ``exc`` unless a line for the same failure went out recently; True when logged."""
        method = self.method_of(methods)
        suppressed = self._throttle.allow((exc.upstream, method, exc.kind))
        if suppressed is None:
            return False
        self._log.warning("upstream call failed: %s", exc.message, extra={
            "upstream": exc.upstream, "method": method, "kind": exc.kind,
            "retryable": exc.retryable, "rpc_code": exc.rpc_code, "suppressed": suppressed})
        return True
