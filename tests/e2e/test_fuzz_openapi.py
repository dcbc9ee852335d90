"""schemathesis against /openapi.json of a served node (granian RSGI, the seeded devnet,
a scratch database for the history, the guard on with anonymous limits too high to
refuse): every operation, inputs
generated from the document (positive) and against it (negative), a fixed seed
(``derandomize``) and a bounded number of examples per operation and mode, so `make
test` stays deterministic and short. The check: never a 5xx, and the server still
answers and stops cleanly afterwards (no worker lost).

schemathesis's pytest plugin (``from_fixture``) does not run under pytest 9 (it reads
a node attribute pytest removed), so the operations are driven here with Hypothesis
directly, one test per generation mode, every failure collected before reporting.
"""

from __future__ import annotations

import urllib.request
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable

from tests.conftest import Devnet
from tests.e2e.test_serve import start_server, stop_server
from tests.support.postgres import SHARED_DSN, scratch_database

EXAMPLES = 50
"""Per operation and mode: 11 operations x 2 modes x 50 (fewer where nothing can be
negated): ~800 requests, ~15 s."""

# 5xx answers found in input handling and not fixed yet; listed here so this run reports
# them without failing on them until they are.
KNOWN: dict[str, str] = {}
"""'METHOD /path' -> the reason (empty: none known today)."""


def _fuzz(operation: Any, mode: schemathesis.GenerationMode, base: str, label: str,
          out: list[str]) -> Callable[[], None]:
    """The Hypothesis test of one operation: each 5xx is added to ``out``."""

    @settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=base, timeout=15)
        if response.status_code >= 500:
            out.append(f"{label} -> {response.status_code}: {case.as_curl_command()} :: "
                       f"{response.text[:200]}")

    return cast(Callable[[], None], check)


@pytest.fixture(scope="module")
async def fuzz_dsn() -> AsyncIterator[str]:
    async with scratch_database(SHARED_DSN) as dsn:
        yield dsn


@pytest.fixture(scope="module")
def node_base(devnet: Devnet, fuzz_dsn: str, tmp_path_factory: pytest.TempPathFactory,
              ) -> Iterator[str]:
    proc, base = start_server({"BIZRA_NODE_URL": devnet.url, "RATE_LIMIT_RPS": "1000000",
                               "RATE_LIMIT_BURST": "1000000", "DB_ENABLED": "true",
                               "DATABASE_URL": fuzz_dsn,
                               "DATA_DIR": str(tmp_path_factory.mktemp("fuzz"))})
    yield base
    with urllib.request.urlopen(base + "/health", timeout=5) as resp:
        assert resp.status == 200  # still serving after everything it was sent
    assert stop_server(proc) == 0, "the server did not stop cleanly (a worker lost?)"


@pytest.mark.parametrize("mode", [schemathesis.GenerationMode.POSITIVE,
                                  schemathesis.GenerationMode.NEGATIVE])
def test_no_server_errors(node_base: str, mode: schemathesis.GenerationMode) -> None:
    schema = schemathesis.openapi.from_url(node_base + "/openapi.json", timeout=10)
    failures: list[str] = []
    known: list[str] = []
    skipped: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        label = f"{operation.method.upper()} {operation.path}"
        out = known if label in KNOWN else failures
        try:
            _fuzz(operation, mode, node_base, label, out)()
        except Unsatisfiable:  # nothing to negate (no parameters, no body): nothing to send
            skipped.append(label)
    assert operations >= 10
    assert operations - len(skipped) >= 4, skipped  # path strings have no negative form
    if known:
        print("known 5xx:", *known[:10], sep="\n  ")
    assert failures == [], "\n".join(failures[:20])
