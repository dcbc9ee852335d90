"""L1: LRU by entries and bytes, lazy TTL expiry, trim/clear for the memory guard."""

from __future__ import annotations

from bizra_node.cache import L1Cache
from bizra_node.observability import NodeMetrics


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(entries: int = 10, nbytes: int = 10_000) -> tuple[L1Cache[str, bytes], Clock, NodeMetrics]:
    clock, metrics = Clock(), NodeMetrics()
    return L1Cache(entries, nbytes, metrics=metrics, clock=clock), clock, metrics


def test_get_set_and_miss() -> None:
    l1, _, metrics = make()
    assert l1.get("a") is None
    assert l1.set("a", b"value", 5, 10.0)
    assert l1.get("a") == b"value"
    assert "a" in l1 and len(l1) == 1 and l1.nbytes == 5
    assert metrics.cache_entries.get(("l1",)) == 1
    assert metrics.cache_bytes.get(("l1",)) == 5


def test_replacing_a_key_keeps_byte_count_right() -> None:
    l1, _, _ = make()
    l1.set("a", b"x", 100, 10.0)
    l1.set("a", b"y", 30, 10.0)
    assert l1.nbytes == 30 and len(l1) == 1 and l1.get("a") == b"y"


def test_lazy_expiry_on_read() -> None:
    l1, clock, metrics = make()
    l1.set("a", b"v", 1, 5.0)
    clock.now += 4.9
    assert l1.get("a") == b"v"
    assert l1.ttl("a") is not None
    clock.now += 0.2
    assert "a" in l1  # nothing scans: still held until someone reads it
    assert l1.ttl("a") is None
    assert l1.get("a") is None
    assert "a" not in l1 and l1.nbytes == 0
    assert metrics.cache_evictions.get(("expired",)) == 1


def test_writes_sweep_a_few_expired_entries_at_the_old_end() -> None:
    l1, clock, _ = make(entries=100)
    l1.set("old1", b"v", 1, 1.0)
    l1.set("old2", b"v", 1, 1.0)
    clock.now += 2
    l1.set("new", b"v", 1, 10.0)
    assert "old1" not in l1 and "old2" not in l1 and len(l1) == 1


def test_lru_eviction_by_entries() -> None:
    l1, _, metrics = make(entries=3)
    for key in "abc":
        l1.set(key, key.encode(), 1, 10.0)
    l1.get("a")  # a is now the most recently used
    l1.set("d", b"d", 1, 10.0)
    assert "b" not in l1 and {"a", "c", "d"} <= {k for k in "abcd" if k in l1}
    assert metrics.cache_evictions.get(("size",)) == 1


def test_lru_eviction_by_bytes() -> None:
    l1, _, metrics = make(entries=100, nbytes=100)
    l1.set("a", b"", 40, 10.0)
    l1.set("b", b"", 40, 10.0)
    l1.set("c", b"", 40, 10.0)
    assert "a" not in l1 and l1.nbytes == 80
    assert metrics.cache_evictions.get(("bytes",)) == 1


def test_refuses_what_it_cannot_hold() -> None:
    l1, _, _ = make(entries=10, nbytes=100)
    assert not l1.set("big", b"", 101, 10.0)
    assert not l1.set("dead", b"", 1, 0.0)
    l1.set("a", b"", 1, 10.0)
    assert not l1.set("a", b"", 1, -1)  # an answer that may no longer be cached is dropped
    assert "a" not in l1
    disabled: L1Cache[str, bytes] = L1Cache(0, 100)
    assert not disabled.set("a", b"", 1, 10.0) and len(disabled) == 0


def test_trim_drops_least_recently_used_share() -> None:
    l1, _, metrics = make(entries=100)
    for i in range(10):
        l1.set(str(i), b"", 10, 10.0)
    l1.get("0")
    assert l1.trim(0.25) == 3  # ceil(2.5)
    assert "0" in l1 and "1" not in l1 and "3" not in l1 and "4" in l1
    assert l1.nbytes == 70
    assert metrics.cache_evictions.get(("trim",)) == 3
    assert l1.trim(0) == 0
    assert l1.trim(5.0) == 7 and len(l1) == 0
    assert l1.trim(0.5) == 0


def test_clear_returns_count() -> None:
    l1, _, metrics = make()
    for i in range(4):
        l1.set(str(i), b"", 10, 10.0)
    assert l1.clear() == 4
    assert len(l1) == 0 and l1.nbytes == 0
    assert metrics.cache_evictions.get(("clear",)) == 4
    assert metrics.cache_entries.get(("l1",)) == 0
    assert l1.clear() == 0


def test_delete() -> None:
    l1, _, _ = make()
    l1.set("a", b"", 10, 10.0)
    assert l1.delete("a") and not l1.delete("a")
    assert l1.nbytes == 0


def test_works_without_metrics() -> None:
    l1: L1Cache[str, bytes] = L1Cache(1, 100)
    l1.set("a", b"", 1, 10.0)
    l1.set("b", b"", 1, 10.0)
    assert l1.get("a") is None and l1.get("b") == b""
    assert l1.trim(1.0) == 1
