"""`bizra-node bench` finds the benchmark harness (bizra-node-bench, in bench/) through
its entry point, and says what to install when it is missing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bizra_node import cli

BIZRA_NODE = str(Path(sys.executable).with_name("bizra-node"))


def test_the_harness_entry_point_resolves_to_its_runner() -> None:
    from importlib.metadata import entry_points

    from bizra_bench.runner import run_bench

    (found,) = entry_points(group=cli.PLUGIN_GROUP, name="bench")
    assert found.dist is not None and found.dist.name == "bizra-node-bench"
    assert cli.load_plugin("bench") is run_bench


def test_the_installed_command_reaches_the_harness(tmp_path: Path) -> None:
    """The console script, outside the checkout: the harness answers (its scenario list)."""
    proc = subprocess.run([BIZRA_NODE, "bench", "no-such-scenario"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "unknown scenario 'no-such-scenario'; available: api, balancer-cache, batch, cache," in proc.stderr


def test_a_missing_harness_is_one_clear_line(monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    """The same lookup in a group nothing is installed under, as without bizra-node-bench."""
    monkeypatch.setattr(cli, "PLUGIN_GROUP", "bizra_node.plugins.test-absent")
    assert cli.load_plugin("bench") is None
    assert cli.main(["bench", "cache", "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert err == ("bizra-node bench: the benchmark harness is not installed: run `pip install "
                   "-e ./bench` in a BIZRA-NODE0 checkout (`make setup` does)")
