from __future__ import annotations

import orjson
import pytest

from bizra_node.chain.codec import decode_batch, decode_single, encode_batch
from bizra_node.errors import UpstreamError
from bizra_node.jsonrpc import Call, RpcError


def test_batch_round_trip_out_of_order() -> None:
    calls = [Call("eth_blockNumber"), Call("eth_chainId")]
    sent = orjson.loads(encode_batch(calls))
    assert [c["id"] for c in sent] == [0, 1]
    body = orjson.dumps([{"jsonrpc": "2.0", "id": 1, "result": "0x7a69"},
                         {"jsonrpc": "2.0", "id": 0, "error": {"code": -32000, "message": "x"}}])
    results = decode_batch(body, 2, "u")
    assert results[1] == "0x7a69"
    assert results[0] == RpcError(-32000, "x", None)


@pytest.mark.parametrize("body", [
    b"not json", b"[1, 2]", b'[{"id": 0, "result": 1}]',
    b'[{"id": 0, "result": 1}, {"id": 0, "result": 2}]',
    b'[{"id": 0, "result": 1}, {"id": 7, "result": 2}]',
    b'[{"id": 0}, {"id": 1, "result": 2}]',
])
def test_malformed_batches(body: bytes) -> None:
    with pytest.raises(UpstreamError) as err:
        decode_batch(body, 2, "u")
    assert err.value.kind == "malformed"


def test_batch_refused() -> None:
    with pytest.raises(UpstreamError) as err:
        decode_batch(b'{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"no"}}', 2, "u")
    assert err.value.kind == "batch_refused"


def test_single() -> None:
    assert decode_single(b'{"jsonrpc":"2.0","id":1,"result":null}', "u") is None
    assert decode_single(b'{"jsonrpc":"2.0","id":1,"error":{"code":-32005,"message":"x"}}',
                         "u") == RpcError(-32005, "x")
