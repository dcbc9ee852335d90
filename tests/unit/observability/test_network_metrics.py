"""A node serving several networks: each network counts through a view that adds the
``network`` label to the network-scoped vectors; the node's own are shared."""

from __future__ import annotations

from bizra_node.observability import NodeMetrics
from bizra_node.observability.metrics import NETWORK_SCOPED


def test_each_network_counts_under_its_chain_id() -> None:
    metrics = NodeMetrics(networks=True)
    ten, main = metrics.for_network(10), metrics.for_network(1)
    ten.cache_hits.inc(("l1", "block"))
    ten.cache_hits.inc(("l1", "block"))
    main.cache_hits.inc(("l1", "block"))
    ten.breaker_state.set(2, ("10/http://a",))
    ten.upstream_latency.observe(0.01, ("10/http://a", "eth_call"))
    ten.upstream_retries.preset(("10/http://a", "timeout"))
    assert metrics.cache_hits.labelnames == ("tier", "kind", "network")
    assert dict(metrics.cache_hits.items()) == {("l1", "block", "10"): 2,
                                                ("l1", "block", "1"): 1}
    assert ten.cache_hits.get(("l1", "block")) == 2 and ten.cache_hits.total() == 2
    assert list(main.cache_hits.items()) == [(("l1", "block"), 1)]
    assert metrics.breaker_state.get(("10/http://a", "10")) == 2
    assert ten.upstream_latency.count(("10/http://a", "eth_call")) == 1
    assert ("10/http://a", "timeout", "10") in dict(metrics.upstream_retries.items())
    # the node's own metrics are the same objects, without a network
    assert ten.api_requests is metrics.api_requests and "network" not in \
        metrics.api_requests.labelnames


def test_one_network_has_no_network_label() -> None:
    metrics = NodeMetrics()
    assert all("network" not in getattr(metrics, name).labelnames for name in NETWORK_SCOPED)
