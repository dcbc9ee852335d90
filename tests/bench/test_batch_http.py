"""The batch endpoint over HTTP (bizra_bench.batch_http) as logic: the bodies it posts
and the per-answer figures it derives from made-up rounds."""

from __future__ import annotations

import json

import pytest

from bizra_bench.batch_http import batch_body, summarize, targets
from bizra_bench.scenarios.batch import http_markdown

HASHES = [f"0x{i:064x}" for i in range(1, 11)]


def test_a_batch_repeats_the_hashes_in_order_up_to_its_size() -> None:
    body = json.loads(batch_body(HASHES, 100))
    assert list(body) == ["txHashes"] and len(body["txHashes"]) == 100
    assert body["txHashes"][:10] == HASHES and body["txHashes"][10:20] == HASHES
    assert json.loads(batch_body(HASHES, 3))["txHashes"] == HASHES[:3]


def test_targets_are_single_posts_and_one_batch_per_size() -> None:
    plan = targets(HASHES, (10, 100))
    assert [(t.name, t.answers) for t in plan] == [("single", 1), ("batch of 10", 10),
                                                    ("batch of 100", 100)]
    single = plan[0]
    assert single.body is None and len(single.singles) == 10
    assert {json.loads(r.body or b"")["txHash"] for r in single.singles} == set(HASHES)
    assert all(r.path == "/api/v1/validate/transaction" for r in single.singles)


def test_per_answer_figures_and_the_ratios_to_single_posts() -> None:
    rounds = {"single": [(20_000, 50.0, 0), (25_000, 40.0, 0), (22_000, 45.0, 0)],
              "batch of 100": [(400, 1_000.0, 0), (500, 800.0, 0), (450, 900.0, 0)]}
    out = summarize(rounds, {"single": 1, "batch of 100": 100})
    batch = out["batch of 100"]
    assert batch["answers/s"] == {"median": 45_000, "min": 40_000, "max": 50_000}
    assert batch["cpu_us_per_answer"]["median"] == pytest.approx(9.0)
    assert out["single"]["cpu_us_per_answer"]["median"] == 45.0
    # median of the rounds' ratios: 40000/20000, 50000/25000, 45000/22000
    assert batch["answers/s over single"] == pytest.approx(2.0)
    assert batch["cpu per answer over single"] == pytest.approx(0.2)
    assert "answers/s over single" not in out["single"]
    table = "\n".join(http_markdown({"setup": "wrk -t1 -c64", "load": "1", "targets": out}))
    assert "| batch of 100 | 450 (400-500) | 45000 (40000-50000) |" in table
    assert "2.00x, 0.200x" in table
