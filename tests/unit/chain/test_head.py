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


def test_the_vouched_head_is_the_highest_a_quorum_has_reached() -> None:
    t = HeadTracker(lag_blocks=3, quorum=2)
    assert t.vouched(["a", "b", "c"]) is None  # nothing known yet
    t.observe("a", 100)
    assert t.vouched(["a", "b", "c"]) is None  # one head: no quorum of two
    assert t.best(["a", "b", "c"]) == 100  # nothing to compare it with yet
    t.observe("b", 101)
    t.observe("liar", 1101)
    names = ["a", "b", "liar"]
    assert t.vouched(names) == 101
    assert t.best(names) == 101  # the liar is more than lag_blocks ahead: not believed
    t.observe("c", 103)
    assert t.best([*names, "c"]) == 103  # a few blocks ahead is believed
    assert HeadTracker(3, quorum=2).vouched(["alone"]) is None
    alone = HeadTracker(3, quorum=2)
    alone.observe("alone", 7)
    assert alone.vouched(["alone"]) == 7  # one upstream is its own quorum
