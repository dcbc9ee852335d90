"""Reading a spool file's frames in tests (the node itself only replays them)."""

from __future__ import annotations

from pathlib import Path

from bizra_node.store import Record
from bizra_node.store.frames import scan


def read_frames(path: Path) -> list[list[Record]]:
    """All intact frames of the spool (or rejected-records) file at ``path``, even the
    active one a writer holds locked."""
    return scan(path.read_bytes()).frames
