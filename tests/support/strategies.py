"""Hypothesis strategies the property tests share (one definition each)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

junk: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), st.integers(), st.text(max_size=20),
    st.sampled_from(["0x", "0x0", "0xzz", "0x" + "ff" * 33, "0x1_0", "0x" + "00" * 32]),
    st.lists(st.one_of(st.text(max_size=4), st.integers()), max_size=2),
    st.dictionaries(st.text(max_size=3), st.text(max_size=3)))
"""A JSON value an upstream might put where a field belongs: null, the wrong type,
hex that is not hex or too long, a list or an object where a quantity goes."""
