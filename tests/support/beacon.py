"""A beacon node's light-client REST API for tests, over real light-client data.

``BeaconServer`` serves the endpoints a light client uses (bootstrap, updates by
period, finality and optimistic updates, genesis, config/spec) from a ``BeaconData``:
``RecordedBeacon`` replays recorded mainnet JSON (tests/fixtures/consensus/mainnet);
tests/support/beacon_chain.py builds a chain of its own with the consensus spec's
helpers. ``tamper`` rewrites an endpoint's JSON on its way out, so a test can make the
server lie (a forged signature, a swapped committee, ...) over real HTTP; ``requests``
counts what was asked (the updates endpoint's pages by their ``count``).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from aiohttp import web

__all__ = ["MAINNET_FIXTURES", "BeaconData", "BeaconServer", "BeaconThread", "RecordedBeacon",
           "period_of"]

MAINNET_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "consensus" / "mainnet"
Json = Any
Tamper = Callable[[Json], Json]


def period_of(update: Json, slots_per_period: int = 8192) -> int:
    return int(update["data"]["attested_header"]["beacon"]["slot"]) // slots_per_period


class BeaconData(Protocol):
    def bootstrap(self, root: str) -> Json | None: ...
    def updates(self, start: int, count: int) -> list[Json]: ...
    def finality_update(self) -> Json | None: ...
    def optimistic_update(self) -> Json | None: ...
    def genesis(self) -> Json: ...
    def config(self) -> Json: ...


class RecordedBeacon:
    """Mainnet light-client data recorded by a16z/helios (see the fixtures' README):
    a Capella bootstrap at slot 7069376, the updates of periods 862-867, a finality
    and an optimistic update around slot 7109431."""

    GENESIS_TIME = 1606824023
    GENESIS_VALIDATORS_ROOT = "0x4b363db94e286120d76eb905340fdd4e54bfe9f06bf33ff6cf5ad27f511bfe95"

    def __init__(self, root: Path = MAINNET_FIXTURES) -> None:
        self._bootstrap = json.loads((root / "bootstrap.json").read_text())
        self._updates = json.loads((root / "updates.json").read_text())
        self._finality = json.loads((root / "finality.json").read_text())
        self._optimistic = json.loads((root / "optimistic.json").read_text())
        self.checkpoint = ""
        """The bootstrap's block root (0x-hex), set by whoever computes it."""

    def bootstrap(self, root: str) -> Json | None:
        return self._bootstrap if root == self.checkpoint else None

    def updates(self, start: int, count: int) -> list[Json]:
        return [u for u in self._updates if start <= period_of(u) < start + count]

    def finality_update(self) -> Json | None:
        return self._finality

    def optimistic_update(self) -> Json | None:
        return self._optimistic

    def genesis(self) -> Json:
        return {"data": {"genesis_time": str(self.GENESIS_TIME),
                         "genesis_validators_root": self.GENESIS_VALIDATORS_ROOT,
                         "genesis_fork_version": "0x00000000"}}

    def config(self) -> Json:
        return {"data": {"PRESET_BASE": "mainnet", "CONFIG_NAME": "mainnet",
                         "SECONDS_PER_SLOT": "12", "GENESIS_FORK_VERSION": "0x00000000",
                         "ALTAIR_FORK_VERSION": "0x01000000", "ALTAIR_FORK_EPOCH": "74240",
                         "BELLATRIX_FORK_VERSION": "0x02000000",
                         "BELLATRIX_FORK_EPOCH": "144896",
                         "CAPELLA_FORK_VERSION": "0x03000000", "CAPELLA_FORK_EPOCH": "194048",
                         "DENEB_FORK_VERSION": "0x04000000", "DENEB_FORK_EPOCH": "269568"}}


MAX_REQUEST_LIGHT_CLIENT_UPDATES = 128


class BeaconServer:
    """The light-client endpoints of the beacon API over ``data``, on a free loopback
    port (``await start()`` returns the URL)."""

    def __init__(self, data: BeaconData) -> None:
        self.data = data
        self.tamper: dict[str, Tamper] = {}
        """Endpoint (bootstrap, updates, finality_update, optimistic_update) -> rewrite of
        its JSON (returning bytes sends them raw)."""
        self.requests: Counter[str] = Counter()
        self.pages: list[tuple[int, int]] = []
        """(start_period, count) of each updates request."""
        self.url = ""
        self._runner: web.AppRunner | None = None

    def _answer(self, kind: str, body: Json | None) -> web.Response:
        self.requests[kind] += 1
        if body is None:
            return web.json_response({"code": 404, "message": f"no {kind}"}, status=404)
        rewrite = self.tamper.get(kind)
        if rewrite is not None:
            body = rewrite(json.loads(json.dumps(body)))
            if isinstance(body, bytes):  # raw bytes: sent as they are
                return web.Response(body=body, content_type="application/json")
        return web.json_response(body)

    async def _bootstrap(self, request: web.Request) -> web.Response:
        return self._answer("bootstrap", self.data.bootstrap(request.match_info["root"]))

    async def _updates(self, request: web.Request) -> web.Response:
        try:
            start = int(request.query["start_period"])
            count = int(request.query["count"])
        except (KeyError, ValueError):
            return web.json_response({"code": 400, "message": "start_period, count"}, status=400)
        self.pages.append((start, count))
        if not 1 <= count <= MAX_REQUEST_LIGHT_CLIENT_UPDATES:
            return web.json_response({"code": 400, "message": "count must be 1..128"}, status=400)
        return self._answer("updates", self.data.updates(start, count))

    async def _finality(self, request: web.Request) -> web.Response:
        return self._answer("finality_update", self.data.finality_update())

    async def _optimistic(self, request: web.Request) -> web.Response:
        return self._answer("optimistic_update", self.data.optimistic_update())

    async def _genesis(self, request: web.Request) -> web.Response:
        return self._answer("genesis", self.data.genesis())

    async def _spec(self, request: web.Request) -> web.Response:
        return self._answer("spec", self.data.config())

    async def start(self) -> str:
        app = web.Application()
        prefix = "/eth/v1/beacon/light_client"
        app.router.add_get(prefix + "/bootstrap/{root}", self._bootstrap)
        app.router.add_get(prefix + "/updates", self._updates)
        app.router.add_get(prefix + "/finality_update", self._finality)
        app.router.add_get(prefix + "/optimistic_update", self._optimistic)
        app.router.add_get("/eth/v1/beacon/genesis", self._genesis)
        app.router.add_get("/eth/v1/config/spec", self._spec)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


class BeaconThread:
    """A ``BeaconServer`` on an event loop of its own thread, for tests whose own thread
    blocks (a node in a subprocess waited for with sleeps): ``start()`` returns the URL;
    ``server.tamper`` may be changed from the test's thread."""

    def __init__(self, data: BeaconData) -> None:
        self.server = BeaconServer(data)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="beacon-api",
                                        daemon=True)

    def start(self) -> str:
        self._thread.start()
        return asyncio.run_coroutine_threadsafe(self.server.start(), self._loop).result(30)

    def stop(self) -> None:
        if not self._thread.is_alive():
            return
        asyncio.run_coroutine_threadsafe(self.server.stop(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(30)
        self._loop.close()
