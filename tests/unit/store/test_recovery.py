"""Recovery's schedule: when a writer whose PostgreSQL went down tries it again (a
doubling backoff from 0.2 s to 5 s), and when nothing is due (the database is up and
nothing waits in the spool)."""

from __future__ import annotations

import time
from pathlib import Path

from bizra_node.observability import NodeMetrics
from bizra_node.store.batches import BatchWriter
from bizra_node.store.recovery import PROBE_MAX, PROBE_MIN, Recovery
from bizra_node.store.spool import Spool


def _recovery(tmp_path: Path) -> Recovery:
    spool = Spool(tmp_path / "spool", max_bytes=1 << 20)
    batches = BatchWriter(spool, NodeMetrics(), on_down=lambda exc: None)
    return Recovery(spool, batches, look_for_orphans=False)


async def test_a_probe_without_a_pool_backs_off_doubling_to_its_cap(tmp_path: Path) -> None:
    recovery = _recovery(tmp_path)
    recovery.went_down(OSError("refused"))
    assert not recovery.db_ok and not recovery.due()  # the first wait has not passed
    waits = []
    for _ in range(8):
        recovery._next_probe = 0.0  # the wait has passed
        assert recovery.due()
        before = time.monotonic()
        await recovery.recover(None)
        waits.append(round(recovery._next_probe - before, 1))
    assert waits == [PROBE_MIN, 0.4, 0.8, 1.6, 3.2, PROBE_MAX, PROBE_MAX, PROBE_MAX]
    assert not recovery.db_ok


def test_nothing_is_due_when_the_database_is_up_and_the_spool_empty(tmp_path: Path) -> None:
    recovery = _recovery(tmp_path)
    assert not recovery.db_ok and recovery.due()  # at start: probe at once
    recovery.mark_up()
    recovery._orphans_at = float("inf")  # as after a replay outside local durability
    assert not recovery.due() and recovery.idle_wait() is None
    recovery.went_down(TimeoutError())
    assert recovery.idle_wait() == PROBE_MIN
