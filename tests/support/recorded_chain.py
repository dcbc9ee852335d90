"""Real blocks without a live anvil: the trust unit tests read answers that a seeded
anvil gave once, recorded into tests/fixtures/trust/ (see its README).

``RecordedChain`` answers as ``bizra_bench.trust_seed.TrustDevnet`` does (``manifest``,
``call``, ``block``, ``bundle``, ``all_txs``) from that file. ``Recorder`` wraps a live
``TrustDevnet`` and keeps every answer it gives, which tests/fixtures/trust/record.py
writes out after running the trust unit tests against a fresh anvil.
"""

from __future__ import annotations

import copy
import gzip
import json
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bizra_bench.trust_seed import TrustDevnet, TrustManifest, TxBundle

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "trust" / "anvil.json.gz"
"""The recorded answers: gzipped JSON ``{"anvil": version, "manifest": {...},
"answers": {"[method, params]": result}}``."""


def _key(method: str, params: tuple[Any, ...] | list[Any]) -> str:
    return json.dumps([method, list(params)], separators=(",", ":"))


class _Reader:
    """What the trust tests read, over ``call``; subclasses say where answers come from."""

    manifest: TrustManifest

    def call(self, method: str, *params: Any) -> Any:
        raise NotImplementedError

    def block(self, number: int, full: bool = True) -> dict[str, Any]:
        return dict(self.call("eth_getBlockByNumber", hex(number), full))

    def bundle(self, tx_hash: str) -> TxBundle:
        from bizra_bench.trust_seed import TxBundle

        tx = self.call("eth_getTransactionByHash", tx_hash)
        receipt = self.call("eth_getTransactionReceipt", tx_hash)
        block = self.call("eth_getBlockByHash", tx["blockHash"], True)
        receipts = self.call("eth_getBlockReceipts", tx["blockHash"])
        return TxBundle(tx, receipt, block, receipts)

    def all_txs(self) -> dict[str, str]:
        """Every seeded kind, alone in its block and in the mixed block."""
        m = self.manifest
        return {**m.txs, **{f"mixed_{k}": v for k, v in m.mixed_txs.items()}}


class RecordedChain(_Reader):
    """Answers from the recording; each call returns a fresh copy (tests edit them)."""

    def __init__(self, path: Path = FIXTURE) -> None:
        from bizra_bench.trust_seed import TrustManifest

        with gzip.open(path, "rt", encoding="utf-8") as f:
            doc = json.load(f)
        manifest = doc["manifest"]
        manifest["big_blocks"] = {int(k): v for k, v in manifest["big_blocks"].items()}
        self.manifest = TrustManifest(**manifest)
        self.anvil_version: str = doc["anvil"]
        self.answers: dict[str, Any] = doc["answers"]

    def call(self, method: str, *params: Any) -> Any:
        try:
            answer = self.answers[_key(method, params)]
        except KeyError:
            raise LookupError(f"{method}{list(params)} is not in {FIXTURE.name}: record it again "
                              "(python tests/fixtures/trust/record.py)") from None
        return copy.deepcopy(answer)


class Recorder(_Reader):
    """A live ``TrustDevnet`` whose answers are kept, to be written by ``save``."""

    def __init__(self, live: TrustDevnet) -> None:
        self.live = live
        self.manifest = live.manifest
        self.answers: dict[str, Any] = {}

    def call(self, method: str, *params: Any) -> Any:
        answer = self.live.call(method, *params)
        self.answers[_key(method, params)] = copy.deepcopy(answer)
        return answer

    def save(self, path: Path, anvil_version: str) -> None:
        doc = {"anvil": anvil_version, "manifest": asdict(self.manifest),
               "answers": dict(sorted(self.answers.items()))}
        with gzip.GzipFile(path, "wb", mtime=0) as f:
            f.write(json.dumps(doc, indent=1).encode())
