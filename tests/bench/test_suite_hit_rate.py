"""The suite's hit rate counts the validations a node computed, from its own metrics
(summed over workers), not calls at the upstream."""

from __future__ import annotations

import time
import urllib.request

import orjson

from bizra_bench.scenarios.suite import computed_validations
from bizra_bench.stack import start_node
from tests.conftest import Devnet


def _validate(base: str, kind: str, value: str) -> None:
    field = "txHash" if kind == "transaction" else "address"
    body = orjson.dumps({field: value})
    req = urllib.request.Request(f"{base}/api/v1/validate/{kind}", data=body,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def test_repeated_requests_are_not_counted_as_computed(devnet: Devnet) -> None:
    server, _ = start_node(devnet.url, workers=2, extra={"METRICS_FLUSH_INTERVAL": "0.2"})
    try:
        start = computed_validations(server.base)
        m = devnet.manifest
        for _ in range(5):
            _validate(server.base, "transaction", m.legacy_tx)
            _validate(server.base, "address", m.accounts[1])
        time.sleep(0.6)  # every worker's last flush
        # each key is computed once per worker at most (each worker has its own L1)
        assert 2 <= computed_validations(server.base) - start <= 4
    finally:
        server.stop()
