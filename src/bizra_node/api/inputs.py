"""Request bodies of the validation routes, decoded and checked by msgspec."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import msgspec

from ..errors import ValidationError
from .http import Request

__all__ = ["AddressRequest", "BlockRequest", "TransactionRequest", "json_input"]

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


_JSON = "application/json"


def _require_json(req: Request) -> None:
    ctype = req.header("content-type")
    if ctype == _JSON:  # what nearly every client sends: no parsing
        return
    ctype = (ctype or "").split(";", 1)[0].strip().lower()
    if ctype != _JSON:
        raise ValidationError("Content-Type must be application/json",
                              {"reason": "unsupported_media_type", "contentType": ctype or None})


def json_input(kind: type[T], network_id: int) -> Callable[[Request], T]:
    """A route's ``parse``: a JSON body of ``kind`` (Content-Type checked, decoded and
    type-checked by msgspec), whose ``networkId``, when given, is the one served."""
    decode = msgspec.json.Decoder(kind).decode
    networked = "networkId" in getattr(kind, "__struct_fields__", ())

    def parse(req: Request) -> T:
        if req.header("content-type") != _JSON:  # the common case costs one comparison
            _require_json(req)
        try:
            body = decode(req.body)
        except msgspec.ValidationError as exc:
            raise ValidationError("request body does not match the schema",
                                  {"reason": "schema", "error": str(exc)}) from None
        except msgspec.DecodeError as exc:
            raise ValidationError("request body is not valid JSON",
                                  {"reason": "malformed_json", "error": str(exc)}) from None
        requested = body.networkId if networked else None  # type: ignore[attr-defined]
        if requested is not None and requested != network_id:
            raise ValidationError("this node does not serve that network",
                                  {"reason": "unsupported_network", "networkId": requested,
                                   "served": network_id})
        return body  # type: ignore[no-any-return]

    return parse
