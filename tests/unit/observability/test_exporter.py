"""The exporter: per-process files merged at scrape, and the direct one-process path."""

from __future__ import annotations

import subprocess
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from bizra_node.observability import Exporter, MultiprocWriter, NodeMetrics, sweep_dead
from bizra_node.observability.exporter import prepare_directory, remove_directory


def samples(text: bytes) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for fam in text_string_to_metric_families(text.decode()):
        for s in fam.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def files(directory: Path, pattern: str) -> list[Path]:
    return list(directory.glob(pattern))


def dead_pid() -> int:
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def count_into(m: NodeMetrics, n: int, seconds: float) -> None:
    for _ in range(n):
        m.api_requests.inc(("/health", "200"))
        m.api_latency.observe(seconds, ("/health", "200"))


async def test_counts_of_two_processes_add_up(tmp_path: Path) -> None:
    a, b = NodeMetrics(), NodeMetrics()
    count_into(a, 3, 0.002)
    count_into(b, 4, 0.2)
    a.cache_entries.set(10, ("l1",))
    b.cache_entries.set(5, ("l1",))
    a.breaker_state.set(0, ("up1",))
    b.breaker_state.set(2, ("up1",))
    other = MultiprocWriter(b, str(tmp_path), pid=1)  # pid 1 is alive (init)
    other.flush()
    exporter = Exporter(a, directory=str(tmp_path))
    got = samples(await exporter.render())
    key = (("route", "/health"), ("status", "200"))
    assert got[("api_requests_total", key)] == 7
    assert got[("api_response_time_seconds_count", key)] == 7
    assert got[("api_response_time_seconds_bucket", (("le", "0.0025"), *key))] == 3
    assert got[("api_response_time_seconds_bucket", (("le", "0.25"), *key))] == 7
    assert abs(got[("api_response_time_seconds_sum", key)] - (3 * 0.002 + 4 * 0.2)) < 1e-9
    assert got[("cache_entries", (("tier", "l1"),))] == 15  # sum over workers
    assert got[("circuit_breaker_state", (("upstream", "up1"),))] == 2  # worst state
    rss = {k[1]: v for k, v in got.items() if k[0] == "process_resident_memory_bytes"}
    assert len(rss) == 1 and all(v > 0 for v in rss.values())  # only the live flushers' own
    other.close()
    await exporter.stop()


async def test_a_flush_writes_only_what_changed(tmp_path: Path) -> None:
    m = NodeMetrics()
    writer = MultiprocWriter(m, str(tmp_path))
    count_into(m, 1, 0.01)
    first = writer.flush()
    assert first == 1 + 16 + 1  # counter, 15 buckets + Inf, sum
    assert writer.flush() == 0
    count_into(m, 1, 0.01)
    assert writer.flush() == 3  # counter, one bucket, sum
    writer.close()


async def test_dead_workers_keep_their_counts_and_lose_their_gauges(tmp_path: Path) -> None:
    gone = NodeMetrics()
    count_into(gone, 5, 0.01)
    gone.cache_entries.set(99, ("l1",))
    writer = MultiprocWriter(gone, str(tmp_path), pid=dead_pid())
    writer.flush()
    writer.close()
    live = NodeMetrics()
    count_into(live, 1, 0.01)
    exporter = Exporter(live, directory=str(tmp_path))
    got = samples(await exporter.render())
    assert got[("api_requests_total", (("route", "/health"), ("status", "200")))] == 6
    assert ("cache_entries", (("tier", "l1"),)) not in got
    assert not files(tmp_path, f"gauge_livesum_{writer.pid}.db")
    await exporter.stop()
    assert sweep_dead(str(tmp_path)) == []


async def test_a_reused_pid_adds_to_the_counts_left_in_its_file(tmp_path: Path) -> None:
    first = NodeMetrics()
    count_into(first, 4, 0.01)
    w1 = MultiprocWriter(first, str(tmp_path), pid=1)
    w1.flush()
    w1.close()
    second = NodeMetrics()  # a new process that got the same pid
    count_into(second, 2, 0.01)
    w2 = MultiprocWriter(second, str(tmp_path), pid=1)
    w2.flush()
    w2.close()
    reader = Exporter(NodeMetrics(), directory=str(tmp_path))
    got = samples(await reader.render())
    assert got[("api_requests_total", (("route", "/health"), ("status", "200")))] == 6


async def test_direct_and_file_paths_render_the_same_families(tmp_path: Path) -> None:
    m = NodeMetrics()
    count_into(m, 3, 0.07)
    m.cache_hits.inc(("l1", "block"), 2)
    m.db_pool_in_use.set(4, ("primary",))
    direct = samples(await Exporter(m).render())
    files = Exporter(m, directory=str(tmp_path))
    merged = samples(await files.render())
    assert direct.keys() == merged.keys()
    for key, value in direct.items():
        if key[0] != "process_resident_memory_bytes":
            assert merged[key] == value, key
    await files.stop()


async def test_stop_publishes_last_counts_and_drops_live_gauges(tmp_path: Path) -> None:
    m = NodeMetrics()
    exporter = Exporter(m, directory=str(tmp_path), flush_interval=0.01)
    exporter.start()
    count_into(m, 2, 0.01)
    await exporter.stop()
    assert not files(tmp_path, "gauge_live*.db")
    got = samples(await Exporter(NodeMetrics(), directory=str(tmp_path)).render())
    assert got[("api_requests_total", (("route", "/health"), ("status", "200")))] == 2


def test_serve_prepares_and_removes_the_directory(tmp_path: Path) -> None:
    made, was_made = prepare_directory("")
    assert was_made and Path(made).is_dir()
    remove_directory(made, was_made)
    assert not Path(made).exists()
    given = tmp_path / "metrics"
    given.mkdir()
    (given / "counter_123.db").write_bytes(b"stale")
    path, was_made = prepare_directory(str(given))
    assert path == str(given) and not was_made and not list(given.iterdir())
    (given / "counter_124.db").write_bytes(b"x")
    remove_directory(path, was_made)
    assert given.is_dir() and not list(given.iterdir())


async def test_a_gauge_value_no_float_holds_is_not_kept(tmp_path: Path) -> None:
    """A 1 600-bit block number reaching a gauge ended the node at start (OverflowError
    in the flush); the upstream pool refuses such numbers, and a gauge does not keep one."""
    m = NodeMetrics()
    writer = MultiprocWriter(m, str(tmp_path))
    m.upstream_head.set(2**1600, ("http://liar",))
    m.upstream_head.set(7, ("http://honest",))
    assert writer.flush() == 1
    writer.close()
    exporter = Exporter(m, directory=None)
    text = samples(await exporter.render())
    assert text[("upstream_head_block", (("upstream", "http://honest"),))] == 7
