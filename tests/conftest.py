"""Shared fixtures: a real seeded anvil devnet and a node built on it.

Each test builds exactly the components it needs; nothing is mocked. Tests that
need Redis or PostgreSQL start their own (see tests/support) or use the machine's
services with a unique key prefix / database.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from bizra_node.api import ASGIApp
from bizra_node.app import Node
from bizra_node.devnet import Anvil, SeedManifest, seed
from bizra_node.settings import Settings
from bizra_node.tuning import HARNESS, TUNING, Harness, Tuning

if TYPE_CHECKING:
    from bizra_bench.trust_seed import TrustDevnet


SERIAL_PATHS = (
    # the performance gate: ratios of throughputs measured in the run
    "tests/bench/test_regression_gate.py",
    # three nodes, PostgreSQL primary and replica, Redis and HAProxy: a load run that
    # kills a node and times how soon HAProxy takes it out
    "tests/integration/cluster/",
    # resident memory, file descriptors and the kernel's TCP table of a served worker
    "tests/e2e/test_memory_bound.py",
    "tests/e2e/test_websocket_sockets.py",
    "tests/e2e/test_websocket_dead_peer.py",
    # timings: 1 s server timeouts, a rate limit's refill, kill -9 while a batch is queued,
    # workers killed under load within granian's 5.5 s window
    "tests/e2e/test_slow_clients.py",
    "tests/e2e/test_forwarded_for.py",
    "tests/e2e/test_durability_crash.py",
    "tests/e2e/test_worker_respawn.py",
)
"""Tests that must not share the machine with other tests (``serial``): they measure
time, memory or sockets of served processes, or load the machine themselves. Under
pytest-xdist (``make test TEST_WORKERS=N``) they run after the parallel part, alone:
``pytest -m serial``. The other end-to-end and benchmark tests run in the parallel part:
each starts its processes on free ports with data folders of its own."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = config.rootpath
    for item in items:
        path = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        if path.startswith(SERIAL_PATHS):
            item.add_marker(pytest.mark.serial)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--record-trust", dest="record_trust", default="", metavar="PATH",
                     help="run the trust unit tests against a fresh anvil and record its answers "
                          "to PATH (tests/fixtures/trust/record.py)")


@pytest.fixture(autouse=True)
def _environment_as_it_was() -> Iterator[None]:
    """Undo what a test, or code it runs in this process, left in ``os.environ``:
    ``cli.main(["serve", ...])`` exports PROMETHEUS_MULTIPROC_DIR (a directory it removes
    when it returns) and BIZRA_WORKERS for its workers, and a later test's node would
    read them and take itself for a worker of ``serve`` (prometheus_client picks its
    multiprocess values at import when the variable is set)."""
    before = dict(os.environ)
    yield
    if os.environ != before:
        os.environ.clear()
        os.environ.update(before)


@dataclass
class Devnet:
    anvil: Anvil
    manifest: SeedManifest

    @property
    def url(self) -> str:
        return self.anvil.url


@pytest.fixture(scope="session")
def devnet() -> Iterator[Devnet]:
    """One seeded anvil for the session. Tests must not change its automine setting
    or mine blocks unless they own a devnet of their own (``fresh_devnet``)."""
    anvil = Anvil().start()
    try:
        yield Devnet(anvil, seed(anvil.url))
    finally:
        anvil.stop()


@pytest.fixture
def fresh_devnet() -> Iterator[Devnet]:
    """A devnet of this test's own, free to mine, stop or reconfigure."""
    anvil = Anvil().start()
    try:
        yield Devnet(anvil, seed(anvil.url, extra_blocks=5))
    finally:
        anvil.stop()


@pytest.fixture
def deep_devnet() -> Iterator[Devnet]:
    """A devnet of this test's own whose finalized block is 16 behind the head (anvil:
    2 epochs of 8 slots), so reorgs of up to 15 blocks happen above finality."""
    anvil = Anvil(slots_in_an_epoch=8).start()
    try:
        yield Devnet(anvil, seed(anvil.url, extra_blocks=30))
    finally:
        anvil.stop()


@pytest.fixture(scope="session")
def trust_devnet() -> Iterator[TrustDevnet]:
    """One anvil for the session seeded for the trust checks (every transaction type,
    logs, storage, a delegated account, blocks of 1, 100 and 1 000 transactions).
    Read-only: tests must not send to it or mine on it. (Imported here, not at the top:
    eth-account and ckzg are slow to import and most test runs do not need them.)"""
    from bizra_bench.trust_seed import TrustDevnet, seed_trust, start_trust_anvil

    anvil = start_trust_anvil()
    try:
        yield TrustDevnet(anvil, seed_trust(anvil.url, big=(1, 100, 1000)))
    finally:
        anvil.stop()


SettingsFactory = Callable[..., Settings]
TEST_CACHE_SECRET = "test-secret-of-the-bizra-node-test-suite-0123456789"
"""CACHE_SECRET of test nodes (a Redis L2 needs one)."""


FOLLOW_HEADS: dict[str, Any] = {"head_follow_ws": "auto", "head_follow_interval": 0.25}
"""The head follower as in production: add ``**FOLLOW_HEADS`` to make_settings."""


def make_settings(upstream: str, **overrides: Any) -> Settings:
    """Settings for a test node: no database, no Redis unless asked for, and no head
    follower unless asked for (``**FOLLOW_HEADS``): its polls would add upstream calls
    to what tests count."""
    values: dict[str, Any] = {"bizra_node_url": upstream, "db_enabled": False, "redis_url": "",
                              "log_level": "warning", "retry_initial": 0.01,
                              "head_follow_ws": "off", "head_follow_interval": 0,
                              "cache_secret": TEST_CACHE_SECRET}
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


def tuned(**values: Any) -> Tuning:
    """The node's internal constants (bizra_node.tuning) with ``values`` changed."""
    return dataclasses.replace(TUNING, **values)


def split_tuning(values: dict[str, Any]) -> tuple[dict[str, Any], Tuning]:
    """``values`` as settings overrides and, apart, a Tuning of those that are its fields."""
    fields = {f.name for f in dataclasses.fields(Tuning)}
    return ({k: v for k, v in values.items() if k not in fields},
            tuned(**{k: v for k, v in values.items() if k in fields}))


@asynccontextmanager
async def running_node(settings: Settings, *, tuning: Tuning = TUNING,
                       harness: Harness = HARNESS, networks: Sequence[Settings] | None = None,
                       ) -> AsyncIterator[tuple[Node, httpx.AsyncClient]]:
    """A started Node and an HTTP client bound to its ASGI app (in-process); ``tuning``
    and ``harness``: other internal constants or benchmark switches (``tuned``);
    ``networks``: the settings of each network it serves (the default first)."""
    node = Node(settings, tuning=tuning, harness=harness, networks=networks)
    await node.start()
    try:
        transport = httpx.ASGITransport(app=ASGIApp(node))
        async with httpx.AsyncClient(transport=transport, base_url="http://node") as client:
            yield node, client
    finally:
        await node.stop()


@pytest.fixture
async def node_client(devnet: Devnet) -> AsyncIterator[tuple[Node, httpx.AsyncClient]]:
    async with running_node(make_settings(devnet.url)) as pair:
        yield pair
