"""Write the settings table into README.md between its settings markers."""

from __future__ import annotations

import sys
from pathlib import Path

from bizra_node.settings import describe_settings

BEGIN, END = "<!-- settings:begin -->", "<!-- settings:end -->"
README = Path(__file__).resolve().parents[1] / "README.md"


def render(text: str) -> str:
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    return f"{head}{BEGIN}\n{describe_settings(markdown=True)}\n{END}{tail}"


if __name__ == "__main__":
    README.write_text(render(README.read_text()))
    sys.exit(0)
