"""Reading JSON-RPC hex fields strictly, failing as a named check.

``int(s, 16)`` accepts ``_``, spaces and signs and ``bytes.fromhex`` skips spaces; an
upstream's field must be plain 0x-hex, so both are guarded here. Every failure is a
:class:`TrustError` for the check that was reading the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from .errors import Check, TrustError

__all__ = [
    "as_bytes", "as_int", "as_object", "field_bytes", "field_int", "field_list", "field_opt_bytes",
]

_QUANTITY = re.compile(r"0x[0-9a-fA-F]{1,64}")


def as_int(value: object, check: Check, what: str) -> int:
    """A JSON-RPC quantity (0x-hex, at most 256 bits)."""
    if isinstance(value, str) and _QUANTITY.fullmatch(value):
        return int(value, 16)
    raise TrustError(check, f"{what} is not a hex quantity: {_short(value)}")


def as_bytes(value: object, check: Check, what: str, length: int | None = None) -> bytes:
    """JSON-RPC data (0x-hex, an even number of digits), of ``length`` bytes if given."""
    if isinstance(value, str) and value[:2] == "0x":
        try:
            out = bytes.fromhex(value[2:])
        except ValueError:
            out = None
        if out is not None and 2 * len(out) == len(value) - 2:
            if length is not None and len(out) != length:
                raise TrustError(check, f"{what} has {len(out)} bytes, not {length}")
            return out
    raise TrustError(check, f"{what} is not hex data: {_short(value)}")


def as_object(value: object, check: Check, what: str) -> Mapping[str, Any]:
    """A JSON object (an upstream may answer a list, a string or null instead)."""
    if isinstance(value, Mapping):
        return value
    raise TrustError(check, f"{what} is not an object: {_short(value)}")


def _get(obj: Mapping[str, Any], key: str, check: Check) -> Any:
    try:
        value = obj[key]
    except (KeyError, TypeError):
        raise TrustError(check, f"field {key} is missing") from None
    if value is None:
        raise TrustError(check, f"field {key} is null")
    return value


def field_int(obj: Mapping[str, Any], key: str, check: Check) -> int:
    return as_int(_get(obj, key, check), check, key)


def field_bytes(obj: Mapping[str, Any], key: str, check: Check, length: int | None = None) -> bytes:
    return as_bytes(_get(obj, key, check), check, key, length)


def field_opt_bytes(obj: Mapping[str, Any], key: str, check: Check,
                    length: int | None = None) -> bytes | None:
    """Absent or null gives None (e.g. ``to`` of a contract creation)."""
    value = obj.get(key)
    return None if value is None else as_bytes(value, check, key, length)


def field_list(obj: Mapping[str, Any], key: str, check: Check) -> list[Any]:
    value = _get(obj, key, check)
    if not isinstance(value, list):
        raise TrustError(check, f"field {key} is not a list")
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
