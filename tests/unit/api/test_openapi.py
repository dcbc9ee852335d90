"""The OpenAPI document says what the node accepts: patterns for hashes, addresses and
block numbers, so that clients (and schemathesis) can generate valid input from it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from bizra_node.api import openapi_document

DOC = openapi_document()
HASH = "0x" + "ab" * 32
ADDRESS = "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"


def path_pattern(path: str) -> str:
    return str(DOC["paths"][path]["get"]["parameters"][0]["schema"]["pattern"])


def body_schema(name: str) -> dict[str, Any]:
    return dict(DOC["components"]["schemas"][name]["properties"])


@pytest.mark.parametrize(("path", "good", "bad"), [
    ("/api/v1/transactions/{hash}", [HASH, HASH.upper().replace("0X", "0x")],
     ["0x12", HASH + "0", "ab" * 32]),
    ("/api/v1/addresses/{address}", [ADDRESS, ADDRESS.lower()], ["0x12", ADDRESS + "0"]),
    ("/api/v1/blocks/{number}", ["0", "17", "9223372036854775807", "0x2a", "latest", "LATEST",
                                  "finalized", "safe"],
     ["-1", "\u0665", "\u00b2", "1.5", "pending", "0x", "9" * 20, "0x" + "f" * 17, " latest"]),
])
def test_path_parameters_have_patterns(path: str, good: list[str], bad: list[str]) -> None:
    pattern = re.compile(path_pattern(path))
    assert all(pattern.search(v) for v in good)
    assert not any(pattern.search(v) for v in bad)


def test_request_bodies_have_patterns() -> None:
    assert re.search(body_schema("TransactionRequest")["txHash"]["pattern"], HASH)
    assert re.search(body_schema("AddressRequest")["address"]["pattern"], ADDRESS)
    number = body_schema("BlockRequest")["blockNumber"]["anyOf"]
    assert {"type": "integer", "minimum": 0, "maximum": 2**63 - 1} in number
    assert any("pattern" in alt for alt in number)


def test_history_subject_has_a_pattern() -> None:
    params = {p["name"]: p for p in DOC["paths"]["/api/v1/validations"]["get"]["parameters"]}
    pattern = re.compile(params["subject"]["schema"]["pattern"])
    assert all(pattern.fullmatch(v) for v in (HASH, ADDRESS, "42"))
    assert not any(pattern.fullmatch(v) for v in ("\u00b2", "0x12", "abc"))


def test_a_405_is_documented() -> None:
    assert "405" in DOC["paths"]["/api/v1/validate/transaction"]["post"]["responses"]


def test_an_account_is_valid_true_false_or_null() -> None:
    """An account no upstream would prove is ``valid: null`` (never true), and with
    TRUST_REQUIRE=proven a 503 UNPROVEN: the document says both."""
    valid = body_schema("AccountResult")["valid"]
    assert {"type": "null"} in valid["anyOf"] and {"type": "boolean"} in valid["anyOf"]
    assert "null" in valid["description"] and "unverified" in valid["description"]
    for path, method in (("/api/v1/validate/address", "post"),
                         ("/api/v1/addresses/{address}", "get")):
        assert "UNPROVEN" in DOC["paths"][path][method]["responses"]["503"]["description"]
    assert body_schema("BlockResult")["valid"] == {"type": "boolean"}


def test_a_transaction_is_valid_null_when_its_type_cannot_be_proven() -> None:
    """A transaction type the node has no encoding for (Arbitrum's) is ``valid: null``,
    neither proven nor refused; the document says so."""
    valid = body_schema("TransactionResult")["valid"]
    assert {"type": "null"} in valid["anyOf"] and {"type": "boolean"} in valid["anyOf"]
    assert "null" in valid["description"] and "cannot encode" in valid["description"]
    unproven = DOC["components"]["schemas"]["Verification"]["properties"]["unproven"]
    assert {"type": "string"} in unproven["anyOf"]
