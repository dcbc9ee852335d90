"""What the validation integration tests share: a lying proxy in front of the trust
devnet, and a node behind given upstreams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from bizra_bench.trust_seed import TrustDevnet
from bizra_node.app import Node
from bizra_node.tuning import Harness
from tests.conftest import make_settings, running_node
from tests.support.lying_proxy import LyingProxy, lying_proxy


@asynccontextmanager
async def node_behind(*urls: str, **overrides: Any) -> AsyncIterator[
        tuple[Node, httpx.AsyncClient]]:
    """A node (anvil's blob leaves accepted) behind ``urls``."""
    settings = make_settings(",".join(urls), **overrides)
    async with running_node(settings, harness=Harness(pooled_blob_leaves=True)) as (node, client):
        yield node, client


@pytest.fixture
async def liar(trust_devnet: TrustDevnet) -> AsyncIterator[LyingProxy]:
    async with lying_proxy(trust_devnet.url) as proxy:
        yield proxy
