"""BIZRA_LOOP: the event loop `serve` asks granian for (uvloop by default), and a clear
refusal when the chosen loop's package is missing."""

from __future__ import annotations

import importlib.util
from typing import Any

import pytest
from granian.constants import Loops
from pydantic import ValidationError

from bizra_node import cli, server
from bizra_node.settings import Settings


class _Recorder:
    """Stands in for granian (SupervisedGranian): keeps the options, serves nothing."""

    seen: dict[str, Any] = {}

    def __init__(self, target: str, **options: Any) -> None:
        _Recorder.seen = {"target": target, **options}

    def serve(self) -> None:
        return None


@pytest.fixture
def no_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(server, "SupervisedGranian", _Recorder)
    monkeypatch.setenv("BIZRA_NODE_URL", "http://127.0.0.1:9")  # no devnet is started
    monkeypatch.setenv("DB_ENABLED", "false")
    monkeypatch.delenv("BIZRA_LOOP", raising=False)
    monkeypatch.delenv("METRICS_ADDRESS", raising=False)


def test_uvloop_is_the_default_and_installed() -> None:
    assert Settings(bizra_node_url="http://127.0.0.1:9").bizra_loop == "uvloop"
    assert importlib.util.find_spec("uvloop") is not None


@pytest.mark.usefixtures("no_server")
@pytest.mark.parametrize("loop", ["", "asyncio", "uvloop", "auto"])
def test_serve_passes_the_loop_to_granian(monkeypatch: pytest.MonkeyPatch, loop: str) -> None:
    if loop:
        monkeypatch.setenv("BIZRA_LOOP", loop)
    assert cli.main(["serve", "--port", "0", "--workers", "1"]) == 0
    assert _Recorder.seen["loop"] is Loops(loop or "uvloop")


def test_an_unknown_loop_is_refused_at_load() -> None:
    with pytest.raises(ValidationError, match="bizra_loop"):
        Settings(bizra_node_url="http://127.0.0.1:9", bizra_loop="tokio")  # type: ignore[arg-type]


@pytest.mark.usefixtures("no_server")
def test_a_loop_whose_package_is_missing_is_one_clear_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "rloop" else real(name, *a))
    monkeypatch.setenv("BIZRA_LOOP", "rloop")
    _Recorder.seen = {}
    assert cli.main(["serve", "--port", "0"]) == 2
    assert _Recorder.seen == {}
    assert "BIZRA_LOOP=rloop: the rloop package is not installed" in capsys.readouterr().err
