"""The response envelope, built by splicing bytes.

Answers are encoded once (and cached as bytes by the cache layer); only the request
id differs per request, so it is spliced in rather than re-encoding the whole answer.
Request ids are checked by ``pick_request_id`` to be JSON-safe before they get here.
"""

from __future__ import annotations

from typing import Any

import msgspec

from ..errors import NodeError

__all__ = ["error_body", "ok_body", "ok_value"]

_encode = msgspec.json.Encoder().encode


def ok_body(data: bytes, request_id: str) -> bytes:
    return b"".join((b'{"success":true,"data":', data, b',"meta":{"requestId":"',
                     request_id.encode("ascii"), b'"}}'))


def ok_value(value: Any, request_id: str) -> bytes:
    return ok_body(_encode(value), request_id)


def error_body(error: NodeError, request_id: str) -> bytes:
    return b"".join((b'{"success":false,"error":', _encode(error.to_dict()),
                     b',"meta":{"requestId":"', request_id.encode("ascii"), b'"}}'))
