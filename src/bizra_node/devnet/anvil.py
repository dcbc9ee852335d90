"""A local anvil devnet as a managed subprocess.

anvil comes from the npm package ``@foundry-rs/anvil-linux-amd64``, installed by
``make setup`` into the project's ``.devnet/`` folder (git-ignored).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

from ..lifeline import die_with_parent
from .process import stop_process, wait_ready

__all__ = ["Anvil", "find_anvil", "free_port"]

_NPM_PATH = Path(".devnet/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def find_anvil() -> str:
    """ANVIL_BIN, else the project's .devnet install (searched upwards), else PATH."""
    env = os.environ.get("ANVIL_BIN")
    if env:
        return env
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        candidate = folder / _NPM_PATH
        if candidate.is_file():
            return str(candidate)
    pkg_root = Path(__file__).resolve().parents[3]
    if (pkg_root / _NPM_PATH).is_file():
        return str(pkg_root / _NPM_PATH)
    found = shutil.which("anvil")
    if found:
        return found
    raise FileNotFoundError("anvil not found: run `make setup` (installs it into .devnet/) "
                            "or set ANVIL_BIN")


class Anvil:
    """Start with ``start()``, stop with ``stop()`` (or use as a context manager)."""

    def __init__(self, port: int | None = None, *, chain_id: int = 31337,
                 slots_in_an_epoch: int = 2, block_time: float | None = None,
                 binary: str | None = None, hardfork: str | None = None,
                 extra_args: tuple[str, ...] = ()) -> None:
        self.port = port or free_port()
        self.chain_id = chain_id
        self.slots_in_an_epoch = slots_in_an_epoch
        self.block_time = block_time
        self.hardfork = hardfork
        """anvil's ``--hardfork`` (e.g. ``prague``); None: anvil's default (its latest)."""
        self.binary = binary or find_anvil()
        self.extra_args = extra_args
        """More anvil options (``--fork-url``, ``--fork-block-number``: a lagging node)."""
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 15.0) -> Anvil:
        args = [self.binary, "--host", "127.0.0.1", "--port", str(self.port), "--silent",
                "--chain-id", str(self.chain_id),
                "--slots-in-an-epoch", str(self.slots_in_an_epoch)]
        if self.block_time:
            args += ["--block-time", str(self.block_time)]
        if self.hardfork:
            args += ["--hardfork", self.hardfork]
        args += self.extra_args
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     start_new_session=True, preexec_fn=die_with_parent)
        try:
            wait_ready(self.proc, self._answers, what=f"anvil on port {self.port}",
                       timeout=timeout)
        except TimeoutError:
            self.stop()
            raise
        return self

    def _answers(self) -> bool:
        req = urllib.request.Request(
            self.url, data=b'{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}',
            headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=0.5) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is None:
            return
        stop_process(self.proc, grace=5)
        if self.proc.stderr:
            with contextlib.suppress(Exception):
                self.proc.stderr.close()
        self.proc = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
