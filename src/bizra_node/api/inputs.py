"""Request bodies of the validation routes, decoded and checked by msgspec.

The field types carry the patterns of ``validation.inputs``: the OpenAPI document
shows them, msgspec checks the lengths while decoding, and the field's parser checks
the whole pattern (the handlers run it on every full-path request; the fast lane
answers only keys that passed it before). msgspec could check the patterns itself, but
that costs ~0.4 µs per body (its regex; measured: 119 -> 514 ns per decode, against
126 ns with the lengths), an eighth of an L1 hit in process, for a check the parser
makes anyway. When msgspec refuses a field, the field's parser is run on the value to
say precisely what is wrong with it (on the error path only).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from typing import Annotated, Any, TypeVar

import msgspec

from ..errors import ValidationError
from ..validation import (
    ADDRESS_PATTERN,
    BLOCK_REF_PATTERN,
    HASH_PATTERN,
    MAX_BLOCK_NUMBER,
    parse_address,
    parse_block_ref,
    parse_tx_hash,
)
from .depth import MAX_JSON_DEPTH, too_deep
from .http import Request

__all__ = ["MAX_BATCH_HASHES", "AddressRequest", "BlockRequest", "TransactionRequest",
           "TransactionsRequest", "json_input", "network_mismatch", "unknown_network"]

T = TypeVar("T")

TxHash = Annotated[str, msgspec.Meta(
    min_length=66, max_length=66, extra_json_schema={"pattern": HASH_PATTERN},
    description="0x-prefixed 32-byte transaction hash")]
Address = Annotated[str, msgspec.Meta(
    min_length=42, max_length=42, extra_json_schema={"pattern": ADDRESS_PATTERN},
    description="0x-prefixed 20-byte address; mixed case must be valid EIP-55")]
BlockNumber = Annotated[int, msgspec.Meta(ge=0, le=MAX_BLOCK_NUMBER)]
BlockRefText = Annotated[str, msgspec.Meta(
    min_length=1, max_length=19, extra_json_schema={"pattern": BLOCK_REF_PATTERN},
    description="decimal number, 0x quantity, or latest / finalized / safe")]
NetworkId = Annotated[int, msgspec.Meta(ge=0, le=2**63 - 1)]


class TransactionRequest(msgspec.Struct, forbid_unknown_fields=True):
    txHash: TxHash
    networkId: NetworkId | None = None


MAX_BATCH_HASHES = 100
"""Transaction hashes one POST /api/v1/validate/transactions may name."""


class TransactionsRequest(msgspec.Struct, forbid_unknown_fields=True):
    txHashes: Annotated[list[TxHash], msgspec.Meta(
        min_length=1, max_length=MAX_BATCH_HASHES,
        description=f"1 to {MAX_BATCH_HASHES} transaction hashes, answered in this order")]
    networkId: NetworkId | None = None


class BlockRequest(msgspec.Struct, forbid_unknown_fields=True):
    blockNumber: BlockNumber | BlockRefText
    networkId: NetworkId | None = None


class AddressRequest(msgspec.Struct, forbid_unknown_fields=True):
    address: Address
    networkId: NetworkId | None = None


_JSON = "application/json"
_FIELD = re.compile(r"- at `\$\.(\w+)`$")
_CHECKS: dict[str, Callable[[Any], object]] = {
    "txHash": parse_tx_hash, "address": parse_address, "blockNumber": parse_block_ref}
"""The parser whose message says what is wrong with a field the schema refused."""


def _require_json(req: Request) -> None:
    ctype = req.header("content-type")
    if ctype == _JSON:  # what nearly every client sends: no parsing
        return
    ctype = (ctype or "").split(";", 1)[0].strip().lower()
    if ctype != _JSON:
        raise ValidationError("Content-Type must be application/json",
                              {"reason": "unsupported_media_type", "contentType": ctype or None})


def _schema_error(body: bytes, exc: msgspec.ValidationError) -> ValidationError:
    """The precise error of the field the schema refused, else the schema's message."""
    found = _FIELD.search(str(exc))
    check = _CHECKS.get(found.group(1)) if found else None
    if check is not None and found is not None:
        try:
            doc = msgspec.json.decode(body)
            check(doc[found.group(1)])
        except ValidationError as precise:
            return precise
        except Exception:
            pass
    return ValidationError("request body does not match the schema",
                           {"reason": "schema", "error": str(exc)[:500]})


def _undecodable(body: bytes, exc: Exception) -> ValidationError:
    """The 400 for a body msgspec could not decode. Invalid UTF-8 is told apart by
    looking at the body, not at the exception's type: msgspec before 0.23 raised
    UnicodeDecodeError for it inside a string, 0.23 raises DecodeError (the type changed
    under a range pin and broke this answer once). Runs only on the error path."""
    try:
        body.decode()
    except UnicodeDecodeError:
        return ValidationError("request body is not valid UTF-8", {"reason": "invalid_utf8"})
    return ValidationError("request body is not valid JSON",
                           {"reason": "malformed_json", "error": str(exc)[:500]})


def unknown_network(requested: int | str, served: Collection[int]) -> ValidationError:
    """The 400 for a network the node (or this path) does not serve: reason
    ``unsupported_network``, with the networks it does."""
    return ValidationError("this node does not serve that network",
                           {"reason": "unsupported_network", "networkId": requested,
                            "served": sorted(served)})


def network_mismatch(requested: int, path_network: int) -> ValidationError:
    """The 400 for a body or query naming another network than its path does
    (``/api/v1/10/...`` with ``networkId`` 31337): reason ``network_mismatch``. Neither
    network answers: which one the caller meant cannot be known."""
    return ValidationError(f"networkId {requested} is not this path's network "
                           f"({path_network})",
                           {"reason": "network_mismatch", "networkId": requested,
                            "pathNetworkId": path_network})


def json_input(kind: type[T], network_id: int, served: Collection[int] | None = None, *,
               pinned: bool = False) -> Callable[[Request], T]:
    """A route's ``parse``: a JSON body of ``kind`` (Content-Type checked, decoded and
    type-checked by msgspec), whose ``networkId``, when given, is one of ``served``
    (the route's handler answers on that network; default: ``network_id`` alone).
    ``pinned``: the route's path names ``network_id`` (``/api/v1/{networkId}/...``):
    any other ``networkId`` is a :func:`network_mismatch`."""
    decode = msgspec.json.Decoder(kind).decode
    networked = "networkId" in getattr(kind, "__struct_fields__", ())
    known = frozenset(served) if served is not None else frozenset((network_id,))

    def parse(req: Request) -> T:
        if req.header("content-type") != _JSON:  # the common case costs one comparison
            _require_json(req)
        if too_deep(req.body):
            raise ValidationError(f"request body is nested deeper than {MAX_JSON_DEPTH} levels",
                                  {"reason": "too_deep", "limit": MAX_JSON_DEPTH})
        try:
            body = decode(req.body)
        except msgspec.ValidationError as exc:
            raise _schema_error(req.body, exc) from None
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise _undecodable(req.body, exc) from None
        requested = body.networkId if networked else None  # type: ignore[attr-defined]
        if requested is not None and requested != network_id:
            if pinned:
                raise network_mismatch(requested, network_id)
            if requested not in known:
                raise unknown_network(requested, known)
        return body  # type: ignore[no-any-return]

    return parse
