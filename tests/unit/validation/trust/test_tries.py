"""The one-pass trie root builder gives the ``trie`` library's roots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from trie.hexary import HexaryTrie

from bizra_node.validation.trust import (
    EMPTY_TRIE_ROOT,
    decode_receipt,
    decode_transaction,
    ordered_trie_root,
    reference_trie_root,
    trie_root,
    withdrawals_root,
)

from .conftest import Chain

values = st.binary(min_size=1, max_size=120)


@settings(max_examples=300, deadline=None)
@given(st.lists(values, max_size=300))
def test_ordered_root_is_the_library_root(items: list[bytes]) -> None:
    assert ordered_trie_root(items) == reference_trie_root(items)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.binary(min_size=1, max_size=5), values, max_size=80))
def test_any_keys_including_prefixes_of_each_other(pairs: dict[bytes, bytes]) -> None:
    trie = HexaryTrie({})
    for key, value in pairs.items():
        trie.set(key, value)
    assert trie_root(list(pairs.items())) == trie.root_hash


@pytest.mark.parametrize("n", [0, 1, 2, 16, 17, 127, 128, 129, 256, 1025])
def test_index_boundaries(n: int) -> None:
    """rlp(index) changes shape at 128 (0x7f, then 0x8180) and 256 (0x820100)."""
    items = [bytes([i % 251 + 1]) * (1 + i % 40) for i in range(n)]
    assert ordered_trie_root(items) == reference_trie_root(items)


def test_empty_root() -> None:
    assert ordered_trie_root([]) == EMPTY_TRIE_ROOT == bytes(HexaryTrie({}).root_hash)


@pytest.mark.parametrize("count", [1, 100, 1000])
def test_real_blocks_with_the_library(trust_chain: Chain, count: int) -> None:
    number = trust_chain.manifest.big_blocks[count]
    block = trust_chain.block(number)
    receipts = trust_chain.call("eth_getBlockReceipts", hex(number))
    txs = [decode_transaction(tx).encoding for tx in block["transactions"]]
    rcs = [decode_receipt(r).encoding for r in receipts]
    assert len(txs) == len(rcs) == count
    for encodings, root in ((txs, block["transactionsRoot"]), (rcs, block["receiptsRoot"])):
        assert ordered_trie_root(encodings) == reference_trie_root(encodings)
        assert "0x" + ordered_trie_root(encodings).hex() == root


def test_mainnet_withdrawals() -> None:
    doc = json.loads((Path(__file__).parent / "data/mainnet_17826409_withdrawals.json").read_text())
    assert "0x" + withdrawals_root(doc["withdrawals"]).hex() == doc["withdrawalsRoot"]
    doc["withdrawals"][3]["amount"] = "0xe190f3"
    assert "0x" + withdrawals_root(doc["withdrawals"]).hex() != doc["withdrawalsRoot"]
