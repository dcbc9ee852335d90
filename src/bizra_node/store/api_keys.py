"""The api_keys table (migration 0002): create, list, revoke, and what the nodes'
key rings read (active keys, changes since a time, one key by hash, last-used
batches).

Every statement goes through the primary pool (keys are few and read rarely: at
start, every refresh, and on a miss of an incomplete ring); ``last_used_at`` is
written for a batch of keys in one statement, never per request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import asyncpg

from ..apikeys import KeyRecord
from ..errors import StoreUnavailable
from .pools import ManagedPool

__all__ = ["KeyRepository", "NameTaken"]

_COLUMNS = ("id, name, key_hash, scopes, rate_limit, burst, created_at, last_used_at, "
            "revoked_at")


class NameTaken(ValueError):
    """An active key already has this name."""


def _record(row: Any) -> KeyRecord:
    return KeyRecord(id=row["id"], name=row["name"], key_hash=bytes(row["key_hash"]),
                     scopes=frozenset(row["scopes"]), rate=row["rate_limit"], burst=row["burst"],
                     created_at=row["created_at"], last_used_at=row["last_used_at"],
                     revoked_at=row["revoked_at"])


Connect = Callable[[], Awaitable[asyncpg.Connection]]


class KeyRepository:
    """Over the node's primary pool (``get_pool``), or over single connections made by
    ``connect`` (the CLI)."""

    def __init__(self, get_pool: Callable[[], ManagedPool | None] | None = None,
                 connect: Connect | None = None) -> None:
        self._get_pool = get_pool
        self._connect = connect

    async def _fetch(self, label: str, sql: str, *args: Any) -> list[Any]:
        if self._connect is not None:
            conn = await self._connect()
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()
        pool = self._get_pool() if self._get_pool is not None else None
        if pool is None:
            raise StoreUnavailable("API keys cannot be read right now",
                                   {"reason": "database_unavailable"})
        try:
            return await pool.fetch(label, sql, *args)
        except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
                TimeoutError) as exc:
            raise StoreUnavailable("API keys cannot be read right now",
                                   {"reason": "database_unavailable"}) from exc

    # --- the CLI ---------------------------------------------------------------------------
    async def create(self, name: str, key_hash: bytes, scopes: tuple[str, ...],
                     rate: float | None = None, burst: int | None = None) -> KeyRecord:
        try:
            rows = await self._fetch(
                "keys_create",
                f"INSERT INTO api_keys (name, key_hash, scopes, rate_limit, burst) "
                f"VALUES ($1, $2, $3, $4, $5) RETURNING {_COLUMNS}",
                name, key_hash, list(scopes), rate, burst)
        except asyncpg.UniqueViolationError as exc:
            if "api_keys_active_name" in str(exc):
                raise NameTaken(f"an active key is already named {name!r}") from None
            raise
        return _record(rows[0])

    async def list_keys(self, include_revoked: bool = True) -> list[KeyRecord]:
        where = "" if include_revoked else " WHERE revoked_at IS NULL"
        rows = await self._fetch("keys_list",
                                 f"SELECT {_COLUMNS} FROM api_keys{where} ORDER BY name, id")
        return [_record(r) for r in rows]

    async def revoke(self, name: str) -> KeyRecord | None:
        """Revoke the active key called ``name``; None when there is none."""
        rows = await self._fetch(
            "keys_revoke",
            f"UPDATE api_keys SET revoked_at = now(), updated_at = now() "
            f"WHERE name = $1 AND revoked_at IS NULL RETURNING {_COLUMNS}", name)
        return _record(rows[0]) if rows else None

    # --- the key rings -------------------------------------------------------------------------
    async def active(self, limit: int) -> tuple[list[KeyRecord], datetime]:
        rows = await self._fetch(
            "keys_active",
            f"SELECT {_COLUMNS}, now() AS db_now FROM api_keys WHERE revoked_at IS NULL "
            "ORDER BY last_used_at DESC NULLS LAST, id DESC LIMIT $1", limit)
        return [_record(r) for r in rows], (rows[0]["db_now"] if rows else await self._now())

    async def changed_since(self, since: datetime) -> tuple[list[KeyRecord], datetime]:
        rows = await self._fetch(
            "keys_changed",
            f"SELECT {_COLUMNS}, now() AS db_now FROM api_keys WHERE updated_at > $1 "
            "ORDER BY updated_at", since)
        return [_record(r) for r in rows], (rows[0]["db_now"] if rows else await self._now())

    async def by_hash(self, key_hash: bytes) -> KeyRecord | None:
        rows = await self._fetch("keys_by_hash",
                                 f"SELECT {_COLUMNS} FROM api_keys WHERE key_hash = $1", key_hash)
        return _record(rows[0]) if rows else None

    async def touch(self, ids: list[int]) -> None:
        """last_used_at = now() for ``ids``, in one statement (updated_at is left alone:
        a use is not a change the rings need to read)."""
        if ids:
            await self._fetch("keys_touch",
                              "UPDATE api_keys SET last_used_at = now() WHERE id = ANY($1::bigint[])",
                              ids)

    async def _now(self) -> datetime:
        rows = await self._fetch("keys_now", "SELECT now() AS db_now")
        now: datetime = rows[0]["db_now"]
        return now
