"""L2 entries sealed with their Redis key: a round trip opens; another key, another
secret, an altered byte or a short value does not."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bizra_node.cache.auth import TAG_BYTES, EntryAuth, derive_key

AUTH = EntryAuth(derive_key("a test secret"))


@given(key=st.text(max_size=40), payload=st.binary(max_size=300))
def test_what_is_sealed_opens_under_its_key(key: str, payload: bytes) -> None:
    stored = AUTH.seal(key, payload)
    assert len(stored) == TAG_BYTES + len(payload)
    assert AUTH.open(key, stored) == (payload if payload else None)  # a bare tag: nothing


def test_another_key_another_secret_or_an_altered_byte_does_not_open() -> None:
    stored = AUTH.seal("bizra:v1:1:tx:0xab", b'{"valid":true}')
    assert AUTH.open("bizra:v1:1:tx:0xac", stored) is None  # moved to another key
    assert EntryAuth(derive_key("another secret")).open("bizra:v1:1:tx:0xab", stored) is None
    for i in range(len(stored)):
        altered = bytearray(stored)
        altered[i] ^= 1
        assert AUTH.open("bizra:v1:1:tx:0xab", bytes(altered)) is None
    assert AUTH.open("bizra:v1:1:tx:0xab", stored[:TAG_BYTES]) is None


def test_the_key_is_derived_and_long_enough() -> None:
    assert derive_key("s") != b"s" and len(derive_key("s")) == 32
    with pytest.raises(ValueError):
        EntryAuth(b"short")
