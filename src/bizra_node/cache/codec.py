"""How L2 values are stored: compressed only when it pays, with a prefix naming how.

Stored form: ``<codec>:<payload>`` with codec ``zstdd1`` (zstd with the frozen
answer-skeleton dictionary v1, see ``_dictionary``), ``zstd``, ``zlib`` or ``raw``. A value
is compressed only when that saves more than ``min_saving`` (10 %) of its size;
otherwise it is stored raw, so a small answer never pays decompression for nothing.
The codec and level come from settings; the default (zstd-dict, level 1) was chosen
by measuring real devnet answers (``bizra-node bench cache``): on 300-600 byte
answers plain zstd and zlib keep ~72-75 % of the bytes, zstd with the skeleton
dictionary ~50 %, at ~5 µs to compress and ~2.5 µs to decode; on a 200-transaction
block it keeps 49 % in 33 µs, where level 3 keeps 51 % in 47 µs and zlib-6 57 % in
130 µs. Higher levels buy 1-2 % on small answers for twice the time.

Values in the formats of the cache of the system this node replaces (a TypeScript
service, not in this repository) are still read, so a Redis it filled can be shared:
``raw:<json>``, ``gzip:<base64 of gzip>`` and the oldest form, bare base64 of the
JSON (its "compression" was base64). ``:`` is not in the base64 alphabet, so a bare
base64 value can never be mistaken for a prefixed one.

Decoding is bounded (``max_decoded``) so a corrupt or hostile value cannot blow up
memory; any problem raises :class:`CodecError`, which the cache treats as a miss.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Literal

import zstandard

from ._dictionary import DICTIONARY_V1

__all__ = ["CODEC_NAMES", "Codec", "CodecError", "CodecName"]

CodecName = Literal["zstd-dict", "zstd", "zlib", "raw"]
CODEC_NAMES: tuple[CodecName, ...] = ("zstd-dict", "zstd", "zlib", "raw")

_RAW = b"raw:"
_ZSTD_DICT = b"zstdd1:"
_ZSTD = b"zstd:"
_ZLIB = b"zlib:"
_GZIP_B64 = b"gzip:"  # legacy: base64 text of a gzip stream
_MAX_DECODED = 64 * 1024 * 1024


class CodecError(ValueError):
    """A stored value that cannot be decoded (corrupt, truncated, too large)."""


class Codec:
    """Encodes with one codec and level; decodes every known form."""

    __slots__ = ("_dict_c", "_dict_d", "_prefix", "_zstd_c", "_zstd_d", "level", "max_decoded",
                 "min_saving", "name")

    def __init__(self, name: CodecName = "zstd-dict", level: int = 1, *,
                 min_saving: float = 0.10,
                 max_decoded: int = _MAX_DECODED) -> None:
        if name not in CODEC_NAMES:
            raise ValueError(f"unknown codec {name!r}; one of {', '.join(CODEC_NAMES)}")
        if name == "zlib" and not -1 <= level <= 9:
            raise ValueError("zlib level must be -1..9")
        if name in ("zstd", "zstd-dict") and not -7 <= level <= 22:
            raise ValueError("zstd level must be -7..22")
        self.name: CodecName = name
        self.level = level
        self.min_saving = min_saving
        self.max_decoded = max_decoded
        zstd_level = level if name in ("zstd", "zstd-dict") else 3
        self._zstd_c = zstandard.ZstdCompressor(level=zstd_level, write_content_size=True)
        self._zstd_d = zstandard.ZstdDecompressor()
        dictionary = zstandard.ZstdCompressionDict(DICTIONARY_V1,
                                                   dict_type=zstandard.DICT_TYPE_RAWCONTENT)
        dictionary.precompute_compress(level=zstd_level)
        self._dict_c = zstandard.ZstdCompressor(level=zstd_level, dict_data=dictionary,
                                                write_content_size=True, write_dict_id=False)
        self._dict_d = zstandard.ZstdDecompressor(dict_data=dictionary)
        self._prefix = {"zstd-dict": _ZSTD_DICT, "zstd": _ZSTD, "zlib": _ZLIB}.get(name, _RAW)

    # --- encode --------------------------------------------------------------------
    def compress(self, data: bytes) -> bytes:
        """The codec's compressed payload, without a prefix (benchmarks use this)."""
        if self.name == "zstd-dict":
            return self._dict_c.compress(data)
        if self.name == "zstd":
            return self._zstd_c.compress(data)
        if self.name == "zlib":
            return zlib.compress(data, self.level)
        return data

    def encode(self, data: bytes) -> bytes:
        """Prefixed stored form: compressed when that saves more than ``min_saving``."""
        if self.name != "raw" and data:
            packed = self.compress(data)
            if len(packed) < len(data) * (1.0 - self.min_saving):
                return self._prefix + packed
        return _RAW + data

    # --- decode --------------------------------------------------------------------
    def decode(self, blob: bytes) -> bytes:
        """The original bytes of any stored form; raises CodecError."""
        view = memoryview(blob)
        try:
            if blob.startswith(_RAW):
                return bytes(view[4:])
            if blob.startswith(_ZSTD_DICT):
                return self._unzstd(view[7:], self._dict_d)
            if blob.startswith(_ZSTD):
                return self._unzstd(view[5:], self._zstd_d)
            if blob.startswith(_ZLIB):
                return self._inflate(view[5:], zlib.MAX_WBITS)
            if blob.startswith(_GZIP_B64):
                return self._inflate(memoryview(_b64(view[5:])), 16 + zlib.MAX_WBITS)
            return _b64(view)
        except CodecError:
            raise
        except (zstandard.ZstdError, zlib.error, ValueError, TypeError) as exc:
            raise CodecError(f"undecodable value: {type(exc).__name__}") from None

    def _unzstd(self, payload: memoryview, dctx: zstandard.ZstdDecompressor) -> bytes:
        size = zstandard.frame_content_size(payload)
        if size < 0:  # not written by us: decode with an explicit bound
            out: bytes = dctx.decompress(payload, max_output_size=self.max_decoded)
            return out
        if size > self.max_decoded:
            raise CodecError(f"value would decode to {size} bytes")
        return bytes(dctx.decompress(payload))

    def _inflate(self, payload: memoryview, wbits: int) -> bytes:
        inflater = zlib.decompressobj(wbits)
        out = inflater.decompress(payload, self.max_decoded)
        if inflater.unconsumed_tail:
            raise CodecError("value decodes to more than the limit")
        if not inflater.eof:
            raise CodecError("truncated compressed value")
        return out


def _b64(data: memoryview) -> bytes:
    try:
        return base64.b64decode(data, validate=True)
    except binascii.Error:
        raise CodecError("neither a known prefix nor base64") from None
