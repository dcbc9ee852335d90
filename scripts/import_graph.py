"""The package's import graph between rooms (subpackages and top-level modules).

`python scripts/import_graph.py` prints it; `--write` puts it into docs/architecture.md
between the imports markers (tests/unit/test_architecture.py checks it is current).
Only imports that run (not those under `if TYPE_CHECKING:`) are counted.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "bizra_node"
DOC = ROOT / "docs" / "architecture.md"
BEGIN, END = "<!-- imports:begin -->", "<!-- imports:end -->"


def room_of(module: str) -> str:
    """bizra_node.cache.tiered -> cache; bizra_node.errors -> errors; a name imported
    from the package itself (bizra_node.__version__) -> bizra_node."""
    parts = module.split(".")
    if len(parts) < 2:
        return parts[0]
    room = parts[1]
    if (PACKAGE / room).is_dir() or (PACKAGE / f"{room}.py").is_file():
        return room
    return parts[0]


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in ast.walk(node):
                if hasattr(child, "lineno"):
                    lines.add(child.lineno)
    return lines


def imports() -> list[tuple[str, str]]:
    """(importing module, imported module) pairs inside the package."""
    out: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(), str(path))
        skip = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".")
                    base = base[: len(base) - node.level + (1 if is_pkg else 0)]
                    target = ".".join(base + ([node.module] if node.module else []))
                    if not node.module:  # from . import x / from .. import x
                        for alias in node.names:
                            out.append((name, f"{target}.{alias.name}"))
                        continue
                else:
                    target = node.module or ""
                if target.startswith("bizra_node"):
                    out.append((name, target))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name.startswith("bizra_node"):
                        out.append((name, alias.name))
    return out


def room_graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for src, dst in imports():
        a, b = room_of(src), room_of(dst)
        graph.setdefault(a, set())
        if a != b and b != "bizra_node":
            graph[a].add(b)
    return graph


def render() -> str:
    graph = room_graph()
    width = max(len(r) for r in graph)
    lines = ["```"]
    for room in sorted(graph, key=lambda r: (-len(graph[r]), r)):
        uses = ", ".join(sorted(graph[room])) or "-"
        lines.append(f"{room:<{width}}  -> {uses}")
    lines.append("```")
    return "\n".join(lines)


def main() -> int:
    text = render()
    if "--write" in sys.argv:
        doc = DOC.read_text()
        head, rest = doc.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
        DOC.write_text(f"{head}{BEGIN}\n{text}\n{END}{tail}")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
