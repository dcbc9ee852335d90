"""The light client sync protocol: the spec's LightClientStore and its functions.

A line-by-line rendering of the consensus specs' ``sync-protocol.md`` (Altair, with
Capella's execution header, Deneb's blob fields and Electra's generalized indices),
with the names of the spec's functions, so the two can be read side by side. Every
``assert`` of the spec is a :class:`~.checks.ConsensusError` naming its check.

The tests run the consensus spec's own light-client sync vectors (Deneb, Electra)
through these functions, and compare them with the spec's Python on generated data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field

from .bls import CommitteeKeys
from .checks import Check, ConsensusError
from .containers import (
    BEACON_BLOCK_HEADER,
    CURRENT_SYNC_COMMITTEE_GINDEX,
    CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA,
    EXECUTION_CAPELLA,
    EXECUTION_DENEB,
    EXECUTION_PAYLOAD_GINDEX,
    FINALIZED_ROOT_GINDEX,
    FINALIZED_ROOT_GINDEX_ELECTRA,
    NEXT_SYNC_COMMITTEE_GINDEX,
    NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA,
    ExecutionPayloadHeader,
    LightClientBootstrap,
    LightClientFinalityUpdate,
    LightClientHeader,
    LightClientOptimisticUpdate,
    LightClientUpdate,
    SyncCommittee,
    schemas,
)
from .forks import Fork, NetworkConfig, compute_signing_root
from .ssz import ZERO32, is_valid_merkle_branch

__all__ = [
    "LightClientStore",
    "execution_root",
    "finality_update_as_update",
    "initialize_light_client_store",
    "is_better_update",
    "is_finality_update",
    "is_sync_committee_update",
    "is_valid_light_client_header",
    "optimistic_update_as_update",
    "process_light_client_finality_update",
    "process_light_client_optimistic_update",
    "process_light_client_store_force_update",
    "process_light_client_update",
    "validate_light_client_update",
]

_EMPTY_HEADER = LightClientHeader()
GENESIS_SLOT = 0


@dataclass(slots=True, eq=False)
class LightClientStore:
    """The spec's LightClientStore, plus the parsed keys of the committees it holds."""

    finalized_header: LightClientHeader
    current_sync_committee: SyncCommittee
    next_sync_committee: SyncCommittee
    best_valid_update: LightClientUpdate | None
    optimistic_header: LightClientHeader
    previous_max_active_participants: int
    current_max_active_participants: int
    _keys: dict[SyncCommittee, CommitteeKeys] = field(default_factory=dict, repr=False)

    def keys(self, committee: SyncCommittee) -> CommitteeKeys:
        """The committee's keys, parsed once while it is the store's current or next."""
        keys = self._keys.get(committee)
        if keys is None:
            live = (self.current_sync_committee, self.next_sync_committee)
            self._keys = {c: k for c, k in self._keys.items() if c in live}
            keys = self._keys[committee] = CommitteeKeys(committee.pubkeys)
        return keys


# -- helpers --------------------------------------------------------------------------

def _root(header: LightClientHeader) -> bytes:
    return BEACON_BLOCK_HEADER.hash_tree_root(header.beacon)


def _committee_root(config: NetworkConfig, committee: SyncCommittee) -> bytes:
    return schemas(Fork.ALTAIR, config.preset.sync_committee_size) \
        .sync_committee.hash_tree_root(committee)


def _is_zero_branch(branch: Sequence[bytes]) -> bool:
    return all(node == ZERO32 for node in branch)


def is_valid_normalized_merkle_branch(leaf: bytes, branch: Sequence[bytes], gindex: int,
                                      root: bytes) -> bool:
    depth = gindex.bit_length() - 1
    index = gindex % (1 << depth)
    extra = len(branch) - depth
    if extra < 0:
        return False
    if any(node != ZERO32 for node in branch[:extra]):
        return False
    return is_valid_merkle_branch(leaf, branch[extra:], depth, index, root)


def _electra(config: NetworkConfig, slot: int) -> bool:
    return config.fork_at_slot(slot) >= Fork.ELECTRA


def _current_sync_committee_gindex(config: NetworkConfig, slot: int) -> int:
    return CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA if _electra(config, slot) \
        else CURRENT_SYNC_COMMITTEE_GINDEX


def _next_sync_committee_gindex(config: NetworkConfig, slot: int) -> int:
    return NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA if _electra(config, slot) \
        else NEXT_SYNC_COMMITTEE_GINDEX


def _finalized_root_gindex(config: NetworkConfig, slot: int) -> int:
    return FINALIZED_ROOT_GINDEX_ELECTRA if _electra(config, slot) else FINALIZED_ROOT_GINDEX


def execution_root(config: NetworkConfig, header: LightClientHeader) -> bytes:
    """The spec's get_lc_execution_root: the execution header hashed in the shape of
    its slot's fork (zero before Capella)."""
    fork = config.fork_at_slot(header.beacon.slot)
    if fork >= Fork.DENEB:
        return EXECUTION_DENEB.hash_tree_root(header.execution)
    if fork >= Fork.CAPELLA:
        return EXECUTION_CAPELLA.hash_tree_root(header.execution)
    return ZERO32


def _period(config: NetworkConfig, slot: int) -> int:
    return config.period_at_slot(slot)


def _check(ok: bool, check: Check, message: str, **details: object) -> None:
    if not ok:
        raise ConsensusError(check, message, **details)


# -- the spec's functions ---------------------------------------------------------------

def is_valid_light_client_header(config: NetworkConfig, header: LightClientHeader) -> Check | None:
    """None when valid, else the check it fails (the spec returns a bool)."""
    fork = config.fork_at_slot(header.beacon.slot)
    execution = header.execution
    if fork < Fork.DENEB and (execution.blob_gas_used or execution.excess_blob_gas):
        return Check.HEADER_FORK_FIELDS
    if fork < Fork.CAPELLA:
        empty = execution == ExecutionPayloadHeader() and _is_zero_branch(header.execution_branch) \
            and len(header.execution_branch) == 4
        return None if empty else Check.HEADER_FORK_FIELDS
    depth = EXECUTION_PAYLOAD_GINDEX.bit_length() - 1
    if len(header.execution_branch) != depth or not is_valid_merkle_branch(
            execution_root(config, header), header.execution_branch, depth,
            EXECUTION_PAYLOAD_GINDEX % (1 << depth), header.beacon.body_root):
        return Check.EXECUTION_BRANCH
    return None


def _require_valid_header(config: NetworkConfig, header: LightClientHeader, what: str) -> None:
    failed = is_valid_light_client_header(config, header)
    if failed is Check.EXECUTION_BRANCH:
        raise ConsensusError(failed, f"the {what}'s execution payload header is not under its "
                             "beacon block body (bad execution branch)",
                             slot=header.beacon.slot)
    if failed is not None:
        raise ConsensusError(failed, f"the {what} carries fields its fork does not have",
                             slot=header.beacon.slot)


def is_sync_committee_update(update: LightClientUpdate) -> bool:
    return not _is_zero_branch(update.next_sync_committee_branch)


def is_finality_update(update: LightClientUpdate) -> bool:
    return not _is_zero_branch(update.finality_branch)


def is_better_update(config: NetworkConfig, new: LightClientUpdate,
                     old: LightClientUpdate) -> bool:
    size = config.preset.sync_committee_size
    new_active = new.sync_aggregate.participants()
    old_active = old.sync_aggregate.participants()
    new_super = new_active * 3 >= size * 2
    old_super = old_active * 3 >= size * 2
    if new_super != old_super:
        return new_super
    if not new_super and new_active != old_active:
        return new_active > old_active

    def relevant(u: LightClientUpdate) -> bool:
        return is_sync_committee_update(u) and (
            _period(config, u.attested_header.beacon.slot) == _period(config, u.signature_slot))

    if relevant(new) != relevant(old):
        return relevant(new)
    new_final, old_final = is_finality_update(new), is_finality_update(old)
    if new_final != old_final:
        return new_final
    if new_final:
        def committee_final(u: LightClientUpdate) -> bool:
            return _period(config, u.finalized_header.beacon.slot) == \
                _period(config, u.attested_header.beacon.slot)

        if committee_final(new) != committee_final(old):
            return committee_final(new)
    if new_active != old_active:
        return new_active > old_active
    if new.attested_header.beacon.slot != old.attested_header.beacon.slot:
        return new.attested_header.beacon.slot < old.attested_header.beacon.slot
    return new.signature_slot < old.signature_slot


def is_next_sync_committee_known(store: LightClientStore) -> bool:
    return not store.next_sync_committee.is_empty()


def get_safety_threshold(store: LightClientStore) -> int:
    return max(store.previous_max_active_participants, store.current_max_active_participants) // 2


def initialize_light_client_store(config: NetworkConfig, trusted_block_root: bytes,
                                  bootstrap: LightClientBootstrap) -> LightClientStore:
    _require_valid_header(config, bootstrap.header, "bootstrap header")
    root = _root(bootstrap.header)
    _check(root == trusted_block_root, Check.CHECKPOINT_ROOT,
           f"the bootstrap's block root 0x{root.hex()} is not the checkpoint "
           f"0x{trusted_block_root.hex()}")
    _check(is_valid_normalized_merkle_branch(
        _committee_root(config, bootstrap.current_sync_committee),
        bootstrap.current_sync_committee_branch,
        _current_sync_committee_gindex(config, bootstrap.header.beacon.slot),
        bootstrap.header.beacon.state_root), Check.CURRENT_SYNC_COMMITTEE_BRANCH,
        "the current sync committee is not the one in the checkpoint's state")
    return LightClientStore(
        finalized_header=bootstrap.header,
        current_sync_committee=bootstrap.current_sync_committee,
        next_sync_committee=SyncCommittee.empty(config.preset.sync_committee_size),
        best_valid_update=None,
        optimistic_header=bootstrap.header,
        previous_max_active_participants=0,
        current_max_active_participants=0,
    )


def validate_light_client_update(config: NetworkConfig, store: LightClientStore,
                                 update: LightClientUpdate, current_slot: int) -> None:
    size = config.preset.sync_committee_size
    aggregate = update.sync_aggregate
    participants = aggregate.participants()
    _check(participants >= config.preset.min_sync_committee_participants, Check.PARTICIPATION,
           f"{participants} of {size} sync committee members signed, fewer than "
           f"{config.preset.min_sync_committee_participants}")

    _require_valid_header(config, update.attested_header, "attested header")
    attested_slot = update.attested_header.beacon.slot
    finalized_slot = update.finalized_header.beacon.slot
    _check(current_slot >= update.signature_slot, Check.UPDATE_FROM_FUTURE,
           f"signed at slot {update.signature_slot}, after the current slot {current_slot}",
           signature_slot=update.signature_slot, current_slot=current_slot)
    _check(update.signature_slot > attested_slot, Check.SIGNATURE_SLOT,
           f"the signature slot {update.signature_slot} is not after the attested slot "
           f"{attested_slot}")
    _check(attested_slot >= finalized_slot, Check.FINALIZED_AFTER_ATTESTED,
           f"the finalized slot {finalized_slot} is after the attested slot {attested_slot}")
    store_period = _period(config, store.finalized_header.beacon.slot)
    signature_period = _period(config, update.signature_slot)
    if is_next_sync_committee_known(store):
        _check(signature_period in (store_period, store_period + 1), Check.UPDATE_PERIOD,
               f"signed in period {signature_period}; the store can verify periods "
               f"{store_period} and {store_period + 1}")
    else:
        _check(signature_period == store_period, Check.UPDATE_PERIOD,
               f"signed in period {signature_period}; the store can verify period "
               f"{store_period} only (its next sync committee is not known yet)")

    attested_period = _period(config, attested_slot)
    has_next_sync_committee = not is_next_sync_committee_known(store) and (
        is_sync_committee_update(update) and attested_period == store_period)
    _check(attested_slot > store.finalized_header.beacon.slot or has_next_sync_committee,
           Check.UPDATE_NOT_RELEVANT,
           f"attested at slot {attested_slot}, not after the finalized slot "
           f"{store.finalized_header.beacon.slot} held, and brings no next sync committee")

    if not is_finality_update(update):
        _check(update.finalized_header == _EMPTY_HEADER, Check.FINALIZED_HEADER_NOT_EMPTY,
               "a finalized header without a finality branch")
    else:
        if finalized_slot == GENESIS_SLOT:
            _check(update.finalized_header == _EMPTY_HEADER, Check.FINALIZED_HEADER_NOT_EMPTY,
                   "the genesis finalized header must be empty")
            finalized_root = ZERO32
        else:
            _require_valid_header(config, update.finalized_header, "finalized header")
            finalized_root = _root(update.finalized_header)
        _check(is_valid_normalized_merkle_branch(
            finalized_root, update.finality_branch,
            _finalized_root_gindex(config, attested_slot),
            update.attested_header.beacon.state_root), Check.FINALITY_BRANCH,
            "the finalized header is not the finalized checkpoint of the attested state")

    if not is_sync_committee_update(update):
        _check(update.next_sync_committee.is_empty(), Check.NEXT_SYNC_COMMITTEE_NOT_EMPTY,
               "a next sync committee without a branch")
    else:
        if attested_period == store_period and is_next_sync_committee_known(store):
            _check(update.next_sync_committee == store.next_sync_committee,
                   Check.NEXT_SYNC_COMMITTEE_MISMATCH,
                   "the next sync committee differs from the one already verified")
        _check(is_valid_normalized_merkle_branch(
            _committee_root(config, update.next_sync_committee),
            update.next_sync_committee_branch,
            _next_sync_committee_gindex(config, attested_slot),
            update.attested_header.beacon.state_root), Check.NEXT_SYNC_COMMITTEE_BRANCH,
            "the next sync committee is not the one in the attested state")

    committee = store.current_sync_committee if signature_period == store_period \
        else store.next_sync_committee
    indices = [i for i in range(size) if aggregate.bit(i)]
    domain = config.sync_committee_domain(update.signature_slot)
    signing_root = compute_signing_root(_root(update.attested_header), domain)
    _check(store.keys(committee).verify(indices, signing_root,
                                        aggregate.sync_committee_signature),
           Check.SIGNATURE,
           f"the sync committee's aggregate signature ({participants} of {size}) does not "
           f"verify for the attested header at slot {attested_slot}")


def apply_light_client_update(config: NetworkConfig, store: LightClientStore,
                              update: LightClientUpdate) -> None:
    store_period = _period(config, store.finalized_header.beacon.slot)
    finalized_period = _period(config, update.finalized_header.beacon.slot)
    if not is_next_sync_committee_known(store):
        _check(finalized_period == store_period, Check.APPLY_PERIOD,
               f"finalized in period {finalized_period}, the store is in {store_period}")
        store.next_sync_committee = update.next_sync_committee
    elif finalized_period == store_period + 1:
        store.current_sync_committee = store.next_sync_committee
        store.next_sync_committee = update.next_sync_committee
        store.previous_max_active_participants = store.current_max_active_participants
        store.current_max_active_participants = 0
    if update.finalized_header.beacon.slot > store.finalized_header.beacon.slot:
        store.finalized_header = update.finalized_header
        if store.finalized_header.beacon.slot > store.optimistic_header.beacon.slot:
            store.optimistic_header = store.finalized_header


def process_light_client_store_force_update(config: NetworkConfig, store: LightClientStore,
                                            current_slot: int) -> None:
    best = store.best_valid_update
    if current_slot > store.finalized_header.beacon.slot + config.preset.update_timeout \
            and best is not None:
        if best.finalized_header.beacon.slot <= store.finalized_header.beacon.slot:
            best = dataclasses.replace(best, finalized_header=best.attested_header)
        apply_light_client_update(config, store, best)
        store.best_valid_update = None


def process_light_client_update(config: NetworkConfig, store: LightClientStore,
                                update: LightClientUpdate, current_slot: int) -> None:
    validate_light_client_update(config, store, update, current_slot)
    size = config.preset.sync_committee_size
    participants = update.sync_aggregate.participants()

    if store.best_valid_update is None or is_better_update(config, update, store.best_valid_update):
        store.best_valid_update = update

    store.current_max_active_participants = max(store.current_max_active_participants,
                                                participants)

    if participants > get_safety_threshold(store) \
            and update.attested_header.beacon.slot > store.optimistic_header.beacon.slot:
        store.optimistic_header = update.attested_header

    has_finalized_next_sync_committee = (
        not is_next_sync_committee_known(store)
        and is_sync_committee_update(update)
        and is_finality_update(update)
        and _period(config, update.finalized_header.beacon.slot)
        == _period(config, update.attested_header.beacon.slot))
    if participants * 3 >= size * 2 and (
            update.finalized_header.beacon.slot > store.finalized_header.beacon.slot
            or has_finalized_next_sync_committee):
        apply_light_client_update(config, store, update)
        store.best_valid_update = None


def finality_update_as_update(config: NetworkConfig,
                              update: LightClientFinalityUpdate) -> LightClientUpdate:
    return LightClientUpdate(
        attested_header=update.attested_header,
        next_sync_committee=SyncCommittee.empty(config.preset.sync_committee_size),
        next_sync_committee_branch=(ZERO32,),
        finalized_header=update.finalized_header,
        finality_branch=update.finality_branch,
        sync_aggregate=update.sync_aggregate,
        signature_slot=update.signature_slot,
    )


def optimistic_update_as_update(config: NetworkConfig,
                                update: LightClientOptimisticUpdate) -> LightClientUpdate:
    return LightClientUpdate(
        attested_header=update.attested_header,
        next_sync_committee=SyncCommittee.empty(config.preset.sync_committee_size),
        next_sync_committee_branch=(ZERO32,),
        finalized_header=LightClientHeader(),
        finality_branch=(ZERO32,),
        sync_aggregate=update.sync_aggregate,
        signature_slot=update.signature_slot,
    )


def process_light_client_finality_update(config: NetworkConfig, store: LightClientStore,
                                         update: LightClientFinalityUpdate,
                                         current_slot: int) -> None:
    process_light_client_update(config, store, finality_update_as_update(config, update),
                                current_slot)


def process_light_client_optimistic_update(config: NetworkConfig, store: LightClientStore,
                                           update: LightClientOptimisticUpdate,
                                           current_slot: int) -> None:
    process_light_client_update(config, store, optimistic_update_as_update(config, update),
                                current_slot)
