"""The hand-written RLP encoder gives the ``rlp`` library's bytes (it exists because it
is faster: tests/bench/trust_bench.py)."""

from __future__ import annotations

from typing import Any

import pytest
import rlp
from hypothesis import given, settings
from hypothesis import strategies as st

from bizra_node.validation.trust._rlp import encode

leaves = st.one_of(st.binary(max_size=80), st.integers(min_value=0, max_value=2**256),
                   st.binary(min_size=1, max_size=1))
items = st.recursive(leaves, lambda children: st.lists(children, max_size=8), max_leaves=40)


@settings(max_examples=400, deadline=None)
@given(items)
def test_same_bytes_as_the_library(item: Any) -> None:
    assert encode(item) == rlp.encode(item)


@pytest.mark.parametrize("item", [b"", b"\x00", b"\x7f", b"\x80", b"x" * 55, b"x" * 56, b"x" * 70000,
                                  0, 127, 128, 2**64, [], [[]], [b"x" * 60] * 3, (1, 2)])
def test_boundaries(item: Any) -> None:
    assert encode(item) == rlp.encode(list(item) if isinstance(item, tuple) else item)


def test_refuses_what_rlp_cannot_hold() -> None:
    with pytest.raises(ValueError):
        encode(-1)
    with pytest.raises(TypeError):
        encode("text")
