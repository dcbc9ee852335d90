"""No DATABASE_URL: the store starts an embedded PostgreSQL (pgserver) in DATA_DIR."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from bizra_node.app import store_config
from bizra_node.cli import main
from bizra_node.history import HistoryQuery
from bizra_node.observability import NodeMetrics
from bizra_node.store import Store
from tests.conftest import make_settings
from tests.integration.store.conftest import result, subject, wait_for


@pytest.fixture
def data_dir() -> Path:
    # pgserver's socket path must stay short (Unix sockets: 107 bytes), so not tmp_path.
    folder = Path(tempfile.mkdtemp(prefix="bizra-emb-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.slow
async def test_store_runs_on_embedded_postgres(data_dir: Path) -> None:
    settings = make_settings("http://127.0.0.1:9", db_enabled=True, database_url="",
                             data_dir=str(data_dir), write_batch_interval=0.01,
                             db_pool_max=3, db_pool_min=1)
    store = Store(store_config(settings), NodeMetrics())
    await store.start()
    try:
        assert store.dsn.startswith("postgresql://") and str(data_dir) in store.dsn
        for i in range(10):
            store.recorder("transaction", subject(i), result(i))
        await wait_for(lambda: store.metrics.write_records.get(("written",)) == 10)
        page = await store.history.query(HistoryQuery(limit=50))
        assert len(page.items) == 10
    finally:
        await store.stop()
    assert (data_dir / "pg" / "PG_VERSION").exists()


@pytest.mark.slow
def test_migrate_command_on_embedded_postgres(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.setenv("DATA_DIR", str(data_dir))
    assert main(["migrate"]) == 0
    out = capsys.readouterr().out
    assert "migrations applied: 0001" in out and "validations_p" in out
    assert main(["migrate"]) == 0
    assert "none (up to date)" in capsys.readouterr().out


@pytest.mark.slow
def test_a_command_on_embedded_postgres_prints_no_warning(data_dir: Path, tmp_path: Path) -> None:
    """pgserver asks platformdirs for a runtime folder at import: without XDG_RUNTIME_DIR
    (containers, ssh sessions) that printed a RuntimeDirWarning on every command that
    starts the embedded database."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k not in ("XDG_RUNTIME_DIR", "DATABASE_URL")}
    env["DATA_DIR"] = str(data_dir)
    done = subprocess.run([str(Path(sys.executable).with_name("bizra-node")), "migrate"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "Warning" not in done.stderr, done.stderr
