"""JSON-RPC 2.0 codec for upstream calls: build requests, match answers to calls."""

from __future__ import annotations

from typing import Any

import orjson

from ..errors import UpstreamError
from ..jsonrpc import Call, RpcError

__all__ = ["decode_batch", "decode_single", "encode_batch", "encode_single"]


def encode_single(call: Call, req_id: int = 1) -> bytes:
    return orjson.dumps(
        {"jsonrpc": "2.0", "id": req_id, "method": call.method, "params": list(call.params)}
    )


def encode_batch(calls: list[Call]) -> bytes:
    return orjson.dumps(
        [
            {"jsonrpc": "2.0", "id": i, "method": c.method, "params": list(c.params)}
            for i, c in enumerate(calls)
        ]
    )


def _malformed(upstream: str, why: str) -> UpstreamError:
    return UpstreamError(f"malformed upstream answer: {why}", kind="malformed", upstream=upstream)


def _result_of(item: Any, upstream: str) -> Any:
    if not isinstance(item, dict):
        raise _malformed(upstream, "answer item is not an object")
    if "error" in item and item["error"] is not None:
        err = item["error"]
        if not isinstance(err, dict):
            raise _malformed(upstream, "error is not an object")
        code = err.get("code")
        return RpcError(
            code if isinstance(code, int) else -32603,
            str(err.get("message", "")),
            err.get("data"),
        )
    if "result" not in item:
        raise _malformed(upstream, "neither result nor error")
    return item["result"]


def decode_single(body: bytes, upstream: str) -> Any:
    """Return the result, or an :class:`RpcError`; raise UpstreamError when malformed."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _malformed(upstream, "not JSON") from None
    return _result_of(doc, upstream)


def decode_batch(body: bytes, count: int, upstream: str) -> list[Any]:
    """Results in call order. Raises UpstreamError(kind='batch_refused') when the
    upstream answered a batch with a single error object (it does not do batches)."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError:
        raise _malformed(upstream, "not JSON") from None
    if isinstance(doc, dict):
        raise UpstreamError(
            "upstream refused a JSON-RPC batch", kind="batch_refused", upstream=upstream
        )
    if not isinstance(doc, list) or len(doc) != count:
        raise _malformed(upstream, f"batch answer has {len(doc) if isinstance(doc, list) else 'no'} "
                         f"items for {count} calls")
    out: list[Any] = [None] * count
    seen = 0
    for item in doc:
        if not isinstance(item, dict):
            raise _malformed(upstream, "batch item is not an object")
        idx = item.get("id")
        if not isinstance(idx, int) or not 0 <= idx < count:
            raise _malformed(upstream, "batch item id does not match a call")
        out[idx] = _result_of(item, upstream)
        seen |= 1 << idx
    if seen != (1 << count) - 1:
        raise _malformed(upstream, "batch answer misses a call")
    return out
