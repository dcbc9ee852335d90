"""The light client's containers, one class each for every fork, and their SSZ schemas.

The classes are the spec's latest shapes (Electra/Fulu, which are Deneb's plus longer
branches): an execution payload header with Deneb's blob fields, branches as tuples of
whatever length the data carried. Data of an earlier fork is read with that fork's
schema and lands in the same classes with the missing fields at their defaults, which
is what the spec's ``upgrade_lc_*`` functions do; the verifier then hashes each header
with the schema of its slot's fork (``get_lc_execution_root``) and checks branches of
any length with the spec's *normalized* Merkle rule, so one code path serves Altair to
Fulu.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .forks import Fork
from .ssz import (
    BYTES20,
    BYTES32,
    BYTES48,
    BYTES96,
    UINT64,
    UINT256,
    ZERO32,
    Bitvector,
    ByteList,
    ByteVector,
    Container,
    Vector,
)

__all__ = [
    "BEACON_BLOCK_HEADER",
    "CURRENT_SYNC_COMMITTEE_GINDEX",
    "CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA",
    "EXECUTION_CAPELLA",
    "EXECUTION_DENEB",
    "EXECUTION_PAYLOAD_GINDEX",
    "FINALIZED_ROOT_GINDEX",
    "FINALIZED_ROOT_GINDEX_ELECTRA",
    "NEXT_SYNC_COMMITTEE_GINDEX",
    "NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA",
    "BeaconBlockHeader",
    "ExecutionPayloadHeader",
    "LightClientBootstrap",
    "LightClientFinalityUpdate",
    "LightClientHeader",
    "LightClientOptimisticUpdate",
    "LightClientUpdate",
    "Schemas",
    "SyncAggregate",
    "SyncCommittee",
    "schemas",
]

# Generalized indices in the BeaconState (Altair..Deneb, then Electra's larger state)
# and in the BeaconBlockBody (the execution payload, Capella on).
CURRENT_SYNC_COMMITTEE_GINDEX = 54
NEXT_SYNC_COMMITTEE_GINDEX = 55
FINALIZED_ROOT_GINDEX = 105
CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA = 86
NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA = 87
FINALIZED_ROOT_GINDEX_ELECTRA = 169
EXECUTION_PAYLOAD_GINDEX = 25


def _depth(gindex: int) -> int:
    return gindex.bit_length() - 1


@dataclass(frozen=True, slots=True)
class BeaconBlockHeader:
    slot: int = 0
    proposer_index: int = 0
    parent_root: bytes = ZERO32
    state_root: bytes = ZERO32
    body_root: bytes = ZERO32


@dataclass(frozen=True, slots=True)
class ExecutionPayloadHeader:
    """Deneb's shape (Capella's plus the two blob fields, zero before Deneb)."""

    parent_hash: bytes = ZERO32
    fee_recipient: bytes = bytes(20)
    state_root: bytes = ZERO32
    receipts_root: bytes = ZERO32
    logs_bloom: bytes = bytes(256)
    prev_randao: bytes = ZERO32
    block_number: int = 0
    gas_limit: int = 0
    gas_used: int = 0
    timestamp: int = 0
    extra_data: bytes = b""
    base_fee_per_gas: int = 0
    block_hash: bytes = ZERO32
    transactions_root: bytes = ZERO32
    withdrawals_root: bytes = ZERO32
    blob_gas_used: int = 0
    excess_blob_gas: int = 0


_EMPTY_EXECUTION_BRANCH = (ZERO32,) * _depth(EXECUTION_PAYLOAD_GINDEX)


@dataclass(frozen=True, slots=True)
class LightClientHeader:
    beacon: BeaconBlockHeader = BeaconBlockHeader()
    execution: ExecutionPayloadHeader = ExecutionPayloadHeader()
    execution_branch: tuple[bytes, ...] = _EMPTY_EXECUTION_BRANCH


@dataclass(frozen=True, slots=True)
class SyncCommittee:
    pubkeys: tuple[bytes, ...]
    aggregate_pubkey: bytes

    @classmethod
    def empty(cls, size: int) -> SyncCommittee:
        return cls((bytes(48),) * size, bytes(48))

    def is_empty(self) -> bool:
        """The spec's ``SyncCommittee()`` (all zero): how a store says "not known"."""
        zero = bytes(48)
        return self.aggregate_pubkey == zero and all(pk == zero for pk in self.pubkeys)


@dataclass(frozen=True, slots=True)
class SyncAggregate:
    sync_committee_bits: bytes
    """Bitvector[SYNC_COMMITTEE_SIZE] as its SSZ bytes."""
    sync_committee_signature: bytes

    def participants(self) -> int:
        return sum(b.bit_count() for b in self.sync_committee_bits)

    def bit(self, index: int) -> bool:
        return bool(self.sync_committee_bits[index >> 3] >> (index & 7) & 1)


@dataclass(frozen=True, slots=True)
class LightClientBootstrap:
    header: LightClientHeader
    current_sync_committee: SyncCommittee
    current_sync_committee_branch: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class LightClientUpdate:
    attested_header: LightClientHeader
    next_sync_committee: SyncCommittee
    next_sync_committee_branch: tuple[bytes, ...]
    finalized_header: LightClientHeader
    finality_branch: tuple[bytes, ...]
    sync_aggregate: SyncAggregate
    signature_slot: int


@dataclass(frozen=True, slots=True)
class LightClientFinalityUpdate:
    attested_header: LightClientHeader
    finalized_header: LightClientHeader
    finality_branch: tuple[bytes, ...]
    sync_aggregate: SyncAggregate
    signature_slot: int


@dataclass(frozen=True, slots=True)
class LightClientOptimisticUpdate:
    attested_header: LightClientHeader
    sync_aggregate: SyncAggregate
    signature_slot: int


BEACON_BLOCK_HEADER = Container(BeaconBlockHeader, [
    ("slot", UINT64), ("proposer_index", UINT64), ("parent_root", BYTES32),
    ("state_root", BYTES32), ("body_root", BYTES32)])

EXECUTION_CAPELLA = Container(ExecutionPayloadHeader, [
    ("parent_hash", BYTES32), ("fee_recipient", BYTES20), ("state_root", BYTES32),
    ("receipts_root", BYTES32), ("logs_bloom", ByteVector(256)), ("prev_randao", BYTES32),
    ("block_number", UINT64), ("gas_limit", UINT64), ("gas_used", UINT64),
    ("timestamp", UINT64), ("extra_data", ByteList(32)), ("base_fee_per_gas", UINT256),
    ("block_hash", BYTES32), ("transactions_root", BYTES32), ("withdrawals_root", BYTES32)])

EXECUTION_DENEB = Container(ExecutionPayloadHeader, [
    *EXECUTION_CAPELLA.fields, ("blob_gas_used", UINT64), ("excess_blob_gas", UINT64)])


@dataclass(frozen=True, slots=True)
class Schemas:
    """The SSZ/JSON schemas of one fork's light-client data for one committee size."""

    fork: Fork
    header: Container[LightClientHeader]
    sync_committee: Container[SyncCommittee]
    bootstrap: Container[LightClientBootstrap]
    update: Container[LightClientUpdate]
    finality_update: Container[LightClientFinalityUpdate]
    optimistic_update: Container[LightClientOptimisticUpdate]


@functools.lru_cache(maxsize=32)
def schemas(fork: Fork, sync_committee_size: int) -> Schemas:
    """The schemas of ``fork``'s light-client containers (Altair on)."""
    if fork < Fork.ALTAIR:
        raise ValueError("light-client data begins with Altair")
    if fork >= Fork.CAPELLA:
        execution = EXECUTION_DENEB if fork >= Fork.DENEB else EXECUTION_CAPELLA
        header = Container(LightClientHeader, [
            ("beacon", BEACON_BLOCK_HEADER), ("execution", execution),
            ("execution_branch", Vector(BYTES32, _depth(EXECUTION_PAYLOAD_GINDEX)))])
    else:
        header = Container(LightClientHeader, [("beacon", BEACON_BLOCK_HEADER)])
    electra = fork >= Fork.ELECTRA
    current = _depth(CURRENT_SYNC_COMMITTEE_GINDEX_ELECTRA if electra
                     else CURRENT_SYNC_COMMITTEE_GINDEX)
    nxt = _depth(NEXT_SYNC_COMMITTEE_GINDEX_ELECTRA if electra else NEXT_SYNC_COMMITTEE_GINDEX)
    final = _depth(FINALIZED_ROOT_GINDEX_ELECTRA if electra else FINALIZED_ROOT_GINDEX)
    committee = Container(SyncCommittee, [
        ("pubkeys", Vector(BYTES48, sync_committee_size)), ("aggregate_pubkey", BYTES48)])
    aggregate = Container(SyncAggregate, [
        ("sync_committee_bits", Bitvector(sync_committee_size)),
        ("sync_committee_signature", BYTES96)])
    return Schemas(
        fork=fork,
        header=header,
        sync_committee=committee,
        bootstrap=Container(LightClientBootstrap, [
            ("header", header), ("current_sync_committee", committee),
            ("current_sync_committee_branch", Vector(BYTES32, current))]),
        update=Container(LightClientUpdate, [
            ("attested_header", header), ("next_sync_committee", committee),
            ("next_sync_committee_branch", Vector(BYTES32, nxt)),
            ("finalized_header", header), ("finality_branch", Vector(BYTES32, final)),
            ("sync_aggregate", aggregate), ("signature_slot", UINT64)]),
        finality_update=Container(LightClientFinalityUpdate, [
            ("attested_header", header), ("finalized_header", header),
            ("finality_branch", Vector(BYTES32, final)),
            ("sync_aggregate", aggregate), ("signature_slot", UINT64)]),
        optimistic_update=Container(LightClientOptimisticUpdate, [
            ("attested_header", header), ("sync_aggregate", aggregate),
            ("signature_slot", UINT64)]),
    )
