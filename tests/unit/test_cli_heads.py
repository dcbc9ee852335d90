"""`serve` makes the heads file before granian starts the workers, names it in
HEADS_FILE for them, and removes it when it stops; a HEADS_FILE in a place others may
write is refused with one clear line."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest

from bizra_node import cli, server
from bizra_node.validation import SharedHeads


class _Recorder:
    """Stands in for granian (SupervisedGranian): looks at the heads file the workers would map."""

    seen: dict[str, Any] = {}

    def __init__(self, target: str, **options: Any) -> None:
        pass

    def serve(self) -> None:
        path = os.environ["HEADS_FILE"]
        heads = SharedHeads.open(path, 31337)  # what a worker does at start
        _Recorder.seen = {"path": path, "head": heads.head}
        heads.close()


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "SupervisedGranian", _Recorder)
    monkeypatch.setenv("BIZRA_NODE_URL", "http://127.0.0.1:9")  # no devnet is started
    monkeypatch.setenv("DB_ENABLED", "false")
    monkeypatch.delenv("METRICS_ADDRESS", raising=False)
    monkeypatch.delenv("HEADS_FILE", raising=False)
    _Recorder.seen = {}


@pytest.mark.usefixtures("no_server")
def test_serve_makes_the_heads_file_for_the_workers_and_removes_it() -> None:
    assert cli.main(["serve", "--port", "0", "--workers", "2"]) == 0
    path = Path(_Recorder.seen["path"])
    assert _Recorder.seen["head"] == 0
    assert not path.exists() and not path.parent.exists()
    assert "HEADS_FILE" not in os.environ


@pytest.mark.usefixtures("no_server")
def test_a_heads_file_where_others_may_write_is_refused(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    open_dir = tmp_path / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    monkeypatch.setenv("HEADS_FILE", str(open_dir / "heads"))
    assert cli.main(["serve", "--port", "0"]) == 2
    assert _Recorder.seen == {}
    assert "must be a directory of this user that no other user may write" in \
        capsys.readouterr().err


@pytest.mark.usefixtures("no_server")
def test_a_given_heads_file_is_made_there_and_removed(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    private = tmp_path / "run"
    private.mkdir(mode=0o700)
    monkeypatch.setenv("HEADS_FILE", str(private / "heads"))
    assert cli.main(["serve", "--port", "0"]) == 0
    assert _Recorder.seen["path"] == str(private / "heads")
    assert private.is_dir() and not (private / "heads").exists()
    assert os.environ["HEADS_FILE"] == str(private / "heads")


def test_a_worker_whose_heads_file_is_gone_answers_on_its_own(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The file was removed while the node ran (a tmp cleaner, logind's RemoveIPC): a
    worker started then logs it and serves alone instead of failing to start."""
    from bizra_node.app import open_heads
    from tests.conftest import make_settings

    settings = make_settings("http://127.0.0.1:9", heads_file=str(tmp_path / "gone"))
    with caplog.at_level(logging.ERROR, "bizra_node"):
        assert open_heads(settings) is None
    assert "cannot open" in caplog.text and "answers on its own" in caplog.text
    assert open_heads(make_settings("http://127.0.0.1:9")) is None  # outside serve: quiet
