"""Tiered cache: in-process L1, Redis L2 (compressed), finality-aware TTLs, singleflight."""

from __future__ import annotations

from .auth import EntryAuth, derive_key
from .codec import CODEC_NAMES, Codec, CodecError, CodecName
from .config import MIN_SECRET_LENGTH, CacheConfig
from .connect import (
    REDIS_MODES,
    RedisClient,
    RedisConfig,
    RedisMode,
    connect_redis,
    every_primary,
    open_pubsub,
)
from .entry import Entry, EntryError, decode_entry, encode_entry
from .l1 import L1Cache
from .l2 import RedisL2, l2_breaker_config, redact_url
from .pubsub import ChannelListener
from .shared import LocalState, RedisState, SharedState
from .tiered import FORMAT_VERSION, KINDS, Compute, HeadSource, TieredCache, outgrown
from .ttl import NEVER, Ttl, TtlPolicy

__all__ = [
    "CODEC_NAMES",
    "FORMAT_VERSION",
    "KINDS",
    "MIN_SECRET_LENGTH",
    "NEVER",
    "REDIS_MODES",
    "CacheConfig",
    "ChannelListener",
    "Codec",
    "CodecError",
    "CodecName",
    "Compute",
    "Entry",
    "EntryAuth",
    "EntryError",
    "HeadSource",
    "L1Cache",
    "LocalState",
    "RedisClient",
    "RedisConfig",
    "RedisL2",
    "RedisMode",
    "RedisState",
    "SharedState",
    "TieredCache",
    "Ttl",
    "TtlPolicy",
    "connect_redis",
    "decode_entry",
    "derive_key",
    "encode_entry",
    "every_primary",
    "l2_breaker_config",
    "open_pubsub",
    "outgrown",
    "redact_url",
]
