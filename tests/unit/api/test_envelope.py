from __future__ import annotations

import orjson

from bizra_node.api import error_body, ok_body, ok_parts
from bizra_node.api.http import pick_request_id
from bizra_node.errors import ValidationError


def test_ok_body_is_valid_json() -> None:
    doc = orjson.loads(ok_body(b'{"valid":true}', "req-1"))
    assert doc == {"success": True, "data": {"valid": True}, "meta": {"requestId": "req-1"}}


def test_error_body() -> None:
    doc = orjson.loads(error_body(ValidationError("bad", {"field": "x"}), "r"))
    assert doc["error"] == {"code": "VALIDATION_ERROR", "message": "bad",
                            "details": {"field": "x"}}


def test_request_ids() -> None:
    assert pick_request_id("abc-123") == "abc-123"
    for unsafe in ('a"b', "a\\b", "x" * 200, "", None, "a b"):
        rid = pick_request_id(unsafe)
        assert rid != unsafe and len(rid) == 24


def test_ok_parts_is_ok_body_of_the_joined_parts() -> None:
    parts = (b'{"valid":true,"n":', b"12", b"}")
    assert ok_parts(parts, "r-2") == ok_body(b"".join(parts), "r-2")
