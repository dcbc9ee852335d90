"""The verification object: levels, anchors, camelCase JSON and a schema."""

from __future__ import annotations

import msgspec

from bizra_node.validation.trust import (
    Anchor,
    AnchorSource,
    Check,
    Level,
    Verification,
    verification,
)

ANCHOR = Anchor(120, b"\xab" * 32, AnchorSource.QUORUM)


def test_nothing_checked() -> None:
    assert verification([]) == Verification(level=Level.UNVERIFIED)
    assert msgspec.json.encode(verification([], ANCHOR)) == b'{"level":"unverified"}'


def test_consistent_without_a_link_to_the_anchor() -> None:
    v = verification([Check.TX_HASH, Check.HEADER_HASH, Check.TX_HASH], ANCHOR)
    assert v.level is Level.CONSISTENT and v.anchor is None
    assert v.checks == (Check.TX_HASH, Check.HEADER_HASH)


def test_anchored() -> None:
    v = verification([Check.HEADER_HASH, Check.PARENT_LINK], ANCHOR)
    doc = msgspec.json.decode(msgspec.json.encode(v))
    assert doc == {"level": "anchored", "anchor": "quorum", "anchorNumber": 120,
                   "anchorHash": "0x" + "ab" * 32, "checks": ["header_hash", "parent_link"]}
    assert msgspec.json.decode(msgspec.json.encode(v), type=Verification) == v


def test_first_use_is_said_plainly() -> None:
    tofu = Anchor(7, b"\x01" * 32, AnchorSource.FIRST_USE)
    assert b'"anchor":"first-use"' in msgspec.json.encode(
        verification([Check.PARENT_LINK], tofu))


def test_schema_lists_the_checks() -> None:
    schema = msgspec.json.schema(Verification)
    text = msgspec.json.encode(schema).decode()
    for check in Check:
        assert f'"{check.value}"' in text
    assert '"anchorNumber"' in text
