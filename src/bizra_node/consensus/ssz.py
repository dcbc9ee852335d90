"""SSZ for the few types a light client reads: decoding, JSON input and merkleisation.

Hand-written rather than taken from remerkleable: the light client needs a dozen
containers, read once each and hashed once each, and a small typed schema keeps the
runtime free of a tree library whose views are built for a full beacon state
(measured in docs/consensus.md; ``eth-consensus-specs``, which uses remerkleable, is the
reference in the tests). Each type knows its fixed size (None when variable), how to
decode SSZ bytes, how to read the beacon API's JSON form (decimal strings, 0x-hex) and
its ``hash_tree_root``.

Malformed input raises :class:`SszError`, with the path of the offending field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

__all__ = [
    "BYTES4",
    "BYTES20",
    "BYTES32",
    "BYTES48",
    "BYTES96",
    "UINT64",
    "UINT256",
    "ZERO32",
    "Bitvector",
    "ByteList",
    "ByteVector",
    "Container",
    "SszError",
    "SszType",
    "Uint",
    "Vector",
    "hash_pair",
    "is_valid_merkle_branch",
    "merkleize",
    "mix_in_length",
]

T = TypeVar("T")
E = TypeVar("E")

ZERO32 = bytes(32)
BYTES_PER_CHUNK = 32
_MAX_DECIMAL_DIGITS = 78
"""A uint256 has at most 78 decimal digits; longer strings are refused before int()."""


class SszError(ValueError):
    """SSZ bytes or their JSON form do not match the type."""


def hash_pair(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(left + right).digest()


def _zero_hashes(depth: int) -> list[bytes]:
    out = [ZERO32]
    for _ in range(depth):
        out.append(hash_pair(out[-1], out[-1]))
    return out


ZERO_HASHES = _zero_hashes(64)
"""ZERO_HASHES[d]: the root of a subtree of depth d whose leaves are all zero."""


def _depth(count: int) -> int:
    """Depth of the smallest power-of-two tree holding ``count`` leaves (1 leaf: 0)."""
    return max(count - 1, 0).bit_length()


def merkleize(chunks: Sequence[bytes], limit: int | None = None) -> bytes:
    """The spec's merkleize: chunks padded with zero chunks to the next power of two of
    ``limit`` (default: of their count), hashed pairwise to one root."""
    count = len(chunks)
    if limit is None:
        limit = count
    if count > limit:
        raise SszError(f"{count} chunks exceed the limit {limit}")
    depth = _depth(limit)
    if count == 0:
        return ZERO_HASHES[depth]
    layer = list(chunks)
    for level in range(depth):
        if len(layer) % 2:
            layer.append(ZERO_HASHES[level])
        layer = [hash_pair(layer[i], layer[i + 1]) for i in range(0, len(layer), 2)]
    return layer[0]


def mix_in_length(root: bytes, length: int) -> bytes:
    return hash_pair(root, length.to_bytes(32, "little"))


def _pack(data: bytes) -> list[bytes]:
    """Bytes as 32-byte chunks, the last one right-padded with zeros."""
    if not data:
        return []
    padded = data + bytes(-len(data) % BYTES_PER_CHUNK)
    return [padded[i:i + BYTES_PER_CHUNK] for i in range(0, len(padded), BYTES_PER_CHUNK)]


def is_valid_merkle_branch(leaf: bytes, branch: Sequence[bytes], depth: int, index: int,
                           root: bytes) -> bool:
    """The spec's is_valid_merkle_branch: ``leaf`` at ``index`` of a tree of ``depth``
    hashes up to ``root`` through ``branch`` (its first ``depth`` entries)."""
    if len(branch) < depth:
        return False
    value = leaf
    for i in range(depth):
        value = hash_pair(branch[i], value) if (index >> i) & 1 else hash_pair(value, branch[i])
    return value == root


def _hex(obj: object, path: str) -> bytes:
    if not isinstance(obj, str) or not obj.startswith("0x"):
        raise SszError(f"{path}: expected a 0x-hex string")
    try:
        return bytes.fromhex(obj[2:])
    except ValueError:
        raise SszError(f"{path}: not hex") from None


class SszType(Generic[T]):
    """One SSZ type: its fixed size in bytes (None when variable) and its codecs."""

    fixed_size: int | None

    def decode(self, data: bytes, path: str = "$") -> T:
        raise NotImplementedError

    def from_json(self, obj: object, path: str = "$") -> T:
        raise NotImplementedError

    def hash_tree_root(self, value: T) -> bytes:
        raise NotImplementedError


class Uint(SszType[int]):
    def __init__(self, size: int) -> None:
        self.fixed_size = size
        self._max = 1 << (8 * size)

    def decode(self, data: bytes, path: str = "$") -> int:
        if len(data) != self.fixed_size:
            raise SszError(f"{path}: uint{8 * self._size} needs {self._size} bytes, got {len(data)}")
        return int.from_bytes(data, "little")

    @property
    def _size(self) -> int:
        assert self.fixed_size is not None
        return self.fixed_size

    def from_json(self, obj: object, path: str = "$") -> int:
        if isinstance(obj, bool):
            raise SszError(f"{path}: expected an unsigned integer")
        if isinstance(obj, int):
            value = obj
        elif isinstance(obj, str) and obj.isascii() and obj.isdigit() \
                and len(obj) <= _MAX_DECIMAL_DIGITS:
            value = int(obj)
        else:
            raise SszError(f"{path}: expected an unsigned integer as a decimal string")
        if not 0 <= value < self._max:
            raise SszError(f"{path}: {value} does not fit uint{8 * self._size}")
        return value

    def hash_tree_root(self, value: int) -> bytes:
        return value.to_bytes(self._size, "little").ljust(BYTES_PER_CHUNK, b"\0")


class ByteVector(SszType[bytes]):
    def __init__(self, length: int) -> None:
        self.fixed_size = length
        self._length = length

    def decode(self, data: bytes, path: str = "$") -> bytes:
        if len(data) != self._length:
            raise SszError(f"{path}: expected {self._length} bytes, got {len(data)}")
        return bytes(data)

    def from_json(self, obj: object, path: str = "$") -> bytes:
        return self.decode(_hex(obj, path), path)

    def hash_tree_root(self, value: bytes) -> bytes:
        if self._length == BYTES_PER_CHUNK:
            return value
        return merkleize(_pack(value), (self._length + 31) // 32)


class ByteList(SszType[bytes]):
    def __init__(self, limit: int) -> None:
        self.fixed_size = None
        self._limit = limit

    def decode(self, data: bytes, path: str = "$") -> bytes:
        if len(data) > self._limit:
            raise SszError(f"{path}: {len(data)} bytes exceed the limit {self._limit}")
        return bytes(data)

    def from_json(self, obj: object, path: str = "$") -> bytes:
        return self.decode(_hex(obj, path), path)

    def hash_tree_root(self, value: bytes) -> bytes:
        return mix_in_length(merkleize(_pack(value), (self._limit + 31) // 32), len(value))


class Bitvector(SszType[bytes]):
    """Kept as its SSZ bytes (bit i is bit i % 8 of byte i // 8)."""

    def __init__(self, length: int) -> None:
        self._length = length
        self.fixed_size = (length + 7) // 8

    def decode(self, data: bytes, path: str = "$") -> bytes:
        if len(data) != self.fixed_size:
            raise SszError(f"{path}: Bitvector[{self._length}] needs {self.fixed_size} bytes")
        if self._length % 8 and data[-1] >> (self._length % 8):
            raise SszError(f"{path}: bits set past the length {self._length}")
        return bytes(data)

    def from_json(self, obj: object, path: str = "$") -> bytes:
        return self.decode(_hex(obj, path), path)

    def hash_tree_root(self, value: bytes) -> bytes:
        return merkleize(_pack(value), (self._length + 255) // 256)


class Vector(SszType[tuple[E, ...]]):
    """A vector of a fixed-size composite type (roots, keys)."""

    def __init__(self, element: SszType[E], length: int) -> None:
        if element.fixed_size is None:
            raise TypeError("Vector supports fixed-size elements only")
        self._element = element
        self._length = length
        self._size = element.fixed_size
        self.fixed_size = element.fixed_size * length

    def decode(self, data: bytes, path: str = "$") -> tuple[E, ...]:
        if len(data) != self.fixed_size:
            raise SszError(f"{path}: expected {self.fixed_size} bytes, got {len(data)}")
        size = self._size
        return tuple(self._element.decode(data[i * size:(i + 1) * size], f"{path}[{i}]")
                     for i in range(self._length))

    def from_json(self, obj: object, path: str = "$") -> tuple[E, ...]:
        if not isinstance(obj, list) or len(obj) != self._length:
            raise SszError(f"{path}: expected a list of {self._length}")
        return tuple(self._element.from_json(item, f"{path}[{i}]") for i, item in enumerate(obj))

    def hash_tree_root(self, value: tuple[E, ...]) -> bytes:
        if len(value) != self._length:
            raise SszError(f"Vector of {self._length} given {len(value)}")
        return merkleize([self._element.hash_tree_root(v) for v in value])


Field = tuple[str, SszType[Any]]


class Container(SszType[T]):
    """A container whose value is ``make(**fields)`` (a frozen dataclass); fields the
    value has beyond the schema's (a later fork's) are not read, so one class serves
    the schemas of several forks (defaults fill what an earlier fork lacks)."""

    def __init__(self, make: Callable[..., T], fields: Sequence[Field]) -> None:
        self._make = make
        self.fields: tuple[Field, ...] = tuple(fields)
        sizes = [t.fixed_size for _, t in self.fields]
        self.fixed_size = None if None in sizes else sum(s for s in sizes if s is not None)

    def decode(self, data: bytes, path: str = "$") -> T:
        values: dict[str, Any] = {}
        pos = 0
        variable: list[tuple[str, SszType[Any], int]] = []
        for name, kind in self.fields:
            if kind.fixed_size is None:
                if pos + 4 > len(data):
                    raise SszError(f"{path}.{name}: offset past the end")
                variable.append((name, kind, int.from_bytes(data[pos:pos + 4], "little")))
                pos += 4
            else:
                end = pos + kind.fixed_size
                if end > len(data):
                    raise SszError(f"{path}.{name}: past the end of the data")
                values[name] = kind.decode(data[pos:end], f"{path}.{name}")
                pos = end
        if not variable:
            if pos != len(data):
                raise SszError(f"{path}: {len(data) - pos} bytes left over")
        else:
            if variable[0][2] != pos:
                raise SszError(f"{path}: first offset {variable[0][2]} is not {pos}")
            bounds = [off for _, _, off in variable] + [len(data)]
            for i, (name, kind, start) in enumerate(variable):
                end = bounds[i + 1]
                if not start <= end <= len(data):
                    raise SszError(f"{path}.{name}: offsets out of order")
                values[name] = kind.decode(data[start:end], f"{path}.{name}")
        return self._make(**values)

    def from_json(self, obj: object, path: str = "$") -> T:
        if not isinstance(obj, dict):
            raise SszError(f"{path}: expected an object")
        values: dict[str, Any] = {}
        for name, kind in self.fields:
            if name not in obj:
                raise SszError(f"{path}.{name}: missing")
            values[name] = kind.from_json(obj[name], f"{path}.{name}")
        return self._make(**values)

    def hash_tree_root(self, value: T) -> bytes:
        return merkleize([kind.hash_tree_root(getattr(value, name)) for name, kind in self.fields])


UINT64 = Uint(8)
UINT256 = Uint(32)
BYTES4 = ByteVector(4)
BYTES20 = ByteVector(20)
BYTES32 = ByteVector(32)
BYTES48 = ByteVector(48)
BYTES96 = ByteVector(96)
