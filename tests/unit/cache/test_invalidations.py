"""Numbered invalidations: an entry computed across a reorg that covers it is overtaken."""

from __future__ import annotations

from bizra_node.cache import Entry
from bizra_node.cache.invalidations import REMEMBERED, Invalidations


def entry(block: int, *, final: bool = False) -> Entry:
    return Entry(body=b"{}", expires=0.0, final=final, block=block)


def test_nothing_since_the_mark_overtakes_nothing() -> None:
    inv = Invalidations()
    inv.note(5, final_too=False)
    since = inv.mark
    assert not inv.overtaken(entry(10), since)


def test_an_invalidation_covers_entries_at_or_above_its_first_block() -> None:
    inv = Invalidations()
    since = inv.mark
    inv.note(10, final_too=False)
    assert inv.mark == since + 1
    assert inv.overtaken(entry(10), since) and inv.overtaken(entry(11), since)
    assert not inv.overtaken(entry(9), since)
    assert not inv.overtaken(entry(-1), since)  # depends on no block


def test_final_entries_only_when_the_reorg_reached_below_finality() -> None:
    inv = Invalidations()
    since = inv.mark
    inv.note(10, final_too=False)
    assert not inv.overtaken(entry(12, final=True), since)
    inv.note(10, final_too=True)
    assert inv.overtaken(entry(12, final=True), since)


def test_a_computation_that_outlived_the_remembered_ones_is_overtaken() -> None:
    inv = Invalidations()
    since = inv.mark
    for _ in range(REMEMBERED + 1):
        inv.note(1_000, final_too=False)
    assert inv.overtaken(entry(1), since)  # below every first block, but forgotten
    assert not inv.overtaken(entry(1), inv.mark - 1)
