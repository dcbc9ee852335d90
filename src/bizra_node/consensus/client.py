"""A light client: one store, bootstrapped from a checkpoint and fed from beacon APIs.

The order is Helios's and the spec's: the bootstrap for the trusted block root (its
sync committee checked against the block's state root), then the best update of each
period up to the current one, asked in pages of at most 128 periods (an old checkpoint
still syncs), then the latest finality and optimistic updates. Every piece goes through
sync.py's checks before it changes the store; the first one that fails raises its
:class:`ConsensusError` (each piece is validated whole before it changes the store).

The heads it reports are the execution blocks inside the verified beacon headers: the
finalized header's (the anchor) and the optimistic header's (the head claim).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .api import MAX_REQUEST_LIGHT_CLIENT_UPDATES, BeaconApi
from .checks import Check, ConsensusError
from .containers import BEACON_BLOCK_HEADER, LightClientHeader
from .forks import Fork, NetworkConfig
from .sync import (
    LightClientStore,
    initialize_light_client_store,
    is_next_sync_committee_known,
    process_light_client_finality_update,
    process_light_client_optimistic_update,
    process_light_client_store_force_update,
    process_light_client_update,
)

__all__ = ["Clock", "ExecutionHead", "LightClient", "Progress"]

WEAK_SUBJECTIVITY_DAYS = 14
"""A checkpoint older than this is warned about (the usual weak-subjectivity rule;
Helios checks the same age): it still syncs, but rests on committees that may have
exited."""

Clock = Callable[[], int]
"""The current slot (the wall clock's, or a fixed one to replay recorded data)."""
Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ExecutionHead:
    """An execution block named by a verified beacon block header."""

    slot: int
    """The beacon block's slot."""
    beacon_root: bytes
    """hash_tree_root of the beacon block header."""
    number: int
    """The execution block's number."""
    block_hash: bytes
    """The execution block's hash (32 bytes)."""

    @classmethod
    def of(cls, config: NetworkConfig, header: LightClientHeader) -> ExecutionHead | None:
        """None for a header before Capella (no execution header in light-client data)."""
        if config.fork_at_slot(header.beacon.slot) < Fork.CAPELLA:
            return None
        return cls(slot=header.beacon.slot,
                   beacon_root=BEACON_BLOCK_HEADER.hash_tree_root(header.beacon),
                   number=header.execution.block_number, block_hash=header.execution.block_hash)

    def to_json(self) -> dict[str, object]:
        return {"slot": self.slot, "executionBlockNumber": self.number,
                "executionBlockHash": "0x" + self.block_hash.hex()}


def _quiet(_: str) -> None:
    return None


class LightClient:
    """The store and the steps that move it. Not safe for concurrent steps: one task
    (the command, or the anchor source's refresh) drives it."""

    def __init__(self, config: NetworkConfig, checkpoint: bytes, *, clock: Clock,
                 progress: Progress | None = None) -> None:
        if len(checkpoint) != 32:
            raise ValueError("the checkpoint is a 32-byte beacon block root")
        self.config = config
        self.checkpoint = checkpoint
        self.clock = clock
        self.store: LightClientStore | None = None
        self._progress = progress or _quiet
        self._heads: list[tuple[LightClientHeader, ExecutionHead | None]] = []

    # -- what it knows ------------------------------------------------------------------
    @property
    def finalized(self) -> ExecutionHead | None:
        return None if self.store is None else self._head(self.store.finalized_header)

    @property
    def optimistic(self) -> ExecutionHead | None:
        return None if self.store is None else self._head(self.store.optimistic_header)

    def _head(self, header: LightClientHeader) -> ExecutionHead | None:
        """ExecutionHead.of, remembered for the last two headers (the anchor may read
        the heads per request; a header's root costs a few hashes)."""
        for seen, head in self._heads:
            if seen is header:
                return head
        head = ExecutionHead.of(self.config, header)
        self._heads = [(header, head), *self._heads[:1]]
        return head

    def _store(self) -> LightClientStore:
        if self.store is None:
            raise RuntimeError("bootstrap first")
        return self.store

    def _period(self, slot: int) -> int:
        return self.config.period_at_slot(slot)

    # -- steps ----------------------------------------------------------------------------
    async def bootstrap(self, api: BeaconApi) -> None:
        bootstrap = await api.bootstrap(self.config, self.checkpoint)
        self.store = initialize_light_client_store(self.config, self.checkpoint, bootstrap)
        slot = bootstrap.header.beacon.slot
        self._progress(f"bootstrap: checkpoint at slot {slot} (period {self._period(slot)}), "
                       f"its sync committee verified against the block's state")
        days = (self.clock() - slot) * self.config.seconds_per_slot / 86400
        if days > WEAK_SUBJECTIVITY_DAYS:
            self._progress(f"warning: the checkpoint is {days:.0f} days old, older than the "
                           f"{WEAK_SUBJECTIVITY_DAYS}-day weak-subjectivity rule: pick a "
                           "recent one (docs/trust.md)")

    async def sync_periods(self, api: BeaconApi) -> None:
        """Period updates until the store reaches the current period (or the server has
        nothing more that moves it)."""
        store = self._store()
        while True:
            current_period = self._period(self.clock())
            store_period = self._period(store.finalized_header.beacon.slot)
            known = is_next_sync_committee_known(store)
            start = store_period + 1 if known else store_period
            if start > current_period:
                return
            count = min(MAX_REQUEST_LIGHT_CLIENT_UPDATES, current_period - start + 1)
            updates = await api.updates(self.config, start, count)
            self._progress(f"updates: periods {start}..{start + count - 1} asked, "
                           f"{len(updates)} received")
            for update in updates:
                process_light_client_update(self.config, store, update, self.clock())
                self._progress(
                    f"period {self._period(update.attested_header.beacon.slot)}: "
                    f"{update.sync_aggregate.participants()}/{self.config.preset.sync_committee_size}"
                    f" signed; finalized slot {store.finalized_header.beacon.slot}")
            moved = (self._period(store.finalized_header.beacon.slot),
                     is_next_sync_committee_known(store)) != (store_period, known)
            if not moved:
                return

    async def follow(self, api: BeaconApi, *, force: bool = False) -> None:
        """The latest finality and optimistic updates (after period updates when the
        clock has moved into a period the store cannot verify yet). ``force``: apply the
        spec's forced update when finality has stalled for a whole period."""
        store = self._store()
        current = self.clock()
        if self._period(current) > self._period(store.finalized_header.beacon.slot) + (
                1 if is_next_sync_committee_known(store) else 0):
            await self.sync_periods(api)
        if force:
            process_light_client_store_force_update(self.config, store, current)
        finality = await api.finality_update(self.config)
        held = store.finalized_header.beacon.slot
        if finality.finalized_header.beacon.slot < held:
            raise ConsensusError(
                Check.FINALITY_OLDER_THAN_HELD,
                f"the finality update names slot {finality.finalized_header.beacon.slot}, "
                f"older than the finalized slot {held} already verified")
        process_light_client_finality_update(self.config, store, finality, self.clock())
        named = finality.finalized_header.beacon.slot
        if store.finalized_header.beacon.slot < named:
            signed = finality.sync_aggregate.participants()
            raise ConsensusError(
                Check.FINALITY_SUPERMAJORITY,
                f"{signed} of {self.config.preset.sync_committee_size} sync committee members "
                f"signed the finality of slot {named}; finality needs 2/3")
        self._progress(f"finality update: attested slot {finality.attested_header.beacon.slot}"
                       f", finalized slot {store.finalized_header.beacon.slot}")
        optimistic = await api.optimistic_update(self.config)
        process_light_client_optimistic_update(self.config, store, optimistic, self.clock())
        self._progress(f"optimistic update: attested slot "
                       f"{optimistic.attested_header.beacon.slot}, optimistic slot "
                       f"{store.optimistic_header.beacon.slot}")
