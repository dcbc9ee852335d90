from __future__ import annotations

import pytest

from bizra_node.apikeys import KEY_PREFIX, parse_scopes
from bizra_node.security import KeyHasher, generate_key


def test_keys_are_long_random_and_prefixed() -> None:
    keys = {generate_key() for _ in range(100)}
    assert len(keys) == 100
    for key in keys:
        assert key.startswith(KEY_PREFIX)
        assert len(key) - len(KEY_PREFIX) >= 43  # 32 bytes of base64url: 256 bits


def test_keyed_hash() -> None:
    a, b = KeyHasher("a" * 32), KeyHasher("b" * 32)
    assert a.hash("bzk_x") == a.hash("bzk_x")
    assert a.hash("bzk_x") != b.hash("bzk_x")  # the secret matters
    assert len(a.hash("bzk_x")) == 32
    assert a.hash("bzk_\udcff") != a.hash("bzk_")  # undecodable input hashes, never raises
    with pytest.raises(ValueError):
        KeyHasher("short")


def test_scopes() -> None:
    assert parse_scopes("rpc, validate,rpc") == ("rpc", "validate")
    with pytest.raises(ValueError, match="unknown"):
        parse_scopes("validate,admin")
    with pytest.raises(ValueError):
        parse_scopes(" , ")
