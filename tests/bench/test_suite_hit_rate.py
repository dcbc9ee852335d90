"""The suite's hit rate counts the validations a node computed and the answers it
looked up, both from its own metrics (summed over workers), not calls at the upstream
nor the client's request count: two counts of the same requests, so the rate stays
within 0-1."""

from __future__ import annotations

import time
import urllib.request

import orjson

from bizra_bench.scenarios.suite import computed_validations, node_counts
from bizra_bench.stack import start_node
from bizra_bench.validity import hit_rate
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
        counts = node_counts(server.base)
        m = devnet.manifest
        for _ in range(5):
            _validate(server.base, "transaction", m.legacy_tx)
            _validate(server.base, "address", m.accounts[1])
        # every worker's last flush (METRICS_FLUSH_INTERVAL 0.2 s): one lookup per answer
        deadline = time.monotonic() + 20
        while (node_counts(server.base)["lookups"] - counts["lookups"] < 10
               and time.monotonic() < deadline):
            time.sleep(0.1)
        # each key is computed once per worker at most (each worker has its own L1)
        assert 2 <= computed_validations(server.base) - start <= 4
        after = node_counts(server.base)
        lookups = after["lookups"] - counts["lookups"]
        assert lookups == 10
        hr = hit_rate(10, lookups, after["computed"] - counts["computed"])
        assert hr["failure"] is None and 0.6 <= hr["hit_rate"] <= 0.8
    finally:
        server.stop()
