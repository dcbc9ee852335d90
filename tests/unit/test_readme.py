"""The README's settings table is generated from settings.py and must stay in sync."""

from __future__ import annotations

from pathlib import Path

from bizra_node.settings import Settings, describe_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_lists_every_setting_with_its_default() -> None:
    text = README.read_text()
    assert describe_settings(markdown=True) in text, "run `make readme`"
    for name in Settings.model_fields:
        assert f"| {name.upper()} |" in text


def test_readme_starts_with_the_two_commands() -> None:
    head = README.read_text().split("\n\n", 3)[:3]
    assert "make run" in "\n".join(head) and "make test" in "\n".join(head)
