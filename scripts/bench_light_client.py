"""What verifying light-client data costs, on recorded mainnet data (docs/consensus.md).

Runs in the project's venv (eth-consensus-specs, the remerkleable reference, is a dev
dependency): ``.venv/bin/python scripts/bench_light_client.py [--runs 15]``. Prints one
line per measurement: median and range in milliseconds over the runs.

* one period update, processed whole (a new sync committee: its 512 keys parsed, its
  root hashed, the signature checked) and one finality update (keys already parsed);
* their parts: JSON decoding, the committee's hash_tree_root, parsing 512 keys,
  FastAggregateVerify over 512 parsed keys;
* SSZ: our hand-written merkleisation against remerkleable (eth-consensus-specs'
  types) for a sync committee, and SSZ decoding plus hash_tree_root of an update.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from eth_consensus_specs.capella import mainnet as spec

from bizra_node.consensus import network
from bizra_node.consensus.bls import CommitteeKeys
from bizra_node.consensus.containers import BEACON_BLOCK_HEADER, LightClientUpdate, schemas
from bizra_node.consensus.forks import Fork
from bizra_node.consensus.sync import (
    initialize_light_client_store,
    process_light_client_finality_update,
    process_light_client_update,
)
from bizra_node.consensus.wire import decode_json

DATA = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "consensus" / "mainnet"
MAINNET = network("mainnet")
NOW = 7109432


def timed(fn: Callable[..., object], runs: int,
          setup: Callable[[], Any] | None = None) -> tuple[list[float], list[float]]:
    """(wall ms, CPU ms) of each run (the CPU time is the cost on a shared machine)."""
    wall, cpu = [], []
    for _ in range(runs):
        arg = setup() if setup else None
        start, cstart = time.perf_counter(), time.process_time()
        fn() if setup is None else fn(arg)
        cpu.append((time.process_time() - cstart) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return wall, cpu


def report(name: str, times: tuple[list[float], list[float]]) -> None:
    wall, cpu = times
    print(f"{name:<56} CPU median {statistics.median(cpu):8.3f} ms range {min(cpu):8.3f}-"
          f"{max(cpu):8.3f} | wall median {statistics.median(wall):8.3f} (n={len(cpu)})")


def to_spec_update(u: LightClientUpdate) -> Any:
    def header(h: Any) -> Any:
        e = h.execution
        return spec.LightClientHeader(
            beacon=spec.BeaconBlockHeader(slot=h.beacon.slot, proposer_index=h.beacon.proposer_index,
                                          parent_root=h.beacon.parent_root,
                                          state_root=h.beacon.state_root,
                                          body_root=h.beacon.body_root),
            execution=spec.ExecutionPayloadHeader(**{
                name: getattr(e, name) for name in spec.ExecutionPayloadHeader.fields()}),
            execution_branch=list(h.execution_branch))
    return spec.LightClientUpdate(
        attested_header=header(u.attested_header),
        next_sync_committee=spec.SyncCommittee(pubkeys=list(u.next_sync_committee.pubkeys),
                                               aggregate_pubkey=u.next_sync_committee.aggregate_pubkey),
        next_sync_committee_branch=list(u.next_sync_committee_branch),
        finalized_header=header(u.finalized_header), finality_branch=list(u.finality_branch),
        sync_aggregate=spec.SyncAggregate(
            sync_committee_bits=[u.sync_aggregate.bit(i) for i in range(512)],
            sync_committee_signature=u.sync_aggregate.sync_committee_signature),
        signature_slot=u.signature_slot)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs

    bootstrap = decode_json(MAINNET, "bootstrap", json.loads((DATA / "bootstrap.json").read_text()))
    checkpoint = BEACON_BLOCK_HEADER.hash_tree_root(bootstrap.header.beacon)
    raw_updates = (DATA / "updates.json").read_bytes()
    updates = [decode_json(MAINNET, "update", u) for u in orjson.loads(raw_updates)]
    raw_finality = (DATA / "finality.json").read_bytes()
    finality = decode_json(MAINNET, "finality_update", orjson.loads(raw_finality))

    def synced_store(periods: int) -> Any:
        store = initialize_light_client_store(MAINNET, checkpoint, bootstrap)
        for update in updates[:periods]:
            process_light_client_update(MAINNET, store, update, NOW)
        return store

    # The period 863 update is signed by the committee the period 862 update brought
    # (not yet parsed); the finality update by the committee already in use.
    report("period update, whole (new committee: keys parsed)", timed(
        lambda store: process_light_client_update(MAINNET, store, updates[1], NOW), runs,
        setup=lambda: synced_store(1)))
    report("finality update, whole (committee keys already parsed)", timed(
        lambda store: process_light_client_finality_update(MAINNET, store, finality, NOW), runs,
        setup=lambda: _warm(synced_store(6))))
    one = orjson.dumps(orjson.loads(raw_updates)[1])
    report("  decode one update's JSON (orjson + schema)", timed(
        lambda: decode_json(MAINNET, "update", orjson.loads(one)), runs))
    committee = updates[1].next_sync_committee
    committee_schema = schemas(Fork.CAPELLA, 512).sync_committee
    report("  hash_tree_root(SyncCommittee), ours", timed(
        lambda: committee_schema.hash_tree_root(committee), runs))
    report("  hash_tree_root(SyncCommittee), remerkleable", timed(
        lambda: spec.SyncCommittee(pubkeys=list(committee.pubkeys),
                                   aggregate_pubkey=committee.aggregate_pubkey).hash_tree_root(),
        runs))
    report("  parse 512 keys (blspy, subgroup-checked)", timed(
        lambda: CommitteeKeys(committee.pubkeys), runs))
    keys = CommitteeKeys(updates[0].next_sync_committee.pubkeys)
    signed = [i for i in range(512) if updates[1].sync_aggregate.bit(i)]
    message = _signing_root(updates[1])
    report(f"  FastAggregateVerify, {len(signed)} parsed keys", timed(
        lambda: keys.verify(signed, message, updates[1].sync_aggregate.sync_committee_signature),
        runs))
    ssz = bytes(to_spec_update(updates[1]).encode_bytes())
    update_schema = schemas(Fork.CAPELLA, 512).update
    assert update_schema.hash_tree_root(update_schema.decode(ssz)) == \
        bytes(spec.LightClientUpdate.decode_bytes(ssz).hash_tree_root())
    report("SSZ decode + hash_tree_root of an update, ours", timed(
        lambda: update_schema.hash_tree_root(update_schema.decode(ssz)), runs))
    report("SSZ decode + hash_tree_root of an update, remerkleable", timed(
        lambda: spec.LightClientUpdate.decode_bytes(ssz).hash_tree_root(), runs))


def _warm(store: Any) -> Any:
    store.keys(store.current_sync_committee)
    return store


def _signing_root(update: LightClientUpdate) -> bytes:
    from bizra_node.consensus.forks import compute_signing_root

    return compute_signing_root(BEACON_BLOCK_HEADER.hash_tree_root(update.attested_header.beacon),
                                MAINNET.sync_committee_domain(update.signature_slot))


if __name__ == "__main__":
    main()
