"""HeadTracker: each upstream's head, and lag against the others."""

from __future__ import annotations

from bizra_node.chain.head import HeadTracker


def test_each_upstreams_latest_head_is_kept_even_when_it_goes_down() -> None:
    t = HeadTracker(lag_blocks=3)
    t.observe("a", 100)
    t.observe("b", 98)
    t.observe("a", 95)  # a reorg or a restarted node: the tracker says what a said
    t.observe("b", 101)
    assert t.heads == {"a": 95, "b": 101}
    assert t.best(["a", "b"]) == 101


def test_lag_is_measured_against_the_given_upstreams() -> None:
    t = HeadTracker(lag_blocks=3)
    t.observe("a", 100)
    t.observe("b", 97)
    t.observe("c", 96)
    best = t.best(["a", "b", "c"])
    assert best == 100
    assert not t.lagging("b", best)  # 3 behind: allowed
    assert t.lagging("c", best)  # 4 behind: skipped for 'latest'
    assert not t.lagging("unknown", best)
    # With 'a' out of service, the best is 97 and 'c' is in again.
    assert not t.lagging("c", t.best(["b", "c"]))
    assert t.best([]) == 0
