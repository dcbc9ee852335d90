"""TTL policy: by kind and finality; moving answers; never-cached ones."""

from __future__ import annotations

import pytest

from bizra_node.app import cache_config
from bizra_node.cache import NEVER, Ttl, TtlPolicy
from tests.conftest import make_settings


def test_from_settings() -> None:
    policy = cache_config(make_settings("http://127.0.0.1:1", ttl_final=1000,
                                        ttl_head=1.5)).policy
    assert policy.final == 1000 and policy.head == 1.5


def test_a_policy_checks_its_values() -> None:
    with pytest.raises(ValueError, match="recent"):
        TtlPolicy(recent=0)


def test_transactions() -> None:
    p = TtlPolicy()
    assert p.transaction(found=True, mined=True, final=True) == Ttl(p.final, final=True)
    assert p.transaction(found=True, mined=True, final=False) == Ttl(p.recent)
    assert p.transaction(found=True, mined=False, final=False) == Ttl(p.pending, moving=True)
    assert p.transaction(found=False, mined=False, final=False) == Ttl(p.not_found, moving=True)


def test_blocks() -> None:
    p = TtlPolicy()
    assert p.block(found=True, final=True, by_tag=False) == Ttl(p.final, final=True)
    assert p.block(found=True, final=False, by_tag=False) == Ttl(p.recent)
    assert p.block(found=True, final=True, by_tag=True) == Ttl(p.recent, moving=True)
    assert p.block(found=False, final=False, by_tag=False) == Ttl(p.not_found, moving=True)


def test_accounts() -> None:
    p = TtlPolicy()
    assert p.account() == Ttl(p.address, moving=True)
    assert NEVER.seconds == 0 and not NEVER.final
