"""The subscription hub's own logic: log matching, fan-out, limits, cleanup, and the
logs of a block whose receipts cannot be proven (the OP-stack-shaped chain of
tests/support/rollup.py). (With anvil's blocks and real sockets:
tests/integration/api/test_websocket.py.)"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from bizra_node.jsonrpc import Call, RpcError, RpcLimits
from bizra_node.validation import (
    LogMatcher,
    ProvenLogs,
    SubscriptionHub,
)
from bizra_node.validation.prover import Prover
from tests.support.rollup import Chain, Rollup, arbitrum_block, rollup_pool

LOG = {"address": "0xAbC0000000000000000000000000000000000001",
       "topics": ["0x" + "aa" * 32, "0x" + "bb" * 32]}


@pytest.mark.parametrize(("criteria", "match"), [
    ({}, True),
    ({"address": "0xabc0000000000000000000000000000000000001"}, True),
    ({"address": ["0x0", "0xABC0000000000000000000000000000000000001"]}, True),
    ({"address": "0x0"}, False),
    ({"topics": ["0x" + "AA" * 32]}, True),
    ({"topics": [None, "0x" + "bb" * 32]}, True),
    ({"topics": [None, ["0x1", "0x" + "bb" * 32]]}, True),
    ({"topics": [None, None, "0x" + "cc" * 32]}, False),
    ({"topics": ["0x" + "bb" * 32]}, False),
])
def test_log_matcher(criteria: dict[str, Any], match: bool) -> None:
    assert LogMatcher(criteria).matches(LOG) is match


@pytest.mark.parametrize("criteria", [{"topics": "x"}, {"address": 5},
                                      {"topics": [None] * 5}, {"topics": [[1]]}])
def test_bad_criteria(criteria: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        LogMatcher(criteria)


class Client:
    def __init__(self, room: int = 100) -> None:
        self.got: list[Any] = []
        self.room = room

    def push(self, message: str) -> bool:
        if len(self.got) >= self.room:
            return False
        self.got.append(orjson.loads(message))
        return True


class NoUpstream:
    async def batch(self, calls: list[Call]) -> list[Any]:
        return [RpcError(-32603, "none")] * len(calls)


async def test_heads_reach_active_subscriptions_only() -> None:
    hub = SubscriptionHub(NoUpstream(), limits=RpcLimits(ws_subscriptions=2))
    a, b = Client(), Client()
    sub_a = await hub.subscribe(a, ["newHeads"])
    sub_b = await hub.subscribe(b, ["newHeads"])
    assert isinstance(sub_a, str) and isinstance(sub_b, str)
    hub.activate(sub_a)
    hub.on_head({"number": "0x1", "hash": "0x01"})
    assert [m["params"] for m in a.got] == [{"subscription": sub_a,
                                            "result": {"number": "0x1", "hash": "0x01"}}]
    assert b.got == []  # its id has not been sent yet
    assert await hub.subscribe(a, ["newHeads"]) != sub_a
    too_many = await hub.subscribe(a, ["newHeads"])
    assert isinstance(too_many, RpcError) and too_many.code == -32005
    assert not await hub.unsubscribe(b, sub_a)  # not b's
    await hub.drop(a)
    assert hub.clients == 1 and hub.counts()["newHeads"] == 0
    refused = await hub.subscribe(b, ["newPendingTransactions"])
    assert isinstance(refused, RpcError) and refused.code == -32601  # no source
    await hub.close()


async def test_logs_subscriptions_over_such_a_block_get_the_upstreams_logs(
        anvil_chain: Chain) -> None:
    """A logs subscription's block whose receipts cannot be proven: the upstream's logs
    of that block, not none."""
    block, receipts = arbitrum_block(anvil_chain)
    log = {"address": "0x" + "11" * 20, "topics": [], "data": "0x", "logIndex": "0x0",
           "blockHash": block["hash"], "transactionHash": receipts[0]["transactionHash"]}
    receipts[0]["logs"] = [log]
    async with rollup_pool(Rollup(block, receipts)) as (pool, view):
        hub = SubscriptionHub(pool, logs=ProvenLogs(pool, view, Prover(pool, view),
                                                    max_range=1000))
        got = await hub._block_logs(block["hash"])
    assert got == [log]
