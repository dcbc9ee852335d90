"""Where the harness writes results: --out, else BENCH_RESULTS, else bench/results/ of
the checkout (found from the current directory, else from the harness's own files)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bizra_bench.checkout import find_checkout
from bizra_bench.results import ENV_VAR, NoResultsDir, results_dir

CHECKOUT = Path(__file__).resolve().parents[2]
BIZRA_NODE = str(Path(sys.executable).with_name("bizra-node"))
CHEAP = ["circuit-breaker", "--calls", "2000", "--repeat", "1"]  # in process, well under 1 s


def _fake_checkout(root: Path) -> Path:
    (root / "bench").mkdir(parents=True)
    (root / "pyproject.toml").write_text("")
    (root / "bench" / "pyproject.toml").write_text("")
    return root


def test_the_checkout_is_found_from_the_current_directory_upwards(tmp_path: Path) -> None:
    root = _fake_checkout(tmp_path / "other")
    (root / "docs").mkdir()
    assert find_checkout(root / "docs") == root
    assert find_checkout(CHECKOUT / "src") == CHECKOUT


def test_else_from_the_harness_files_else_none(tmp_path: Path) -> None:
    # an editable install lives in its checkout; a wheel in site-packages does not
    assert find_checkout(tmp_path) == CHECKOUT
    site = tmp_path / "venv" / "lib" / "python3.11" / "site-packages" / "bizra_bench"
    assert find_checkout(tmp_path, package=site) is None


def test_the_folder_is_the_env_var_else_the_checkouts(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.chdir(_fake_checkout(tmp_path / "co"))
    assert results_dir() == tmp_path / "co" / "bench" / "results"
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "elsewhere"))
    assert results_dir() == tmp_path / "elsewhere"


def test_no_checkout_and_no_folder_names_both_ways_out() -> None:
    text = str(NoResultsDir())
    assert "--out DIR" in text and ENV_VAR in text


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != ENV_VAR}


@pytest.mark.parametrize("how", ["--out", "env"])
def test_a_scenario_writes_where_it_is_told(tmp_path: Path, how: str) -> None:
    out = tmp_path / "results"
    argv, env = [BIZRA_NODE, "bench", *CHEAP], {}
    if how == "--out":
        argv[2:2] = ["--out", str(out)]
    else:
        env = {ENV_VAR: str(out)}
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120,
                          env={**_clean_env(), **env})
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((out / "circuit-breaker-latest.json").read_text())
    assert doc["scenario"] == "circuit-breaker" and doc["calls"] == 2000
    assert (out / "circuit-breaker-latest.md").read_text().startswith("# circuit-breaker")


def _no_constants(name: str) -> None:
    raise ValueError(f"{name} in a results file")


def test_a_figure_not_measured_is_null_in_strict_json(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from bizra_bench.results import write_results

    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    write_results("x", {"rps": [float("nan"), 1.5, float("inf")], "nested": {"p99": float("nan")},
                        "pair": (float("nan"), 2)}, "# x\n")
    doc = json.loads((tmp_path / "x-latest.json").read_text(), parse_constant=_no_constants)
    assert doc["rps"] == [None, 1.5, None] and doc["nested"] == {"p99": None}
    assert doc["pair"] == [None, 2]
