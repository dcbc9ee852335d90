"""A folder the node cannot write to, for the tests of a read-only DATA_DIR.

As an ordinary user, mode 0555 is enough. Root writes through any mode, so as root the
folder is a read-only tmpfs mount (skipped where mounting is not allowed, as in most
unprivileged containers)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

__all__ = ["read_only_folder"]


@contextlib.contextmanager
def read_only_folder(path: Path, subfolders: tuple[str, ...] = ()) -> Iterator[Path]:
    """``path`` (made here) with ``subfolders`` in it, then made read-only."""
    path.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        for name in subfolders:
            (path / name).mkdir()
            (path / name).chmod(0o555)
        path.chmod(0o555)
        try:
            yield path
        finally:
            for name in subfolders:
                (path / name).chmod(0o755)
            path.chmod(0o755)
        return
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(path)],
                           capture_output=True, text=True, check=False)
    if mount.returncode != 0:
        pytest.skip(f"running as root and cannot mount a read-only folder: {mount.stderr.strip()}")
    try:
        for name in subfolders:
            (path / name).mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", str(path)], check=False)
