"""The BIZRA-NODE0 checkout a benchmark runs in: results go to its bench/results/, the
node processes start in it (so they read its .env, as `bizra-node serve` there would) and
`bench compare` reads its git history. The harness may be installed from a wheel, so the
checkout is looked for from the current directory upwards first, then from this
package's own files (an editable install lives inside its checkout)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["find_checkout", "is_checkout"]

_PACKAGE = Path(__file__).resolve().parent


def is_checkout(folder: Path) -> bool:
    """``folder`` holds the node's pyproject.toml and the harness's bench/pyproject.toml."""
    return (folder / "pyproject.toml").is_file() and (folder / "bench" / "pyproject.toml").is_file()


def find_checkout(start: Path | None = None, package: Path = _PACKAGE) -> Path | None:
    """The checkout holding ``start`` (default: the current directory), else the one
    holding ``package`` (this package's folder: <checkout>/bench/bizra_bench when
    installed editable), else None (a wheel installed outside any checkout)."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if is_checkout(folder):
            return folder
    home = package.parent.parent
    return home if is_checkout(home) else None
