"""The performance regression gate in `make test`: fails only on a large ratio
regression measured in this run (see bench/bizra_bench/gate.py), never on an absolute time.

It loads as the side-by-side check does (wrk -t1 -c64, 3 rounds, 1 s of
warm-up per target), with rounds of 2 s instead of 5 to keep `make test` short: the
limits are several times the measured figures, which rounds that long do not move;
`bizra-node bench gate` runs the 5 s rounds.
"""

from __future__ import annotations

import dataclasses

import pytest

from bizra_bench.gate import run_gate
from bizra_bench.loadgen import OUTSIDE


@pytest.mark.perf
@pytest.mark.timeout(240)
def test_hit_and_miss_paths_keep_their_ratios() -> None:
    result = run_gate(setup=dataclasses.replace(OUTSIDE, duration=2.0))
    print(result.report())
    assert result.ok, result.report()
