"""What the performance suite asks for: a devnet with many real transactions, blocks
and addresses, split into disjoint key sets, and request sequences over them
(Zipf-distributed for the mixed workload).

Seeding sends the transfers as JSON-RPC batches with automine off and mines a block
after each batch (1-8 transactions per block), so a few thousand keys take seconds.
Recipients are fresh addresses (a quarter of the time) or earlier ones, so addresses
have a history too. Every seeded block ends up final (extra blocks are mined on top).
"""

from __future__ import annotations

import bisect
import itertools
import json
import random
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from bizra_node.devnet import rpc

__all__ = ["Keys", "Req", "Workload", "seed_workload", "validation_request", "zipf_sequence"]

KINDS = ("transaction", "block", "address")
K = TypeVar("K")


@dataclass(frozen=True)
class Req:
    """One HTTP request: ``body`` None means GET."""

    method: str
    path: str
    body: bytes | None = None
    kind: str = ""


@dataclass
class Keys:
    """Real subjects of each kind (hashes, block numbers, checksummed-or-lower addresses)."""

    transaction: list[str] = field(default_factory=list)
    block: list[int] = field(default_factory=list)
    address: list[str] = field(default_factory=list)

    def of(self, kind: str) -> list[Any]:
        return list(getattr(self, kind))

    def items(self) -> list[tuple[str, Any]]:
        return [(kind, key) for kind in KINDS for key in getattr(self, kind)]

    def counts(self) -> dict[str, int]:
        return {kind: len(getattr(self, kind)) for kind in KINDS}


@dataclass
class Workload:
    """Disjoint key sets, so that no scenario finds a key another one has cached:
    ``zipf`` for the mixed workload, ``miss`` for the miss path, ``cold`` for the
    validation scenario (asked twice: cold, then warm)."""

    zipf: Keys
    miss: Keys
    cold: Keys
    hot_tx: str
    """The transaction of the single-key hit-path runs."""
    head: int

    def summary(self) -> dict[str, Any]:
        return {"zipf": self.zipf.counts(), "miss": self.miss.counts(),
                "cold": self.cold.counts(), "head": self.head}


def _batch(url: str, calls: Sequence[tuple[str, list[Any]]]) -> list[Any]:
    body = json.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                       for i, (m, p) in enumerate(calls)]).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        answers = sorted(json.loads(resp.read()), key=lambda a: a["id"])
    for a in answers:
        if "error" in a:
            raise RuntimeError(f"seeding failed: {a['error']}")
    return [a["result"] for a in answers]


def _split(items: list[K], kind: str, miss: int, cold: int,
           rng: random.Random) -> tuple[list[K], list[K], list[K]]:
    """``items`` shuffled, then cut into (miss, cold, zipf) key sets."""
    if len(items) <= miss + cold:
        raise ValueError(f"not enough seeded keys of kind {kind} for the key sets")
    rng.shuffle(items)
    return items[:miss], items[miss:miss + cold], items[miss + cold:]


def seed_workload(url: str, *, txs: int = 10_000, miss: Sequence[int] = (600, 200, 200),
                  cold: Sequence[int] = (300, 300, 300), rng_seed: int = 7,
                  final_margin: int = 16) -> Workload:
    """Seed ``url`` (a fresh anvil) with ``txs`` transfers and split what was seeded
    into key sets: ``miss`` and ``cold`` say how many (transactions, blocks,
    addresses) each gets; the rest is the Zipf key set."""
    rng = random.Random(rng_seed)
    accounts = [str(a) for a in rpc(url, "eth_accounts")]
    first_block = int(rpc(url, "eth_blockNumber"), 16) + 1
    rpc(url, "evm_setAutomine", [False])
    hashes: list[str] = []
    recipients: list[str] = []
    blocks: list[int] = []
    try:
        while len(hashes) < txs:
            calls = []
            # one transaction per sender per block: anvil numbers the nonces of a batch
            # concurrently, and two from one sender would collide
            senders = rng.sample(accounts, min(rng.randint(1, 8), txs - len(hashes)))
            for sender in senders:
                if not recipients or rng.random() < 0.25:
                    recipients.append("0x" + rng.randbytes(20).hex())
                to = recipients[-1] if rng.random() < 0.5 else rng.choice(recipients)
                calls.append(("eth_sendTransaction",
                              [{"from": sender, "to": to, "value": hex(rng.randint(1, 10**15))}]))
            hashes += [str(h) for h in _batch(url, calls)]
            rpc(url, "evm_mine")
            blocks.append(first_block + len(blocks))
    finally:
        rpc(url, "evm_setAutomine", [True])
    rpc(url, "anvil_mine", [hex(final_margin)])
    head = int(rpc(url, "eth_blockNumber"), 16)
    tx = _split(hashes, KINDS[0], miss[0], cold[0], rng)
    block = _split(blocks, KINDS[1], miss[1], cold[1], rng)
    address = _split(recipients, KINDS[2], miss[2], cold[2], rng)
    miss_keys, cold_keys, zipf_keys = (Keys(tx[j], block[j], address[j]) for j in range(3))
    hot = zipf_keys.transaction.pop()
    return Workload(zipf=zipf_keys, miss=miss_keys, cold=cold_keys, hot_tx=hot, head=head)


# --- requests ---------------------------------------------------------------------------
_FIELD = {"transaction": "txHash", "block": "blockNumber", "address": "address"}
_RESOURCE = {"transaction": "transactions", "block": "blocks", "address": "addresses"}


def validation_request(kind: str, key: Any, form: str = "post") -> Req:
    """The POST validate/<kind> request for ``key``, or its GET resource form."""
    if form == "get":
        return Req("GET", f"/api/v1/{_RESOURCE[kind]}/{key}", None, kind)
    body = json.dumps({_FIELD[kind]: key}, separators=(",", ":")).encode()
    return Req("POST", f"/api/v1/validate/{kind}", body, kind)


def rpc_request(tx_hash: str) -> Req:
    """eth_getTransactionByHash as a JSON-RPC POST (the /rpc and nginx runs)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "eth_getTransactionByHash",
                       "params": [tx_hash]}, separators=(",", ":")).encode()
    return Req("POST", "/rpc", body, "rpc")


def _batch_body(calls: list[tuple[str, list[Any]]]) -> bytes:
    return json.dumps([{"jsonrpc": "2.0", "id": i, "method": m, "params": p}
                       for i, (m, p) in enumerate(calls)], separators=(",", ":")).encode()


def tx_batch_body(tx_hash: str) -> bytes:
    """The first JSON-RPC batch the node sends upstream on a transaction miss (the
    transaction, its receipt, the head): what "the upstream called directly" is asked, to
    measure that round trip alone. (A transaction whose block the node has not proven
    yet costs a second batch: the block and its receipts.)"""
    return _batch_body([("eth_getTransactionByHash", [tx_hash]),
                   ("eth_getTransactionReceipt", [tx_hash]), ("eth_blockNumber", [])])


def block_batch_body(number: int) -> bytes:
    """The batch of a block miss by number: the full block, its receipts, the head."""
    return _batch_body([("eth_getBlockByNumber", [hex(number), True]),
                   ("eth_getBlockReceipts", [hex(number)]), ("eth_blockNumber", [])])


def address_batch_body(address: str, head: int) -> bytes:
    """The batch of an address miss: the EIP-1186 proof, the code, the header at the head."""
    at = hex(head)
    return _batch_body([("eth_getProof", [address, [], at]), ("eth_getCode", [address, at]),
                   ("eth_getBlockByNumber", [at, False])])


def zipf_sequence(keys: Keys, n: int, *, s: float = 1.0, rng_seed: int = 11,
                  form: str = "post") -> list[Req]:
    """``n`` requests whose keys follow a Zipf law of exponent ``s`` over every key
    of ``keys`` (ranked in a seeded random order, so popularity is not tied to
    kind or age)."""
    rng = random.Random(rng_seed)
    items = keys.items()
    rng.shuffle(items)
    cumulative = list(itertools.accumulate(1.0 / (rank + 1) ** s for rank in range(len(items))))
    total = cumulative[-1]
    requests = [validation_request(kind, key, form) for kind, key in items]
    return [requests[bisect.bisect(cumulative, rng.random() * total)] for _ in range(n)]
