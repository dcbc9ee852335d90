"""The performance regression gate in `make test`: fails only on a large ratio
regression measured in this run (see bench/bizra_bench/gate.py), never on an absolute time."""

from __future__ import annotations

import pytest

from bizra_bench.gate import run_gate


@pytest.mark.perf
@pytest.mark.timeout(180)
def test_hit_and_miss_paths_keep_their_ratios() -> None:
    result = run_gate()
    print(result.report())
    assert result.ok, result.report()
