"""Request bodies of the validation routes, decoded and checked by msgspec."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from ..errors import ValidationError

__all__ = ["AddressRequest", "BlockRequest", "TransactionRequest", "decode_body"]

T = TypeVar("T")


class TransactionRequest(msgspec.Struct, forbid_unknown_fields=True):
    txHash: str
    networkId: int | None = None


class BlockRequest(msgspec.Struct, forbid_unknown_fields=True):
    blockNumber: int | str
    networkId: int | None = None


class AddressRequest(msgspec.Struct, forbid_unknown_fields=True):
    address: str
    networkId: int | None = None


_decoders: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def decode_body(body: bytes, kind: type[T]) -> T:
    """Decode and type-check a JSON body; any problem is a VALIDATION_ERROR."""
    decoder = _decoders.get(kind)
    if decoder is None:
        decoder = _decoders[kind] = msgspec.json.Decoder(kind)
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise ValidationError("request body does not match the schema",
                              {"reason": "schema", "error": str(exc)}) from None
    except msgspec.DecodeError as exc:
        raise ValidationError("request body is not valid JSON",
                              {"reason": "malformed_json", "error": str(exc)}) from None
