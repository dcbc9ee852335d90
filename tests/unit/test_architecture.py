"""The boundaries of docs/architecture.md hold in the import graph, and the graph drawn
there is the code's (scripts/import_graph.py)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
assert _spec is not None and _spec.loader is not None
graph_tool = importlib.util.module_from_spec(_spec)
sys.modules["import_graph"] = graph_tool
_spec.loader.exec_module(graph_tool)

ROOMS = ("api", "validation", "cache", "chain", "store", "resilience", "observability",
         "devnet", "security", "consensus", "server")
LEAVES = ("errors", "faults", "jsonrpc", "history", "apikeys", "lifeline")

NEVER = {
    # the HTTP layer talks to the domain and read models, never to their internals
    "api": {"chain", "store", "cache", "settings"},
    # the domain calls the cache and the chain side by side, through small protocols
    "validation": {"api", "store", "chain", "settings"},
    "cache": {"api", "validation", "chain", "store", "settings"},
    "chain": {"api", "validation", "cache", "store", "settings"},
    "store": {"api", "validation", "chain", "cache", "settings"},
    "observability": {"api", "validation", "chain", "cache", "store", "settings"},
    "devnet": {"api", "validation", "chain", "cache", "store", "settings"},
    # keys and rate limits know nothing of HTTP, the domain or the database's internals
    "security": {"api", "validation", "chain", "cache", "store", "settings"},
    # the light client is a source the anchor takes: it knows nothing of the node around it
    "consensus": {"api", "validation", "chain", "cache", "store", "settings"},
    # one node's process tree: granian, its workers, its ports; nothing of the requests
    "server": {"api", "validation", "chain", "cache", "store", "settings"},
}


def test_rooms_keep_their_boundaries() -> None:
    graph = graph_tool.room_graph()
    broken = {room: sorted(graph.get(room, set()) & banned) for room, banned in NEVER.items()}
    assert {r: b for r, b in broken.items() if b} == {}


def test_the_toolbox_and_the_leaves_depend_on_nothing_of_ours() -> None:
    graph = graph_tool.room_graph()
    assert graph.get("resilience", set()) == set()
    for leaf in LEAVES:
        assert graph.get(leaf, set()) <= {"errors", "faults"}, leaf


def test_only_app_and_cli_read_the_settings() -> None:
    readers = {room for room, uses in graph_tool.room_graph().items() if "settings" in uses}
    assert readers <= {"app", "cli"}


def test_no_room_reaches_inside_another() -> None:
    """Between rooms, imports go through the room's __init__ (its exports)."""
    inside = []
    for src, dst in graph_tool.imports():
        a, b = graph_tool.room_of(src), graph_tool.room_of(dst)
        if a != b and b in ROOMS and dst != f"bizra_node.{b}":
            inside.append(f"{src} -> {dst}")
    assert inside == []


@pytest.mark.parametrize("room", ROOMS)
def test_each_room_lists_its_exports(room: str) -> None:
    module = importlib.import_module(f"bizra_node.{room}")
    assert getattr(module, "__all__", None), f"bizra_node.{room} has no __all__"
    for name in module.__all__:
        assert hasattr(module, name), f"{room}.__all__ names {name}, which it lacks"


def test_the_drawn_graph_is_the_codes() -> None:
    doc = (ROOT / "docs" / "architecture.md").read_text()
    drawn = doc.split(graph_tool.BEGIN, 1)[1].split(graph_tool.END, 1)[0].strip()
    assert drawn == graph_tool.render(), "run `python scripts/import_graph.py --write`"
