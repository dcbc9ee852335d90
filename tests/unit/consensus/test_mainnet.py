"""Real mainnet light-client data (recorded by a16z/helios; tests/fixtures/consensus):
syncing from the Capella bootstrap at slot 7069376 through the updates of periods
862-867 reaches the finality update's execution block, which is the one in the
recorded beacon block at that slot; and every kind of forgery is refused by the check
that names it, leaving the store as it was."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bizra_node.consensus import Check, ConsensusError, network
from bizra_node.consensus.containers import (
    BEACON_BLOCK_HEADER,
    LightClientBootstrap,
    LightClientFinalityUpdate,
    LightClientOptimisticUpdate,
    LightClientUpdate,
    SyncAggregate,
)
from bizra_node.consensus.sync import (
    LightClientStore,
    initialize_light_client_store,
    process_light_client_finality_update,
    process_light_client_optimistic_update,
    process_light_client_update,
)
from bizra_node.consensus.wire import decode_json

DATA = Path(__file__).resolve().parents[2] / "fixtures" / "consensus" / "mainnet"
MAINNET = network("mainnet")
CHECKPOINT = bytes.fromhex("5afc212a7924789b2bc86acad3ab3a6ffb1f6e97253ea50bee7f4f51422c9275")
NOW = 7109432
"""The optimistic update's signature slot (the latest data recorded)."""


def _load(name: str) -> Any:
    return json.loads((DATA / name).read_text())


BOOTSTRAP: LightClientBootstrap = decode_json(MAINNET, "bootstrap", _load("bootstrap.json"))
UPDATES: list[LightClientUpdate] = [decode_json(MAINNET, "update", u)
                                    for u in _load("updates.json")]
FINALITY: LightClientFinalityUpdate = decode_json(MAINNET, "finality_update",
                                                  _load("finality.json"))
OPTIMISTIC: LightClientOptimisticUpdate = decode_json(MAINNET, "optimistic_update",
                                                      _load("optimistic.json"))


def _store(periods: int = 6) -> LightClientStore:
    """A store bootstrapped and fed the first ``periods`` period updates."""
    store = initialize_light_client_store(MAINNET, CHECKPOINT, BOOTSTRAP)
    for update in UPDATES[:periods]:
        process_light_client_update(MAINNET, store, update, NOW)
    return store


def _snapshot(store: LightClientStore) -> tuple[object, ...]:
    return (store.finalized_header, store.optimistic_header, store.current_sync_committee,
            store.next_sync_committee, store.best_valid_update,
            store.previous_max_active_participants, store.current_max_active_participants)


def test_the_bootstrap_is_the_checkpoint() -> None:
    assert BEACON_BLOCK_HEADER.hash_tree_root(BOOTSTRAP.header.beacon) == CHECKPOINT
    assert BOOTSTRAP.header.beacon.slot == 7069376
    assert [MAINNET.period_at_slot(u.attested_header.beacon.slot) for u in UPDATES] \
        == [862, 863, 864, 865, 866, 867]


def test_syncing_from_the_bootstrap_reaches_the_finality_updates_execution_block() -> None:
    store = _store()
    assert MAINNET.period_at_slot(store.finalized_header.beacon.slot) == 867
    process_light_client_finality_update(MAINNET, store, FINALITY, NOW)
    process_light_client_optimistic_update(MAINNET, store, OPTIMISTIC, NOW)

    finalized, optimistic = store.finalized_header, store.optimistic_header
    assert finalized == FINALITY.finalized_header
    assert (finalized.beacon.slot, finalized.execution.block_number) == (7109344, 17923026)
    assert finalized.execution.block_hash.hex() == \
        "bc8499537876e5406c7a65e25f99063f1cd85a17014a3aa5ade38271b1fbf64f"
    assert optimistic == OPTIMISTIC.attested_header
    assert (optimistic.beacon.slot, optimistic.execution.block_number) == (7109431, 17923113)
    assert optimistic.execution.block_hash.hex() == \
        "3c015340e234ff7f8e75ecebb11d45154a394cd896ddcfcfffc941a07b314960"

    # the recorded beacon block at the finalized slot carries that very execution block
    block = _load("block_7109344.json")["data"]["message"]
    payload = block["body"]["execution_payload"]
    assert int(payload["block_number"]) == finalized.execution.block_number
    assert payload["block_hash"] == "0x" + finalized.execution.block_hash.hex()
    assert (int(block["slot"]), block["state_root"], block["parent_root"]) == (
        finalized.beacon.slot, "0x" + finalized.beacon.state_root.hex(),
        "0x" + finalized.beacon.parent_root.hex())


def test_the_committee_rotates_once_per_period() -> None:
    store = initialize_light_client_store(MAINNET, CHECKPOINT, BOOTSTRAP)
    assert store.next_sync_committee.is_empty()
    process_light_client_update(MAINNET, store, UPDATES[0], NOW)
    assert store.next_sync_committee == UPDATES[0].next_sync_committee
    assert store.current_sync_committee == BOOTSTRAP.current_sync_committee
    process_light_client_update(MAINNET, store, UPDATES[1], NOW)
    assert store.current_sync_committee == UPDATES[0].next_sync_committee
    assert store.next_sync_committee == UPDATES[1].next_sync_committee


# -- forgeries, each refused by the check that names it -----------------------------------

def _other_signature() -> bytes:
    return UPDATES[5].sync_aggregate.sync_committee_signature


def _flip(data: bytes, index: int = 10) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1:]


def _finality(**changes: Any) -> LightClientFinalityUpdate:
    return dataclasses.replace(FINALITY, **changes)


def _aggregate(bits: bytes | None = None, signature: bytes | None = None) -> SyncAggregate:
    agg = FINALITY.sync_aggregate
    return SyncAggregate(agg.sync_committee_bits if bits is None else bits,
                         agg.sync_committee_signature if signature is None else signature)


def _execution(header: Any, **changes: Any) -> Any:
    return dataclasses.replace(header, execution=dataclasses.replace(header.execution, **changes))


FINALITY_FORGERIES: dict[str, tuple[Callable[[], LightClientFinalityUpdate], Check]] = {
    "another update's signature": (
        lambda: _finality(sync_aggregate=_aggregate(signature=_other_signature())),
        Check.SIGNATURE),
    "a signature with one bit flipped": (
        lambda: _finality(sync_aggregate=_aggregate(
            signature=_flip(FINALITY.sync_aggregate.sync_committee_signature))),
        Check.SIGNATURE),
    "a signer bit turned off": (
        lambda: _finality(sync_aggregate=_aggregate(
            bits=_flip(FINALITY.sync_aggregate.sync_committee_bits, 3))),
        Check.SIGNATURE),
    "no signer at all": (
        lambda: _finality(sync_aggregate=_aggregate(bits=bytes(64))), Check.PARTICIPATION),
    "another attested header under the signature": (
        lambda: _finality(attested_header=OPTIMISTIC.attested_header,
                          signature_slot=OPTIMISTIC.signature_slot),
        Check.FINALITY_BRANCH),
    "an execution hash not under the finalized header": (
        lambda: _finality(finalized_header=_execution(FINALITY.finalized_header,
                                                      block_hash=bytes(range(32)))),
        Check.EXECUTION_BRANCH),
    "an execution block number not under the finalized header": (
        lambda: _finality(finalized_header=_execution(FINALITY.finalized_header,
                                                      block_number=17923027)),
        Check.EXECUTION_BRANCH),
    "an execution hash not under the attested header": (
        lambda: _finality(attested_header=_execution(FINALITY.attested_header,
                                                     block_hash=bytes(32))),
        Check.EXECUTION_BRANCH),
    "a finalized header that is not the attested state's checkpoint": (
        lambda: _finality(finalized_header=UPDATES[5].finalized_header), Check.FINALITY_BRANCH),
    "a finality branch with one node changed": (
        lambda: _finality(finality_branch=(FINALITY.finality_branch[0],
                                           _flip(FINALITY.finality_branch[1]),
                                           *FINALITY.finality_branch[2:])),
        Check.FINALITY_BRANCH),
    "a signature slot not after the attested slot": (
        lambda: _finality(signature_slot=FINALITY.attested_header.beacon.slot),
        Check.SIGNATURE_SLOT),
    "an update signed in a later period than the store can verify": (
        lambda: _finality(signature_slot=MAINNET.period_start_slot(869)), Check.UPDATE_PERIOD),
}


@pytest.mark.parametrize("name", list(FINALITY_FORGERIES))
def test_a_forged_finality_update_is_refused_by_its_check(name: str) -> None:
    make, check = FINALITY_FORGERIES[name]
    store = _store()
    before = _snapshot(store)
    with pytest.raises(ConsensusError) as refused:
        process_light_client_finality_update(MAINNET, store, make(), MAINNET.period_start_slot(870))
    assert refused.value.check == check, refused.value
    assert _snapshot(store) == before


def test_an_update_from_the_future_is_refused() -> None:
    store = _store()
    with pytest.raises(ConsensusError) as refused:
        process_light_client_finality_update(MAINNET, store, FINALITY,
                                             FINALITY.signature_slot - 1)
    assert refused.value.check == Check.UPDATE_FROM_FUTURE
    assert refused.value.details == {"signature_slot": FINALITY.signature_slot,
                                     "current_slot": FINALITY.signature_slot - 1}


def test_a_finality_update_older_than_the_one_held_is_not_relevant() -> None:
    store = _store()
    process_light_client_finality_update(MAINNET, store, FINALITY, NOW)
    older = UPDATES[5]  # period 867's best update: attested at 7104190, finalized 7104096
    assert older.attested_header.beacon.slot <= store.finalized_header.beacon.slot == 7109344
    before = _snapshot(store)
    with pytest.raises(ConsensusError) as refused:
        process_light_client_update(MAINNET, store, older, NOW)
    assert refused.value.check == Check.UPDATE_NOT_RELEVANT
    assert _snapshot(store) == before


def test_a_swapped_next_committee_is_refused() -> None:
    """The period 862 update carrying period 864's committee (real keys, another
    period's) instead of its own: not the one in the attested state."""
    store = _store(0)
    swapped = dataclasses.replace(UPDATES[0], next_sync_committee=UPDATES[1].next_sync_committee)
    with pytest.raises(ConsensusError) as refused:
        process_light_client_update(MAINNET, store, swapped, NOW)
    assert refused.value.check == Check.NEXT_SYNC_COMMITTEE_BRANCH
    assert store.next_sync_committee.is_empty()


def test_a_next_committee_unlike_the_one_verified_is_refused() -> None:
    store = _store(1)
    again = dataclasses.replace(UPDATES[0], next_sync_committee=UPDATES[1].next_sync_committee)
    with pytest.raises(ConsensusError) as refused:
        process_light_client_update(MAINNET, store, again, NOW)
    assert refused.value.check in (Check.UPDATE_NOT_RELEVANT,
                                   Check.NEXT_SYNC_COMMITTEE_MISMATCH)


def test_a_bootstrap_with_a_swapped_committee_is_refused() -> None:
    committee = BOOTSTRAP.current_sync_committee
    swapped = dataclasses.replace(BOOTSTRAP, current_sync_committee=dataclasses.replace(
        committee, pubkeys=(*committee.pubkeys[1:], committee.pubkeys[0])))
    with pytest.raises(ConsensusError) as refused:
        initialize_light_client_store(MAINNET, CHECKPOINT, swapped)
    assert refused.value.check == Check.CURRENT_SYNC_COMMITTEE_BRANCH


def test_a_bootstrap_of_another_block_is_refused() -> None:
    with pytest.raises(ConsensusError) as refused:
        initialize_light_client_store(MAINNET, bytes(32), BOOTSTRAP)
    assert refused.value.check == Check.CHECKPOINT_ROOT


def test_a_bootstrap_with_a_bad_execution_branch_is_refused() -> None:
    forged = dataclasses.replace(BOOTSTRAP, header=_execution(BOOTSTRAP.header,
                                                              block_hash=bytes(32)))
    with pytest.raises(ConsensusError) as refused:
        initialize_light_client_store(MAINNET, CHECKPOINT, forged)
    assert refused.value.check == Check.EXECUTION_BRANCH


def test_skipping_a_period_is_refused() -> None:
    store = _store(1)  # verified: period 862's next committee (863)
    with pytest.raises(ConsensusError) as refused:
        process_light_client_update(MAINNET, store, UPDATES[3], NOW)  # period 865
    assert refused.value.check == Check.UPDATE_PERIOD


def test_data_of_a_fork_that_does_not_match_its_slot_is_refused() -> None:
    answer = _load("finality.json")
    answer["version"] = "deneb"
    with pytest.raises(ConsensusError) as refused:
        decode_json(MAINNET, "finality_update", answer)
    assert refused.value.check == Check.MALFORMED  # deneb's shape: blob fields missing
    answer["version"] = "gloas"
    with pytest.raises(ConsensusError) as refused:
        decode_json(MAINNET, "finality_update", answer)
    assert refused.value.check == Check.FORK


def test_capella_data_declared_as_deneb_with_blob_fields_is_refused_by_its_fork() -> None:
    answer = _load("finality.json")
    answer["version"] = "deneb"
    for header in ("attested_header", "finalized_header"):
        answer["data"][header]["execution"].update(blob_gas_used="0", excess_blob_gas="0")
    with pytest.raises(ConsensusError) as refused:
        decode_json(MAINNET, "finality_update", answer)
    assert refused.value.check == Check.FORK


def test_malformed_json_is_refused_as_malformed() -> None:
    answer = _load("bootstrap.json")
    answer["data"]["current_sync_committee"]["pubkeys"].pop()
    with pytest.raises(ConsensusError) as refused:
        decode_json(MAINNET, "bootstrap", answer)
    assert refused.value.check == Check.MALFORMED
    assert "pubkeys" in refused.value.message
