"""How deep a JSON body may nest: MAX_JSON_DEPTH levels of arrays and objects.

A body nested 100 000 levels deep is a few hundred KB, well under the body limits, but
decoding it recurses once per level (msgspec) and so do the encoders that follow; with
the interpreter's recursion limit raised (py_ecc raises it to 100 000 when imported)
that is no longer a RecursionError but a blown C stack: the worker dies. So the depth is
checked before anything decodes the body, cheaply: a body with no more opening
brackets than the limit cannot be too deep, and that is all a normal body costs (two
``count`` scans in C; tests/unit/api/test_depth.py measures it). Only a body with more
is scanned, with string literals taken out first (a ``[`` inside a string nests
nothing; C-speed replace, split and translate), and the scan stops at the first level
past the limit.
"""

from __future__ import annotations

from typing import Final

__all__ = ["MAX_JSON_DEPTH", "too_deep"]

MAX_JSON_DEPTH: Final = 64
"""Levels of arrays and objects a JSON body may nest (a JSON-RPC call needs under 10)."""

_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")
_OPEN = frozenset(b"[{")


def too_deep(body: bytes | str, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when ``body`` (JSON, or anything) opens arrays or objects more than
    ``limit`` levels deep outside string literals."""
    if isinstance(body, str):
        if body.count("[") + body.count("{") <= limit:
            return False
        body = body.encode("utf-8", "surrogatepass")
    elif body.count(b"[") + body.count(b"{") <= limit:
        return False
    # Outside string literals: drop escaped backslashes, then escaped quotes (JSON pairs
    # a backslash run from its left, as these non-overlapping replaces do); what is
    # left between the remaining quotes is strings, the even pieces are not.
    if b"\\" in body:
        body = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(body.split(b'"')[::2])
    brackets = outside.translate(None, _NOT_BRACKET)
    depth = 0
    for char in brackets:
        if char in _OPEN:
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False
