"""need(): a JSON-RPC error in place of a result on a REST route."""

from __future__ import annotations

import pytest

from bizra_node.errors import CallRejected, UpstreamUnavailable
from bizra_node.jsonrpc import RpcError
from bizra_node.validation.upstreams import need


def test_a_callers_error_is_a_400_with_the_upstreams_code() -> None:
    """A REST route that meets the caller's error passes it on as a 400 with the
    upstream's code and message, never a 5xx."""
    with pytest.raises(CallRejected) as caller:
        need(RpcError(-32602, "invalid argument 0: hex string has length 3"), "eth_getProof")
    assert caller.value.http_status == 400
    assert caller.value.code == "CALL_REJECTED"
    assert caller.value.details == {
        "reason": "eth_getProof failed", "rpcCode": -32602,
        "rpcMessage": "invalid argument 0: hex string has length 3"}


@pytest.mark.parametrize("error", [RpcError(-32603, "internal error"),
                                   RpcError(-32000, "header not found")])
def test_the_upstreams_trouble_stays_a_503(error: RpcError) -> None:
    with pytest.raises(UpstreamUnavailable):
        need(error, "eth_getProof")


def test_a_result_passes() -> None:
    assert need("0x1", "eth_getCode") == "0x1"
