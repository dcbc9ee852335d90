"""`bizra-node keys` in process (the e2e tests run it as a command): its output, its
refusals, and the announcement on Redis."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from bizra_node.cli import main
from bizra_node.security import key_channel
from tests.conftest import TEST_CACHE_SECRET
from tests.integration.security.conftest import SECRET
from tests.support.redis_server import RedisServer


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, pg_dsn: str, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    for name, value in {"DATABASE_URL": pg_dsn, "API_KEY_SECRET": SECRET, "REDIS_URL": "",
                        "API_KEYS_REFRESH": "7"}.items():
        monkeypatch.setenv(name, value)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(["keys", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.usefixtures("env")
def test_create_list_revoke(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "create", "acme", "--scopes", "rpc,validate", "--rate", "5",
                       "--burst", "10")
    assert code == 0
    lines = out.strip().splitlines()
    key = lines[-1]
    assert key.startswith("bzk_") and len(key) == 47
    assert "created key 'acme'" in lines[0] and "scopes rpc,validate" in lines[0]
    assert "no REDIS_URL: every node sees it within API_KEYS_REFRESH (7 s)" in out

    code, out, _ = run(capsys, "list")
    assert code == 0 and key not in out
    header, row = out.strip().splitlines()
    assert header.split() == ["name", "id", "scopes", "rate", "burst", "created", "last",
                              "used", "revoked"]
    assert row.split()[:5] == ["acme", "1", "rpc,validate", "5", "10"]

    code, _, err = run(capsys, "create", "acme")
    assert code == 1 and "already named 'acme'" in err
    code, out, _ = run(capsys, "revoke", "acme")
    assert code == 0 and "revoked key 'acme' (id 1)" in out
    code, _, err = run(capsys, "revoke", "acme")
    assert code == 1 and "no active key is named 'acme'" in err
    assert run(capsys, "create", "acme")[0] == 0  # the name is free again


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize(("args", "message"), [
    (("create", "x", "--scopes", "validate,admin"), "unknown scope(s) admin"),
    (("create", "x", "--scopes", ","), "at least one scope"),
    (("create", "x", "--rate", "0"), "--rate must be"),
    (("create", "x", "--burst", "0"), "--burst"),
    (("create", " "), "1 to 100 characters"),
])
def test_bad_arguments(capsys: pytest.CaptureFixture[str], args: tuple[str, ...],
                       message: str) -> None:
    code, _, err = run(capsys, *args)
    assert code == 2 and message in err


@pytest.mark.usefixtures("env")
def test_create_needs_the_secret(capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("API_KEY_SECRET", "short")
    code, _, err = run(capsys, "create", "x")
    assert code == 2 and "API_KEY_SECRET" in err


def test_unreachable_database(capsys: pytest.CaptureFixture[str],
                              monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:9/none")
    monkeypatch.setenv("DB_CONNECT_TIMEOUT", "1")
    code, _, err = run(capsys, "list")
    assert code == 1 and "the database is not reachable" in err


@pytest.mark.usefixtures("env")
def test_revocation_is_announced_on_redis(capsys: pytest.CaptureFixture[str],
                                          monkeypatch: pytest.MonkeyPatch,
                                          redis_server: RedisServer, prefix: str) -> None:
    monkeypatch.setenv("REDIS_URL", redis_server.url)
    monkeypatch.setenv("CACHE_SECRET", TEST_CACHE_SECRET)
    monkeypatch.setenv("CACHE_KEY_PREFIX", prefix)
    received: list[bytes] = []

    async def listen_while(action: str) -> None:
        client = aioredis.Redis.from_url(redis_server.url)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(key_channel(prefix))
        code = await asyncio.to_thread(main, ["keys", *action.split()])
        assert code == 0
        for _ in range(50):
            message = await pubsub.get_message(timeout=0.1)
            if message is not None:
                received.append(message["data"])
                break
        await pubsub.aclose()  # type: ignore[no-untyped-call]
        await client.aclose()

    asyncio.run(listen_while("create solo"))
    asyncio.run(listen_while("revoke solo"))
    assert received[0] == b"changed"
    assert received[1].startswith(b"revoke ") and len(received[1]) == len("revoke ") + 64
    out = capsys.readouterr().out
    assert "announced on Redis to 1 listening worker(s)" in out
    redis_server.kill()
    code, out, _ = run(capsys, "revoke", "solo")  # nothing active: refused before Redis
    assert code == 1
    code, out, _ = run(capsys, "create", "solo2")  # made; the announcement fails, said so
    assert code == 0 and "Redis did not take the announcement" in out
