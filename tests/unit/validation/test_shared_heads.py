"""The heads file: what the workers of one node have shown, read with one load and
raised with compare-and-max; made by `serve` in a private place and refused
anywhere else; real processes write it at once."""

from __future__ import annotations

import fcntl
import multiprocessing
import os
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bizra_node.validation import (
    HeadsFileError,
    SharedHeads,
    create_heads_file,
    remove_heads_file,
)

NETWORK = 31337


@pytest.fixture
def made() -> Iterator[str]:
    path, made_here = create_heads_file("", NETWORK)
    try:
        yield path
    finally:
        remove_heads_file(path, made_here)


def test_made_in_a_private_directory_and_removed_with_it(made: str) -> None:
    folder = os.path.dirname(made)
    assert os.stat(folder).st_mode & 0o777 == 0o700
    assert os.stat(made).st_mode & 0o777 == 0o600
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        assert folder.startswith("/dev/shm/")  # memory: never written to disk
    remove_heads_file(made, True)
    assert not os.path.exists(folder)


def test_two_mappings_see_each_other_and_the_head_only_rises(made: str) -> None:
    a, b = SharedHeads.open(made, NETWORK), SharedHeads.open(made, NETWORK)
    try:
        assert a.head == b.head == 0
        a.raise_head(100)
        assert b.head == 100
        b.raise_head(90)  # lower: ignored
        assert a.head == 100
        b.raise_head(101)
        assert a.head == 101
        a.raise_head(1 << 70)  # not a number any chain has: not shared
        assert a.head == 101
    finally:
        a.close()
        b.close()


def test_the_finalized_record_is_shared_whole_and_a_torn_one_is_not_read(made: str) -> None:
    a, b = SharedHeads.open(made, NETWORK), SharedHeads.open(made, NETWORK)
    try:
        assert b.finalized() is None and b.final_number == 0
        a.publish_finalized(50, b"\x11" * 32)
        assert b.final_number == 50 and b.finalized() == (50, b"\x11" * 32)
        a.publish_finalized(40, b"\x22" * 32)  # lower: ignored
        assert b.finalized() == (50, b"\x11" * 32)
        a.publish_finalized(60, b"")  # hash unknown (finality by depth): zeros
        assert b.finalized() == (60, bytes(32))
        with open(made, "r+b") as raw:  # a record caught half-written: its check fails
            raw.seek(32 + 8)
            raw.write(b"\x33" * 16)
        assert b.finalized() is None
    finally:
        a.close()
        b.close()


def _raise_many(path: str, start: int, step: int, count: int) -> None:
    heads = SharedHeads.open(path, NETWORK)
    for n in range(start, start + step * count, step):
        heads.raise_head(n)
    heads.close()


def _watch(path: str, done: Any, out: Any) -> None:
    """Reads the head as fast as it can until ``done``; puts how often it went down."""
    heads = SharedHeads.open(path, NETWORK)
    last, down, reads = 0, 0, 0
    while not done.is_set():
        for _ in range(1000):
            now = heads.head
            if now < last:
                down += 1
            last = now
        reads += 1000
    heads.close()
    out.put((down, reads))


def test_processes_raising_at_once_leave_the_maximum_and_never_lower_it(made: str) -> None:
    """Four writer processes interleave their numbers (compare-and-max under the
    lock); a reader process never sees the shared head go down."""
    ctx = multiprocessing.get_context("fork")  # as granian starts its workers on Linux
    queue = ctx.Queue()
    done = ctx.Event()
    watcher = ctx.Process(target=_watch, args=(made, done, queue))
    watcher.start()
    writers = [ctx.Process(target=_raise_many, args=(made, i, 4, 5000)) for i in range(4)]
    for w in writers:
        w.start()
    for w in writers:
        w.join(60)
        assert w.exitcode == 0
    done.set()
    down, reads = queue.get(timeout=30)
    watcher.join(30)
    assert down == 0 and reads > 0
    heads = SharedHeads.open(made, NETWORK)
    try:
        assert heads.head == 3 + 4 * 4999
    finally:
        heads.close()


def test_a_frozen_lock_holder_does_not_stall_a_writer(made: str) -> None:
    """Another process holds the file's lock and does not let go: a raise gives up
    within milliseconds (the number is not shared, and that is logged) instead of
    blocking the worker's event loop."""
    holder = subprocess.Popen(
        [sys.executable, "-c", "import fcntl,os,sys,time\n"
         f"fd=os.open({made!r}, os.O_RDWR); fcntl.flock(fd, fcntl.LOCK_EX)\n"
         "print('held', flush=True); time.sleep(60)"], stdout=subprocess.PIPE)
    heads = SharedHeads.open(made, NETWORK)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == b"held\n"
        started = time.monotonic()
        heads.raise_head(7)
        assert time.monotonic() - started < 0.5
        assert heads.head == 0
    finally:
        holder.kill()
        holder.wait()
    heads.raise_head(7)  # the kernel released the dead holder's lock
    assert heads.head == 7
    fd = os.open(made, os.O_RDWR)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # and it is free
    os.close(fd)
    heads.close()


def test_anything_but_the_nodes_own_heads_file_is_refused(made: str, tmp_path: Path) -> None:
    with pytest.raises(HeadsFileError, match="cannot open"):
        SharedHeads.open(str(tmp_path / "missing"), NETWORK)
    with pytest.raises(HeadsFileError, match="for network 1"):
        SharedHeads.open(made, 1)
    link = os.path.join(os.path.dirname(made), "link")
    os.symlink(made, link)
    with pytest.raises(HeadsFileError, match="cannot open"):
        SharedHeads.open(link, NETWORK)
    os.remove(link)
    os.chmod(made, 0o644)  # others could read it: not a file serve made
    with pytest.raises(HeadsFileError, match="not a heads file"):
        SharedHeads.open(made, NETWORK)
    os.chmod(made, 0o600)
    os.chmod(os.path.dirname(made), 0o777)  # others could replace it
    try:
        with pytest.raises(HeadsFileError, match="no other user may write"):
            SharedHeads.open(made, NETWORK)
    finally:
        os.chmod(os.path.dirname(made), 0o700)
    other = tmp_path / "short"
    other.write_bytes(b"BZHEADS1" + struct.pack("<Q", NETWORK))  # not one page
    other.chmod(0o600)
    with pytest.raises(HeadsFileError, match="not a heads file"):
        SharedHeads.open(str(other), NETWORK)


def test_a_given_path_must_be_in_a_private_directory(tmp_path: Path) -> None:
    shared = tmp_path / "open"
    shared.mkdir(mode=0o777)
    shared.chmod(0o777)
    with pytest.raises(HeadsFileError, match="no other user may write"):
        create_heads_file(str(shared / "heads"), NETWORK)
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "heads").write_bytes(b"left over from another run")
    path, made_here = create_heads_file(str(private / "heads"), NETWORK)
    heads = SharedHeads.open(path, NETWORK)
    assert not made_here and heads.head == 0  # replaced
    heads.close()
    remove_heads_file(path, made_here)
    assert private.is_dir() and not (private / "heads").exists()
