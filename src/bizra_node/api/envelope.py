"""The response envelope, built by splicing bytes.

Answers are encoded once (and cached as bytes by the cache layer); only the request
id differs per request, so it is spliced in rather than re-encoding the whole answer.
Request ids are checked by ``pick_request_id`` to be JSON-safe before they get here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..errors import NodeError

__all__ = ["bare_error_body", "error_body", "ok_body", "ok_parts", "ok_value"]

_encode = msgspec.json.Encoder().encode


_OK = b'{"success":true,"data":'
_META = b',"meta":{"requestId":"'
_END = b'"}}'


def ok_body(data: bytes, request_id: str) -> bytes:
    return b"".join((_OK, data, _META, request_id.encode("ascii"), _END))


def ok_parts(parts: tuple[bytes, ...], request_id: str) -> bytes:
    """``ok_body`` of the answer made of ``parts``, in one join (the hit path)."""
    return b"".join((_OK, *parts, _META, request_id.encode("ascii"), _END))


def ok_value(value: Any, request_id: str) -> bytes:
    return ok_body(_encode(value), request_id)


def error_body(error: NodeError, request_id: str) -> bytes:
    return b"".join((b'{"success":false,"error":', _encode(error.to_dict()),
                     b',"meta":{"requestId":"', request_id.encode("ascii"), b'"}}'))


def bare_error_body(code: str, request_id: str) -> bytes:
    """An error envelope made of constants: what is answered when ``error_body`` fails."""
    return b"".join((b'{"success":false,"error":{"code":', _encode(code),
                     b',"message":"the error could not be described"},"meta":{"requestId":"',
                     request_id.encode("ascii"), b'"}}'))
