"""A DATA_DIR the node cannot write to is one clear line at start, not a node that starts
and then answers every cache miss 503 (its records have nowhere to go)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bizra_node.devnet import free_port
from tests.support.postgres import SHARED_DSN
from tests.support.readonly import read_only_folder

BIN = str(Path(sys.executable).with_name("bizra-node"))


@pytest.mark.parametrize("subfolders", [(), ("spool",)], ids=["empty", "with-spool"])
def test_a_read_only_data_dir_stops_serve_with_one_line(tmp_path: Path,
                                                        subfolders: tuple[str, ...]) -> None:
    with read_only_folder(tmp_path / "data", subfolders) as data:
        env = {**os.environ, "DATA_DIR": str(data), "DATABASE_URL": SHARED_DSN,
               "BIZRA_NODE_URL": "http://127.0.0.1:9", "REDIS_URL": ""}
        done = subprocess.run([BIN, "serve", "--port", str(free_port()), "--workers", "1"],
                              env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 2, done.stderr[-3000:]
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert "DATA_DIR" in lines[0] and str(data) in lines[0] and "not writable" in lines[0]
