"""The anchor's source: the sync committee's latest finalized and optimistic execution
blocks, refreshed in the background from one or more beacon APIs.

Every answer is verified (client.py, sync.py), so several beacon APIs are for
availability only: one honest API is enough, and a lying one is refused, counted by
the check it failed (``refusals``), logged, and the next one is asked. Each refresh
(one slot apart by default) walks the APIs from the last one that served until one
completes a round with a fresh head: bootstrap (once), period updates when the clock
has moved into a period the store cannot verify yet, the finality update, the
optimistic update. A round that leaves the optimistic head older than ``stale_after``
goes on to the next API (``stale`` counts them): an API can withhold, serving old but
valid data, and that must not hold the node back while another API is current.

The node's anchor takes it as a source (``ANCHOR_SOURCE=beacon``): ``start()`` in the
lifespan, ``finalized`` as the anchor, ``optimistic`` as the head claim, ``stop()`` on
shutdown. Nothing here blocks a request: the properties read what the last refresh
verified.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp

from ..resilience import Periodic
from .api import BeaconApi, BeaconApiError
from .checks import ConsensusError
from .client import Clock, ExecutionHead, LightClient
from .forks import NetworkConfig

__all__ = ["BeaconSource", "BeaconSourceConfig", "Changed", "Refused", "Unavailable"]

log = logging.getLogger("bizra_node.consensus")

Refused = Callable[[str, ConsensusError], None]
"""Called with (beacon API url, error) for each refused answer."""
Unavailable = Callable[[str, BeaconApiError], None]
"""Called with (beacon API url, error) for each failed request."""
Changed = Callable[[ExecutionHead | None, ExecutionHead | None], None]
"""Called with (finalized, optimistic) after a refresh that moved either."""


def _log_warnings(message: str) -> None:
    """The client's progress, of which the source logs the warnings only (an old
    checkpoint): the steps of each refresh are not news."""
    if message.startswith("warning:"):
        log.warning("beacon light client: %s", message.removeprefix("warning: "))


@dataclass(frozen=True, slots=True, kw_only=True)
class BeaconSourceConfig:
    urls: tuple[str, ...]
    """Beacon API base URLs, asked in turn (each answer is verified)."""
    checkpoint: bytes
    """The trusted beacon block root (32 bytes) the light client starts from."""
    network: NetworkConfig
    interval: float = 0.0
    """Seconds between refreshes (0: one slot of the network)."""
    timeout: float = 10.0
    """Seconds per beacon API request."""
    force_updates: bool = False
    """Apply the spec's forced update after a whole period without finality (off: the
    finalized head then stays at the last finalized block, which stays true)."""
    stale_after: int = 0
    """Slots: a round that leaves the optimistic head older than this asks the next API
    as well (all answers are verified, so the store takes the newest), so a withholding
    API cannot hold the node back while another serves newer data. 0: one epoch."""

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError("BeaconSourceConfig: at least one beacon API URL")
        if len(self.checkpoint) != 32:
            raise ValueError("BeaconSourceConfig: the checkpoint is a 32-byte block root")
        if self.interval < 0 or self.timeout <= 0 or self.stale_after < 0:
            raise ValueError("BeaconSourceConfig: interval >= 0, timeout > 0, stale_after >= 0")

    @property
    def period(self) -> float:
        return self.interval or self.network.seconds_per_slot

    @property
    def stale_slots(self) -> int:
        return self.stale_after or self.network.preset.slots_per_epoch


class BeaconSource:
    """The latest verified finalized and optimistic execution blocks (see the module)."""

    def __init__(self, config: BeaconSourceConfig, *,
                 session: aiohttp.ClientSession | None = None, clock: Clock | None = None,
                 on_refused: Refused | None = None, on_changed: Changed | None = None,
                 on_unavailable: Unavailable | None = None) -> None:
        self.config = config
        self._session = session
        self._own_session = session is None
        self._clock = clock or config.network.current_slot
        self._client = LightClient(config.network, config.checkpoint, clock=self._clock,
                                   progress=_log_warnings)
        self._apis: list[BeaconApi] = []
        self._next = 0
        self._synced = asyncio.Event()
        self._on_refused = on_refused
        self._on_changed = on_changed
        self._on_unavailable = on_unavailable
        self._task = Periodic("beacon light client", self.refresh, config.period,
                              logger=log, first_delay=0)
        self.refusals: Counter[str] = Counter()
        """Refused answers by the check they failed."""
        self.unavailable: Counter[str] = Counter()
        """Failed requests by beacon API URL."""
        self.stale: Counter[str] = Counter()
        """Rounds by beacon API URL that left the optimistic head older than
        ``stale_after`` (the next API was asked too)."""
        self.last_refresh: float | None = None
        """time.time() of the last refresh that completed a round."""

    # -- what the anchor reads --------------------------------------------------------------
    @property
    def finalized(self) -> ExecutionHead | None:
        """The execution block of the latest finalized beacon header verified (None
        until the first round completes)."""
        return self._client.finalized if self._synced.is_set() else None

    @property
    def optimistic(self) -> ExecutionHead | None:
        """The execution block of the latest attested beacon header signed by more than
        the safety threshold of the sync committee (the head claim)."""
        return self._client.optimistic if self._synced.is_set() else None

    @property
    def synced(self) -> bool:
        return self._synced.is_set()

    async def wait_synced(self, timeout: float) -> bool:
        """True once a round has completed, False after ``timeout`` seconds."""
        try:
            await asyncio.wait_for(self._synced.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def status(self) -> dict[str, object]:
        """For readiness and operators: sync state, heads, refusals, failures."""
        fin, opt = self.finalized, self.optimistic
        return {"synced": self.synced, "network": self.config.network.name,
                "currentSlot": self._clock(),
                "finalized": fin.to_json() if fin else None,
                "optimistic": opt.to_json() if opt else None,
                "refusals": dict(self.refusals), "unavailable": dict(self.unavailable),
                "stale": dict(self.stale), "lastRefresh": self.last_refresh}

    # -- lifecycle ------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the background refresh (the first round at once); returns without
        waiting for it (``wait_synced`` does)."""
        if self._session is None:
            self._session = aiohttp.ClientSession()
        self._apis = [BeaconApi(url, self._session, timeout=self.config.timeout)
                      for url in self.config.urls]
        self._task.start()

    async def stop(self) -> None:
        await self._task.stop()
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

    # -- one round --------------------------------------------------------------------------
    async def refresh(self) -> bool:
        """One round, from the APIs in turn until one completes it; True when one did.
        ``on_changed`` hears of any move of the heads, a round's or a partial one's (a
        refused finality update may still have moved the optimistic head, by the spec)."""
        if not self._apis:
            raise RuntimeError("start() first")
        before = (self.finalized, self.optimistic)
        try:
            return await self._round()
        finally:
            after = (self.finalized, self.optimistic)
            if after != before and self._on_changed is not None:
                self._on_changed(*after)

    async def _round(self) -> bool:
        completed = False
        for step in range(len(self._apis)):
            index = (self._next + step) % len(self._apis)
            api = self._apis[index]
            try:
                if self._client.store is None:
                    await self._client.bootstrap(api)
                await self._client.follow(api, force=self.config.force_updates)
            except ConsensusError as exc:
                self.refusals[exc.check] += 1
                log.warning("beacon light client: refused an answer of %s: %s", api.shown, exc)
                if self._on_refused is not None:
                    self._on_refused(api.url, exc)
                continue
            except BeaconApiError as exc:
                self.unavailable[api.url] += 1
                log.warning("beacon light client: %s unavailable: %s", api.shown, exc.message)
                if self._on_unavailable is not None:
                    self._on_unavailable(api.url, exc)
                continue
            if not completed:
                completed = True
                self.last_refresh = time.time()
                self._synced.set()
            head = self._client.optimistic
            if head is None or self._clock() - head.slot <= self.config.stale_slots:
                self._next = index
                return True
            self.stale[api.url] += 1
        return completed
