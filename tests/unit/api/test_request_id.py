"""Request ids: 24 hex digits, unique in a process and across forked workers."""

from __future__ import annotations

import multiprocessing
import re

from bizra_node.api.http import new_request_id


def _child_id(conn: multiprocessing.connection.Connection) -> None:
    conn.send(new_request_id())
    conn.close()


def test_ids_are_hex_and_unique() -> None:
    ids = [new_request_id() for _ in range(10_000)]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"[0-9a-f]{24}", i) for i in ids)


def test_a_forked_worker_has_ids_of_its_own() -> None:
    ctx = multiprocessing.get_context("fork")
    mine = new_request_id()
    theirs = []
    for _ in range(2):
        parent, child = ctx.Pipe()
        proc = ctx.Process(target=_child_id, args=(child,))
        proc.start()
        theirs.append(parent.recv())
        proc.join(10)
    prefixes = {mine[:12], theirs[0][:12], theirs[1][:12]}
    assert len(prefixes) == 3
