"""Header hashes from the fields, and parent links down to an anchor."""

from __future__ import annotations

import random
from typing import Any

import pytest

from bizra_node.validation.trust import (
    Anchor,
    AnchorSource,
    Check,
    header_hash,
    verify_chain,
    verify_header,
)

from .conftest import Chain, clone, fails


def _headers(devnet: Chain, lo: int, hi: int) -> list[dict[str, Any]]:
    return [devnet.block(n, full=False) for n in range(lo, hi + 1)]


def _anchor(header: dict[str, Any]) -> Anchor:
    return Anchor(int(header["number"], 16), bytes.fromhex(header["hash"][2:]),
                  AnchorSource.CHECKPOINT)


def test_every_block_hashes_to_its_hash(trust_chain: Chain) -> None:
    """Genesis to head, with every fork field anvil's default hardfork has (London's
    base fee to Prague's requestsHash)."""
    for n in range(trust_chain.manifest.head + 1):
        block = trust_chain.block(n, full=False)
        assert "requestsHash" in block
        assert "0x" + header_hash(block).hex() == block["hash"]
        assert verify_header(block).number == n


@pytest.mark.parametrize("field, value", [
    ("timestamp", "0x1"), ("stateRoot", "0x" + "11" * 32), ("transactionsRoot", "0x" + "22" * 32),
    ("receiptsRoot", "0x" + "33" * 32), ("withdrawalsRoot", "0x" + "44" * 32),
    ("requestsHash", "0x" + "55" * 32), ("baseFeePerGas", "0x1"), ("gasUsed", "0x1"),
    ("extraData", "0x01"), ("parentHash", "0x" + "66" * 32),
])
def test_tampered_header(trust_chain: Chain, field: str, value: str) -> None:
    block = trust_chain.block(3, full=False)
    block[field] = value
    fails(Check.HEADER_HASH, verify_header, block)


def test_dropped_fork_field_changes_the_hash(trust_chain: Chain) -> None:
    block = trust_chain.block(3, full=False)
    del block["requestsHash"]
    fails(Check.HEADER_HASH, verify_header, block)


def test_asked_for_another_block(trust_chain: Chain) -> None:
    block = trust_chain.block(3, full=False)
    err = fails(Check.HEADER_HASH, verify_header, block, expected_hash=b"\x01" * 32)
    assert "asked for" in err.message


@pytest.mark.parametrize("edit", [{"hash": None}, {"number": "3"}, {"logsBloom": "0x00"},
                                  {"miner": "0x" + "11" * 21}, {"nonce": "0x00"},
                                  {"stateRoot": 5}, {"withdrawalsRoot": "0x12"}])
def test_malformed_header(trust_chain: Chain, edit: dict[str, Any]) -> None:
    block = trust_chain.block(3, full=False)
    block.update(edit)
    fails(Check.HEADER_HASH, verify_header, block)
    fails(Check.HEADER_HASH, verify_header, "not a header")


def test_chain_above_the_anchor_in_any_order(trust_chain: Chain) -> None:
    headers = _headers(trust_chain, 2, 9)
    anchor, run = _anchor(headers[0]), headers[1:]
    random.Random(1).shuffle(run)
    linked = verify_chain(run, anchor)
    assert [h.number for h in linked] == list(range(3, 10))


def test_chain_containing_the_anchor(trust_chain: Chain) -> None:
    """Blocks below the anchor are proven by the anchor naming them as ancestors."""
    headers = _headers(trust_chain, 2, 9)
    assert verify_chain(headers, _anchor(headers[-1]))[0].number == 2
    assert verify_chain(headers, _anchor(headers[4]))[-1].number == 9
    assert len(verify_chain([headers[4]], _anchor(headers[4]))) == 1


def test_forged_parent_link(trust_chain: Chain) -> None:
    """A header whose parentHash was changed no longer has its hash; one re-hashed by
    the liar no longer links to its parent."""
    headers = _headers(trust_chain, 2, 6)
    anchor = _anchor(headers[0])
    forged = clone(headers)
    forged[3]["parentHash"] = "0x" + "77" * 32
    fails(Check.HEADER_HASH, verify_chain, forged[1:], anchor)
    forged[3]["hash"] = "0x" + header_hash(forged[3]).hex()
    err = fails(Check.PARENT_LINK, verify_chain, forged[1:], anchor)
    assert "parentHash" in err.message


def test_a_chain_that_does_not_reach_the_anchor(trust_chain: Chain) -> None:
    headers = _headers(trust_chain, 2, 8)
    fails(Check.PARENT_LINK, verify_chain, headers[3:], _anchor(headers[0]))  # a gap below
    fails(Check.PARENT_LINK, verify_chain, headers[:3], _anchor(headers[-1]))  # the anchor is far above
    fails(Check.PARENT_LINK, verify_chain, headers[:2] + headers[3:], _anchor(headers[0]))  # a hole
    fails(Check.PARENT_LINK, verify_chain, [], _anchor(headers[0]))
    other = Anchor(4, b"\x09" * 32, AnchorSource.QUORUM)  # another chain's block 4
    fails(Check.PARENT_LINK, verify_chain, headers, other)
    fails(Check.PARENT_LINK, verify_chain, headers[3:], Anchor(4, b"\x09" * 32, AnchorSource.QUORUM))


def test_a_block_of_another_chain_with_the_same_number(trust_chain: Chain) -> None:
    headers = _headers(trust_chain, 2, 5)
    stranger = clone(headers[2])
    stranger["extraData"] = "0x01"
    stranger["hash"] = "0x" + header_hash(stranger).hex()
    fails(Check.PARENT_LINK, verify_chain, [headers[1], stranger, headers[3]], _anchor(headers[0]))
