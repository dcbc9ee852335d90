"""The direct keccak call gives eth-hash's keccak-256."""

from __future__ import annotations

from eth_hash.auto import keccak as reference
from hypothesis import given, settings
from hypothesis import strategies as st

from bizra_node.validation.trust._keccak import keccak


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_same_digest_as_eth_hash(data: bytes) -> None:
    assert keccak(data) == reference(data)


def test_known_digest() -> None:
    assert keccak(b"").hex() == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
