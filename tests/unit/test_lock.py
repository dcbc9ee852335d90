"""The venv is what the lock says (requirements/*.txt, made by `make lock`): a version
that moved without a commit fails here, not somewhere later as a changed behaviour."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
LOCKS = ROOT / "requirements"
LOCAL = {"bizra-node", "bizra-node-bench"}
"""Installed from this checkout (editable, --no-deps), not from the lock."""
SEEDED = {"pip"}
"""Put there by ``python -m venv``; `uv pip sync` leaves it."""

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)", re.M)


def pins(name: str) -> dict[str, str]:
    text = (LOCKS / name).read_text()
    return {canonicalize_name(m[1]): m[2] for m in _PIN.finditer(text)}


def installed() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}


def test_every_locked_package_is_installed_at_its_locked_version() -> None:
    have = installed()
    want = pins("dev.txt") | pins("tools.txt")
    wrong = {name: (version, have.get(name)) for name, version in want.items()
             if have.get(name) != version}
    assert not wrong, f"venv differs from the lock (locked, installed): {wrong}; run `make setup`"


def test_nothing_is_installed_that_the_lock_does_not_name() -> None:
    want = pins("dev.txt") | pins("tools.txt")
    extra = set(installed()) - set(want) - LOCAL - SEEDED
    assert not extra, f"installed but not locked: {sorted(extra)}; run `make setup`"


def test_every_lock_line_carries_a_hash() -> None:
    for name in ("dev.txt", "runtime.txt", "tools.txt"):
        text = (LOCKS / name).read_text()
        for match in _PIN.finditer(text):
            rest = text[match.end():].split("\n", 2)
            assert "--hash=sha256:" in "\n".join(rest[:2]), f"{name}: {match[0]} has no hash"


def test_the_image_lock_agrees_with_the_dev_lock() -> None:
    runtime, dev = pins("runtime.txt"), pins("dev.txt")
    assert runtime, "requirements/runtime.txt pins nothing"
    differ = {n: (v, dev.get(n)) for n, v in runtime.items() if dev.get(n) != v}
    assert not differ, f"runtime.txt and dev.txt disagree: {differ}; run `make lock`"


def test_pyprojects_ranges_admit_the_locked_versions() -> None:
    """Ranges stay in pyproject for people who install the wheel; they must not
    exclude what the lock (and so CI) tested."""
    dev = pins("dev.txt")
    for path in (ROOT / "pyproject.toml", ROOT / "bench" / "pyproject.toml"):
        project = tomllib.loads(path.read_text())["project"]
        declared = list(project["dependencies"])
        for extra in project.get("optional-dependencies", {}).values():
            declared += extra
        for line in declared:
            req = Requirement(line)
            name = canonicalize_name(req.name)
            if name in LOCAL or (req.marker and not req.marker.evaluate()):
                continue
            assert name in dev, f"{path.name}: {name} is not in the lock; run `make lock`"
            assert req.specifier.contains(dev[name], prereleases=True), \
                f"{path.name}: {line!r} excludes the locked {dev[name]}"
