"""The recorded anvil chain for the rollup tests here (its signed transaction goes into
the OP-stack-shaped blocks of tests/support/rollup.py; read only: the calls are
trust/test_deposit.py's, recorded with it)."""

from __future__ import annotations

import pytest

from tests.support.recorded_chain import RecordedChain


@pytest.fixture(scope="session")
def anvil_chain() -> RecordedChain:
    return RecordedChain()
