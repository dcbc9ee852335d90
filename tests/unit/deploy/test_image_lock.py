"""The image's install (Dockerfile) is the lock's: requirements/runtime.txt alone, with
hashes and no resolver, is enough for the node to import and list its settings. The
machine has no container engine, so the Dockerfile's two install steps are replayed in
a throwaway venv (uv's cache makes it a few seconds after `make setup`)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
UV = Path(sys.executable).with_name("uv")


def test_the_dockerfile_installs_the_runtime_lock_with_hashes() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes --no-deps -r /tmp/runtime.txt" in text
    assert "--no-deps /wheels/*.whl" in text
    assert "--require-hashes --no-deps -r requirements/tools.txt" in text


def test_the_runtime_lock_is_enough_to_run_the_node(tmp_path: Path) -> None:
    venv = tmp_path / "image"
    env = {**os.environ, "VIRTUAL_ENV": ""}
    run = [str(UV), "-q"]
    subprocess.run([*run, "venv", "--python", sys.executable, str(venv)], check=True, env=env,
                   timeout=120)
    python = str(venv / "bin" / "python")
    subprocess.run([*run, "pip", "sync", "--python", python, "--require-hashes",
                    str(ROOT / "requirements" / "runtime.txt")], check=True, env=env, timeout=300)
    subprocess.run([*run, "pip", "install", "--python", python, "--no-deps", str(ROOT)],
                   check=True, env=env, timeout=300)
    out = subprocess.run([str(venv / "bin" / "bizra-node"), "settings"], capture_output=True,
                         text=True, env={**env, "PATH": str(venv / "bin")}, cwd=tmp_path,
                         timeout=60, check=False)
    assert out.returncode == 0, out.stderr
    assert "BIZRA_NODE_URL" in out.stdout
