"""The BLS wrapper against the spec's BLS (its own backend, py-arkworks-bls12381) with
the spec's test keys: FastAggregateVerify over any subset of a committee, duplicates
included, and every invalid key or signature refused as the IETF spec says."""

from __future__ import annotations

import pytest
from eth_consensus_specs.test.helpers.keys import privkeys, pubkeys
from eth_consensus_specs.utils import bls as spec_bls

from bizra_node.consensus.bls import CommitteeKeys, fast_aggregate_verify

MESSAGE = b"\x42" * 32
KEYS = [bytes(pk) for pk in pubkeys[:16]]
COMMITTEE = CommitteeKeys([*KEYS, KEYS[3]])  # a validator may sit twice in a committee
INFINITY = b"\xc0" + bytes(47)


def _signed(indices: list[int], message: bytes = MESSAGE) -> bytes:
    keys = [*range(16), 3]
    return bytes(spec_bls.Aggregate([spec_bls.Sign(privkeys[keys[i]], message) for i in indices]))


@pytest.mark.parametrize("indices", [[0], [0, 1, 2], list(range(17)), [3, 16], [5, 9, 16]])
def test_a_subset_verifies_as_the_spec_says(indices: list[int]) -> None:
    signature = _signed(indices)
    assert COMMITTEE.verify(indices, MESSAGE, signature)
    assert spec_bls.FastAggregateVerify([[*KEYS, KEYS[3]][i] for i in indices], MESSAGE, signature)


def test_the_wrong_message_or_the_wrong_signers_fail() -> None:
    signature = _signed([0, 1])
    assert not COMMITTEE.verify([0, 1], b"\x43" * 32, signature)
    assert not COMMITTEE.verify([0, 2], MESSAGE, signature)
    assert not COMMITTEE.verify([0], MESSAGE, signature)
    assert not COMMITTEE.verify([], MESSAGE, signature)


def test_invalid_signatures_fail() -> None:
    good = _signed([0])
    assert not COMMITTEE.verify([0], MESSAGE, good[:-1])
    assert not COMMITTEE.verify([0], MESSAGE, bytes(96))
    assert not COMMITTEE.verify([0], MESSAGE, b"\xc0" + bytes(95))  # the identity
    flipped = good[:50] + bytes([good[50] ^ 1]) + good[51:]
    assert not COMMITTEE.verify([0], MESSAGE, flipped)


def test_an_invalid_key_fails_only_the_updates_it_signs() -> None:
    """Keys that fail KeyValidate (the identity, a non-point) are kept as missing: the
    spec's FastAggregateVerify fails when a participant holds one."""
    committee = CommitteeKeys([KEYS[0], INFINITY, b"\x80" + bytes(46) + b"\x01", KEYS[1]])
    assert len(committee) == 4
    signature = _signed([0, 1])
    assert committee.verify([0, 3], MESSAGE, signature)
    assert not committee.verify([0, 1, 3], MESSAGE, signature)
    assert not committee.verify([0, 2, 3], MESSAGE, signature)
    assert not spec_bls.FastAggregateVerify([KEYS[0], INFINITY, KEYS[1]], MESSAGE, signature)


def test_the_bytes_form_parses_each_call() -> None:
    assert fast_aggregate_verify(KEYS[:2], MESSAGE, _signed([0, 1]))
    assert not fast_aggregate_verify(KEYS[:2], MESSAGE, _signed([0]))
