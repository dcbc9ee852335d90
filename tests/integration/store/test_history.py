"""GET /api/v1/validations on a real PostgreSQL: filters and keyset pagination."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from bizra_node.app import Node
from bizra_node.validation import AccountResult, BlockResult, TransactionResult
from tests.conftest import running_node
from tests.integration.store.conftest import store_settings

T0 = datetime(2024, 3, 1, tzinfo=UTC)  # months in the past: rows land in the default partition


def at(minutes: int) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def seed(node: Node) -> None:
    """90 records: 30 per kind, one per minute; every third transaction invalid."""
    assert node.store is not None
    rec = node.store.recorder
    for i in range(30):
        rec("transaction", "0x" + f"{i % 5:064x}",
            TransactionResult(valid=i % 3 != 0, validated_at=at(3 * i), network_id=31337,
                              error=None if i % 3 else "Transaction not found"))
        rec("block", str(i), BlockResult(valid=True, validated_at=at(3 * i + 1), network_id=31337))
        rec("address", "0x" + f"{i:040x}",
            AccountResult(valid=True, validated_at=at(3 * i + 2), network_id=31337))


async def pages(client: httpx.AsyncClient, **params: object) -> list[list[dict]]:
    out: list[list[dict]] = []
    cursor = None
    while True:
        query = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params.items()}
        if cursor:
            query["cursor"] = cursor
        resp = await client.get("/api/v1/validations", params=query)
        assert resp.status_code == 200, resp.text
        data = resp.json()["data"]
        out.append(data["items"])
        cursor = data["nextCursor"]
        if cursor is None:
            return out


async def test_history_filters_and_pagination(pg_dsn: str, tmp_path: Path) -> None:
    async with running_node(store_settings(pg_dsn, tmp_path)) as (node, client):
        seed(node)
        while node.metrics.write_records.get(("written",)) < 90:
            await asyncio.sleep(0.02)

        # Everything, newest first, 7 per page: no gap, no repeat, strictly descending.
        got = await pages(client, limit=7)
        assert [len(p) for p in got] == [7] * 12 + [6]
        items = [i for p in got for i in p]
        assert len({i["id"] for i in items}) == 90
        keys = [(i["validatedAt"], i["id"]) for i in items]
        assert keys == sorted(keys, reverse=True)
        assert items[0]["kind"] == "address" and items[0]["validatedAt"] == at(89)[:-1] + "000Z"
        first = items[-1]
        assert first["kind"] == "transaction" and first["valid"] is False
        assert first["status"] == "not_found" and first["result"]["error"] == "Transaction not found"
        assert first["result"]["networkId"] == 31337

        # kind + valid
        invalid = [i for p in await pages(client, kind="transaction", valid=False) for i in p]
        assert len(invalid) == 10 and all(not i["valid"] for i in invalid)

        # subject (kind inferred from its shape)
        one = [i for p in await pages(client, subject="0x" + f"{2:064x}", limit=2) for i in p]
        assert len(one) == 6 and {i["subject"] for i in one} == {"0x" + f"{2:064x}"}
        block = [i for p in await pages(client, subject="7") for i in p]
        assert [(i["kind"], i["subject"]) for i in block] == [("block", "7")]

        # time window: from inclusive, to exclusive
        window = [i for p in await pages(client, **{"from": at(10), "to": at(20)}) for i in p]
        assert len(window) == 10
        assert min(i["validatedAt"] for i in window).startswith(at(10)[:-1])

        # exact page boundary: the last full page has no nextCursor pointing at nothing
        exact = await pages(client, kind="block", limit=30)
        assert [len(p) for p in exact] == [30]

        resp = await client.get("/api/v1/validations", params={"kind": "nope"})
        assert resp.status_code == 400
