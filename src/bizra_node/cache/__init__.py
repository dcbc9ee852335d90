"""Tiered cache: in-process L1, Redis L2 (compressed), finality-aware TTLs, singleflight."""

from __future__ import annotations

from .auth import EntryAuth, derive_key
from .codec import CODEC_NAMES, Codec, CodecError, CodecName
from .config import MIN_SECRET_LENGTH, CacheConfig
from .entry import Entry, EntryError, decode_entry, encode_entry
from .l1 import L1Cache
from .l2 import RedisL2, l2_breaker_config, redact_url
from .tiered import FORMAT_VERSION, KINDS, Compute, HeadSource, TieredCache
from .ttl import NEVER, Ttl, TtlPolicy

__all__ = [
    "CODEC_NAMES",
    "FORMAT_VERSION",
    "KINDS",
    "MIN_SECRET_LENGTH",
    "NEVER",
    "CacheConfig",
    "Codec",
    "CodecError",
    "CodecName",
    "Compute",
    "Entry",
    "EntryAuth",
    "EntryError",
    "HeadSource",
    "L1Cache",
    "RedisL2",
    "TieredCache",
    "Ttl",
    "TtlPolicy",
    "decode_entry",
    "derive_key",
    "encode_entry",
    "l2_breaker_config",
    "redact_url",
]
