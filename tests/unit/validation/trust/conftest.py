"""Shared helpers for the trust tests: real blocks that a seeded anvil gave, recorded
into tests/fixtures/trust/ (tests/support/recorded_chain.py), so these tests start no
anvil; with ``--record-trust PATH`` they run against a fresh one and record it again."""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bizra_node.validation.trust import Check, TrustError
from tests.support.recorded_chain import RecordedChain, Recorder

KINDS = ["legacy", "legacy_pre155", "access_list", "dynamic_fee", "logs", "create", "reverted",
         "blob", "set_code"]

Chain = RecordedChain | Recorder
"""What the tests read blocks from (both answer as ``TrustDevnet`` does)."""


@pytest.fixture(scope="session")
def trust_chain(request: pytest.FixtureRequest) -> Iterator[Chain]:
    out = request.config.getoption("record_trust")
    if not out:
        yield RecordedChain()
        return
    live = request.getfixturevalue("trust_devnet")
    recorder = Recorder(live)
    yield recorder
    version = subprocess.run([live.anvil.binary, "--version"], capture_output=True, text=True,
                             check=True).stdout.splitlines()[0]
    recorder.save(Path(out), version)


def fails(check: Check, call: Any, *args: Any, **kwargs: Any) -> TrustError:
    """Run ``call`` and assert it fails ``check`` (and nothing else)."""
    with pytest.raises(TrustError) as err:
        call(*args, **kwargs)
    assert err.value.check is check, f"{err.value.check} ({err.value.message}), expected {check}"
    return err.value


def clone(obj: Any) -> Any:
    return copy.deepcopy(obj)
