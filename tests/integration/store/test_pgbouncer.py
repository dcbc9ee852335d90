"""The node's store through Debian's PgBouncer, run on the config that
`bizra-node pgbouncer-config` writes, in session and in transaction pool mode."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import asyncpg
import pytest

from bizra_node.app import store_config
from bizra_node.cli import main
from bizra_node.devnet import free_port
from bizra_node.history import HistoryQuery
from bizra_node.observability import NodeMetrics
from bizra_node.store import PgBouncerConfig, Store, write_config
from tests.integration.store.conftest import result, store_settings, wait_for
from tests.support.postgres import PG_BIN, PgBouncer, PgCluster, _chown, pgbouncer_binary

pytestmark = pytest.mark.skipif(
    pgbouncer_binary() is None,
    reason="pgbouncer is not installed and could not be (`make setup` runs apt-get install "
           "-y pgbouncer)")


@pytest.mark.parametrize(("mode", "declared"), [
    ("session", "session"), ("transaction", "transaction"),
    ("session", "auto"), ("transaction", "auto"),  # DB_PGBOUNCER's default finds out
])
async def test_store_works_through_pgbouncer(own_cluster: PgCluster, tmp_path: Path,
                                             mode: str, declared: str) -> None:
    backend = await own_cluster.create_database("bizra")
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="bizra-pgbouncer-"))
    os.chmod(folder, 0o755)
    _chown(folder)
    config = PgBouncerConfig(listen_port=port, pool_mode=mode, default_pool_size=10,
                             min_pool_size=2, max_db_connections=20)
    ini, userlist = write_config(config, folder / "pgbouncer.ini", backend)
    assert userlist.stat().st_mode & 0o777 == 0o600
    bouncer = PgBouncer(ini).start(port)
    store = None
    try:
        dsn = f"postgresql://postgres@127.0.0.1:{port}/bizra"
        store = Store(store_config(store_settings(dsn, tmp_path, db_pgbouncer=declared)),
                      NodeMetrics())
        await store.start()
        assert store.primary is not None
        # auto: PgBouncer refuses the timeouts at startup, so as in transaction mode
        assert store.primary.options.pgbouncer == (
            "transaction" if declared == "auto" else declared)
        for i in range(300):
            store.recorder("block", str(i), result(i))
        await wait_for(lambda: store.metrics.write_records.get(("written",)) == 300)
        page = await store.history.query(HistoryQuery(kind="block", limit=10))
        assert len(page.items) == 10 and page.next_cursor is not None
        page2 = await store.history.query(HistoryQuery(kind="block", limit=10,
                                                       after=_after(page.next_cursor)))
        assert {i.id for i in page.items}.isdisjoint({i.id for i in page2.items})
        timeout = await store.primary.fetchval("t", "SELECT current_setting('statement_timeout')")
        if declared == "session":
            assert timeout == "30s"  # SET per session, since PgBouncer refuses it at startup
        # PgBouncer's own view (its admin console speaks the simple protocol only).
        argv = [str(PG_BIN / "psql"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                "-d", "pgbouncer", "-At", "-F", "|", "-c", "SHOW POOLS"]
        done = await asyncio.to_thread(subprocess.run, argv, capture_output=True, text=True,
                                       timeout=30, check=True)
        shown = done.stdout
        assert any(line.startswith("bizra|") and line.endswith(f"|{mode}")
                   for line in shown.splitlines()), shown
    finally:
        if store is not None:
            await store.stop()
        bouncer.stop()
        shutil.rmtree(folder, ignore_errors=True)
    conn = await asyncpg.connect(backend)
    try:
        assert await conn.fetchval("SELECT count(DISTINCT id) FROM validations") == 300
    finally:
        await conn.close()


def _after(cursor: str | None) -> tuple[int, bytes]:
    from bizra_node.history import decode_cursor

    assert cursor is not None
    return decode_cursor(cursor)


def test_pgbouncer_config_command(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://node:s3cr%22et@db.example:5433/bizra_node0")
    monkeypatch.chdir(tmp_path)
    assert main(["pgbouncer-config"]) == 0
    ini = capsys.readouterr().out
    assert "bizra_node0 = host=db.example port=5433 dbname=bizra_node0 pool_size=200" in ini
    for line in ("pool_mode = session", "max_client_conn = 2000", "default_pool_size = 200",
                 "min_pool_size = 50", "reserve_pool_size = 25", "max_db_connections = 400",
                 "max_user_connections = 200", "server_idle_timeout = 600",
                 "server_lifetime = 7200", "query_timeout = 35", "query_wait_timeout = 30",
                 "auth_type = scram-sha-256", "server_reset_query = DISCARD ALL"):
        assert line in ini.splitlines(), line
    assert "s3cr" not in ini  # the password only goes to the userlist
    assert main(["pgbouncer-config", "--write", str(tmp_path / "etc" / "pgbouncer.ini")]) == 0
    userlist = tmp_path / "etc" / "userlist.txt"
    assert userlist.read_text() == '"node" "s3cr""et"\n'
    assert userlist.stat().st_mode & 0o777 == 0o600
    assert f"auth_file = {userlist}" in (tmp_path / "etc" / "pgbouncer.ini").read_text()
    assert main(["pgbouncer-config", "--pool-mode", "transaction", "--listen-port", "7432",
                 "--default-pool-size", "20", "--query-wait-timeout", "5"]) == 0
    ini = capsys.readouterr().out.splitlines()
    for line in ("pool_mode = transaction", "listen_port = 7432", "default_pool_size = 20",
                 "query_wait_timeout = 5"):
        assert line in ini, line
    monkeypatch.delenv("DATABASE_URL")
    assert main(["pgbouncer-config"]) == 2
    assert main(["pgbouncer-config", "--backend", "postgresql://u@h/db"]) == 0


@pytest.mark.parametrize("mode", ["session", "transaction"])
def test_cli_commands_reach_the_database_through_pgbouncer(
        own_cluster: PgCluster, tmp_path: Path, mode: str, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """An operator points the commands at the PgBouncer the nodes use, with the settings
    each command uses and no others: no DB_PGBOUNCER (the node finds out it talks to a
    PgBouncer, which refuses startup parameters), and REDIS_URL (where key events are
    announced) without CACHE_SECRET (which only the node's cache uses)."""
    backend = asyncio.run(own_cluster.create_database("bizra"))
    port = free_port()
    folder = Path(tempfile.mkdtemp(prefix="bizra-pgbouncer-"))
    os.chmod(folder, 0o755)
    _chown(folder)
    config = PgBouncerConfig(listen_port=port, pool_mode=mode, default_pool_size=5,
                             min_pool_size=0, max_db_connections=10)
    ini, _ = write_config(config, folder / "pgbouncer.ini", backend)
    bouncer = PgBouncer(ini).start(port)
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    for name in ("DB_PGBOUNCER", "CACHE_SECRET", "API_KEYS_MODE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DATABASE_URL", f"postgresql://postgres@127.0.0.1:{port}/bizra")
    monkeypatch.setenv("API_KEY_SECRET", "k" * 32)
    monkeypatch.setenv("REDIS_URL", "redis://127.0.0.1:6379/0")
    monkeypatch.setenv("CACHE_KEY_PREFIX", f"pgb-{port}")
    try:
        assert main(["migrate"]) == 0, capsys.readouterr().err
        assert main(["keys", "create", "acme"]) == 0, capsys.readouterr().err
        key = capsys.readouterr().out.strip().splitlines()[-1]
        assert key.startswith("bzk_")
        assert main(["keys", "list"]) == 0, capsys.readouterr().err
        assert "acme" in capsys.readouterr().out
        assert main(["keys", "revoke", "acme"]) == 0, capsys.readouterr().err
    finally:
        bouncer.stop()
        shutil.rmtree(folder, ignore_errors=True)
