"""BLS12-381 for the sync committee: FastAggregateVerify over the participants' keys.

Through blspy's proof-of-possession scheme (the Ethereum ciphersuite,
``BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_``), chosen by measurement
(scripts/bench_bls.py, docs/consensus.md): FastAggregateVerify of 512 keys took
~3 ms with keys parsed once, against ~4 ms for py-arkworks-bls12381 and ~150 ms for
milagro-bls-binding, which takes bytes and so decompresses all 512 keys per call.

A committee's keys are parsed (decompressed, subgroup-checked) once: a sync committee
serves ~27 hours, so each update costs one aggregation of points and one pairing check.
A key that fails the IETF KeyValidate (not a point, not in the subgroup, or the
identity, which blspy alone would accept) is kept as missing: as in the spec, only an
update one of whose *participants* holds such a key fails.
"""

from __future__ import annotations

from collections.abc import Sequence

import blspy

__all__ = ["CommitteeKeys", "fast_aggregate_verify"]

_IDENTITY = blspy.G1Element()


def _parse_key(pubkey: bytes) -> blspy.G1Element | None:
    try:
        point = blspy.G1Element.from_bytes(pubkey)
    except (ValueError, RuntimeError):
        return None
    return None if point == _IDENTITY else point


class CommitteeKeys:
    """One sync committee's public keys, parsed once."""

    __slots__ = ("_points",)

    def __init__(self, pubkeys: Sequence[bytes]) -> None:
        self._points = [_parse_key(pk) for pk in pubkeys]

    def __len__(self) -> int:
        return len(self._points)

    def verify(self, participants: Sequence[int], message: bytes, signature: bytes) -> bool:
        """FastAggregateVerify(the keys at ``participants``, message, signature): False
        for no participant, an invalid participant key or an invalid signature."""
        if not participants:
            return False
        points = []
        for index in participants:
            point = self._points[index]
            if point is None:
                return False
            points.append(point)
        try:
            sig = blspy.G2Element.from_bytes(signature)
        except (ValueError, RuntimeError):
            return False
        return bool(blspy.PopSchemeMPL.fast_aggregate_verify(points, message, sig))


def fast_aggregate_verify(pubkeys: Sequence[bytes], message: bytes, signature: bytes) -> bool:
    """The IETF FastAggregateVerify over compressed keys (parses them each call)."""
    return CommitteeKeys(pubkeys).verify(range(len(pubkeys)), message, signature)
