"""Light-client data as it travels: the beacon API's JSON (``{"version", "data"}``) and
SSZ bytes named by a fork digest (the spec's test vectors, the API's SSZ answers).

The fork decides the container's shape, so it is checked: the version the server
declares must be a fork this client knows and the fork of the slot the data is about
(the attested header's, the bootstrap header's), as the beacon API and the req/resp
protocol define it. Anything malformed is a :class:`ConsensusError` (``malformed`` or
``fork``), never an exception of the parser's.
"""

from __future__ import annotations

from typing import Any, Literal, TypeVar, overload

from .checks import Check, ConsensusError
from .containers import (
    LightClientBootstrap,
    LightClientFinalityUpdate,
    LightClientOptimisticUpdate,
    LightClientUpdate,
    Schemas,
    schemas,
)
from .forks import Fork, NetworkConfig
from .ssz import Container, SszError

__all__ = ["Kind", "decode_json", "decode_ssz"]

Kind = Literal["bootstrap", "update", "finality_update", "optimistic_update"]
T = TypeVar("T")


def _fork(config: NetworkConfig, version: object) -> Fork:
    if not isinstance(version, str):
        raise ConsensusError(Check.MALFORMED, "the answer has no version")
    try:
        fork = Fork.from_key(version)
    except ValueError:
        raise ConsensusError(Check.FORK, f"light-client data of fork {version!r}, which this "
                             "client does not know") from None
    if fork < Fork.ALTAIR:
        raise ConsensusError(Check.FORK, f"light-client data of fork {version!r}")
    return fork


def _slot_of(value: object) -> int:
    if isinstance(value, LightClientBootstrap):
        return value.header.beacon.slot
    if isinstance(value, LightClientUpdate | LightClientFinalityUpdate
                  | LightClientOptimisticUpdate):
        return value.attested_header.beacon.slot
    raise TypeError(type(value))


def _schema(s: Schemas, kind: Kind) -> Container[Any]:
    by_kind: dict[str, Container[Any]] = {
        "bootstrap": s.bootstrap, "update": s.update, "finality_update": s.finality_update,
        "optimistic_update": s.optimistic_update}
    return by_kind[kind]


def _checked(config: NetworkConfig, fork: Fork, value: T) -> T:
    slot = _slot_of(value)
    expected = config.fork_at_slot(slot)
    if expected != fork:
        raise ConsensusError(Check.FORK, f"the data is in {fork.key}'s shape but its slot "
                             f"{slot} is in {expected.key}")
    return value


@overload
def decode_json(config: NetworkConfig, kind: Literal["bootstrap"],
                obj: object) -> LightClientBootstrap: ...
@overload
def decode_json(config: NetworkConfig, kind: Literal["update"],
                obj: object) -> LightClientUpdate: ...
@overload
def decode_json(config: NetworkConfig, kind: Literal["finality_update"],
                obj: object) -> LightClientFinalityUpdate: ...
@overload
def decode_json(config: NetworkConfig, kind: Literal["optimistic_update"],
                obj: object) -> LightClientOptimisticUpdate: ...
def decode_json(config: NetworkConfig, kind: Kind, obj: object) -> object:
    """One ``{"version": ..., "data": ...}`` object of the beacon API."""
    if not isinstance(obj, dict):
        raise ConsensusError(Check.MALFORMED, f"{kind}: expected an object")
    fork = _fork(config, obj.get("version"))
    schema = _schema(schemas(fork, config.preset.sync_committee_size), kind)
    try:
        value = schema.from_json(obj.get("data"), kind)
    except SszError as exc:
        raise ConsensusError(Check.MALFORMED, str(exc)) from None
    return _checked(config, fork, value)


@overload
def decode_ssz(config: NetworkConfig, kind: Literal["bootstrap"], digest: bytes,
               data: bytes) -> LightClientBootstrap: ...
@overload
def decode_ssz(config: NetworkConfig, kind: Literal["update"], digest: bytes,
               data: bytes) -> LightClientUpdate: ...
@overload
def decode_ssz(config: NetworkConfig, kind: Literal["finality_update"], digest: bytes,
               data: bytes) -> LightClientFinalityUpdate: ...
@overload
def decode_ssz(config: NetworkConfig, kind: Literal["optimistic_update"], digest: bytes,
               data: bytes) -> LightClientOptimisticUpdate: ...
def decode_ssz(config: NetworkConfig, kind: Kind, digest: bytes, data: bytes) -> object:
    """SSZ bytes of the fork whose digest is ``digest``."""
    fork = config.fork_of_digest(digest)
    if fork is None:
        raise ConsensusError(Check.FORK, f"no scheduled fork has the digest 0x{digest.hex()}")
    schema = _schema(schemas(fork, config.preset.sync_committee_size), kind)
    try:
        value = schema.decode(data, kind)
    except SszError as exc:
        raise ConsensusError(Check.MALFORMED, str(exc)) from None
    return _checked(config, fork, value)
