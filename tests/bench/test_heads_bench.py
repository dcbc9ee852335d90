"""`bizra-node bench heads --quick` runs end to end (anvil, two nodes in process, the
heads file) and writes figures for each measure, alone and shared."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BIZRA_NODE = str(Path(sys.executable).with_name("bizra-node"))


def test_bench_heads_quick_writes_both_sides(tmp_path: Path) -> None:
    proc = subprocess.run([BIZRA_NODE, "bench", "--out", str(tmp_path), "heads", "--quick",
                           "--rounds", "1", "--no-redis"], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    doc = json.loads((tmp_path / "heads-latest.json").read_text())
    for side in ("alone", "shared"):
        figures = doc["in_process"][side]
        assert set(figures) == {"fresh_head_ns", "rpc_blockNumber_hit_ns",
                                "rpc_getBalance_latest_hit_ns", "get_tx_hit_us"}
        assert all(f["median"] > 0 for f in figures.values())
    assert doc["primitives"]["raise_us"] > 0 and doc["redis"] == {"skipped": "--no-redis"}
    assert "| fresh_head_ns |" in (tmp_path / "heads-latest.md").read_text()
