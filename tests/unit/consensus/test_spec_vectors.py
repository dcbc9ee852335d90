"""The consensus spec's light-client sync test vectors (Deneb and Electra, minimal
preset; tests/fixtures/consensus/README.md): every step of every case passes through
our store, with the finalized and optimistic headers the spec expects after each."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cramjam
import pytest
import yaml

from bizra_node.consensus import NetworkConfig
from bizra_node.consensus.containers import BEACON_BLOCK_HEADER, LightClientHeader
from bizra_node.consensus.sync import (
    execution_root,
    initialize_light_client_store,
    process_light_client_store_force_update,
    process_light_client_update,
)
from bizra_node.consensus.wire import decode_ssz

VECTORS = Path(__file__).resolve().parents[2] / "fixtures" / "consensus" / "spec"
CASES = sorted(p.relative_to(VECTORS).as_posix() for p in VECTORS.glob("*/*") if p.is_dir())
EXPECTED_STEPS = {
    "deneb/advance_finality_without_sync_committee": 5,
    "deneb/light_client_sync": 10,
    "deneb/supply_sync_committee_from_past_update": 1,
    "electra/advance_finality_without_sync_committee": 5,
    "electra/light_client_sync": 10,
    "electra/supply_sync_committee_from_past_update": 1,
}


def _hex(text: str) -> bytes:
    return bytes.fromhex(text.removeprefix("0x"))


def _snappy(path: Path) -> bytes:
    return bytes(cramjam.snappy.decompress_raw(path.read_bytes()))


def _seen(config: NetworkConfig, header: LightClientHeader) -> dict[str, Any]:
    return {"slot": header.beacon.slot,
            "beacon_root": "0x" + BEACON_BLOCK_HEADER.hash_tree_root(header.beacon).hex(),
            "execution_root": "0x" + execution_root(config, header).hex()}


def test_the_vectors_are_all_here() -> None:
    assert {c: len(yaml.safe_load((VECTORS / c / "steps.yaml").read_text())) for c in CASES} \
        == EXPECTED_STEPS


@pytest.mark.parametrize("case", CASES)
def test_every_step_of_the_spec_vector_passes(case: str) -> None:
    folder = VECTORS / case
    meta = yaml.safe_load((folder / "meta.yaml").read_text())
    config = NetworkConfig.from_config(
        yaml.safe_load((folder / "config.yaml").read_text()), genesis_time=0,
        genesis_validators_root=_hex(meta["genesis_validators_root"]))
    bootstrap = decode_ssz(config, "bootstrap", _hex(meta["bootstrap_fork_digest"]),
                           _snappy(folder / "bootstrap.ssz_snappy"))
    store = initialize_light_client_store(config, _hex(meta["trusted_block_root"]), bootstrap)
    steps = yaml.safe_load((folder / "steps.yaml").read_text())
    passed = 0
    for number, step in enumerate(steps):
        ((kind, body),) = step.items()
        if kind == "process_update":
            update = decode_ssz(config, "update", _hex(body["update_fork_digest"]),
                                _snappy(folder / f"{body['update']}.ssz_snappy"))
            process_light_client_update(config, store, update, body["current_slot"])
        elif kind == "force_update":
            process_light_client_store_force_update(config, store, body["current_slot"])
        else:
            pytest.fail(f"step {number}: unknown step kind {kind}")
        checks = body["checks"]
        assert _seen(config, store.finalized_header) == checks["finalized_header"], number
        assert _seen(config, store.optimistic_header) == checks["optimistic_header"], number
        passed += 1
    assert passed == EXPECTED_STEPS[case]
