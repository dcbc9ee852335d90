"""`bizra-node keys create | list | revoke`: the work behind the command (cli.py parses).

Migrations run first (idempotent, under their advisory lock), so the command works on
a fresh database. A create or a revocation is announced on Redis pub/sub when
REDIS_URL is set, so every node acts on it at once; without Redis (or when the
announcement fails) the nodes see it at their next refresh (API_KEYS_REFRESH).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from dataclasses import dataclass
from datetime import datetime

from .apikeys import KeyRecord, parse_scopes
from .cache import RedisConfig, connect_redis
from .security import KeyHasher, generate_key, publish_key_event
from .store import KeyRepository, NameTaken, PoolOptions, connect_once, run_migrations

__all__ = ["KeysContext", "run_keys_command"]


@dataclass(frozen=True, slots=True)
class KeysContext:
    """What the command needs from the settings (cli.py reads them)."""

    dsn: str
    options: PoolOptions
    partitions_ahead: int
    secret: str
    redis: RedisConfig | None
    """Where key events are announced (None: no REDIS_URL)."""
    key_prefix: str
    refresh: float


async def run_keys_command(args: argparse.Namespace, ctx: KeysContext) -> int:
    options = ctx.options
    dsn = ctx.dsn
    try:
        await run_migrations(dsn, options, ctx.partitions_ahead)
    except Exception as exc:
        print(f"keys: the database is not reachable: {type(exc).__name__}: {exc}",
              file=sys.stderr)
        return 1
    repo = KeyRepository(connect=lambda: connect_once(dsn, options))
    command = args.keys_command
    if command == "create":
        return await _create(args, ctx, repo)
    if command == "list":
        return await _list(repo)
    return await _revoke(args, ctx, repo)


async def _create(args: argparse.Namespace, ctx: KeysContext, repo: KeyRepository) -> int:
    secret = ctx.secret
    if len(secret) < 32:
        print("keys create: set API_KEY_SECRET (>= 32 characters; the nodes must use the "
              "same one)", file=sys.stderr)
        return 2
    name = args.name.strip()
    if not 1 <= len(name) <= 100:
        print("keys create: a name is 1 to 100 characters", file=sys.stderr)
        return 2
    try:
        scopes = parse_scopes(args.scopes)
    except ValueError as exc:
        print(f"keys create: {exc}", file=sys.stderr)
        return 2
    if (args.rate is not None and not 0 < args.rate <= 1_000_000) or \
            (args.burst is not None and not 1 <= args.burst <= 10_000_000):
        print("keys create: --rate must be in (0, 1e6], --burst in [1, 1e7]", file=sys.stderr)
        return 2
    key = generate_key()
    try:
        record = await repo.create(name, KeyHasher(secret).hash(key), scopes, args.rate,
                                   args.burst)
    except NameTaken as exc:
        print(f"keys create: {exc} (revoke it first, or choose another name)", file=sys.stderr)
        return 1
    limits = (f"rate {record.rate if record.rate is not None else 'default'}, "
              f"burst {record.burst if record.burst is not None else 'default'}")
    print(f"created key {record.name!r}: id {record.id}, scopes {','.join(sorted(record.scopes))},"
          f" {limits}")
    print(f"nodes: {await _announce(ctx, 'changed')}")
    print("the key is shown once; store it now (only its keyed hash is kept):")
    print(key)
    return 0


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S") if moment is not None else "-"


async def _list(repo: KeyRepository) -> int:
    records = await repo.list_keys()
    header = ("name", "id", "scopes", "rate", "burst", "created", "last used", "revoked")
    rows = [header, *(_row(r) for r in records)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


def _row(r: KeyRecord) -> tuple[str, ...]:
    return (r.name, str(r.id), ",".join(sorted(r.scopes)),
            "default" if r.rate is None else f"{r.rate:g}",
            "default" if r.burst is None else str(r.burst),
            _when(r.created_at), _when(r.last_used_at), _when(r.revoked_at))


async def _revoke(args: argparse.Namespace, ctx: KeysContext, repo: KeyRepository) -> int:
    record = await repo.revoke(args.name)
    if record is None:
        print(f"keys revoke: no active key is named {args.name!r}", file=sys.stderr)
        return 1
    print(f"revoked key {record.name!r} (id {record.id})")
    print(f"nodes: {await _announce(ctx, 'revoke ' + record.key_hash.hex())}")
    return 0


async def _announce(ctx: KeysContext, message: str) -> str:
    """Tell the nodes through Redis; says what happened, for the operator."""
    later = f"every node sees it within API_KEYS_REFRESH ({ctx.refresh:g} s)"
    if ctx.redis is None:
        return f"no REDIS_URL: {later}"
    redis = connect_redis(ctx.redis, socket_timeout=2.0)
    try:
        async with asyncio.timeout(3.0):
            listeners = await publish_key_event(redis, ctx.key_prefix, message)
    except Exception as exc:
        return f"Redis did not take the announcement ({type(exc).__name__}): {later}"
    finally:
        await redis.aclose()
    return f"announced on Redis to {listeners} listening worker(s); the others within " \
           f"API_KEYS_REFRESH ({ctx.refresh:g} s)"
