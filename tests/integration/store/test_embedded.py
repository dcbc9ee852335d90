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
