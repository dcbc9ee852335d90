"""Logs proven, and complete: ``eth_getLogs``, log filters and the ``logs`` subscription
answered from proven receipts, never from an upstream's eth_getLogs.

Proving each log an upstream returns (as light clients do) still lets it leave logs
out. Here the node makes the answer itself:

1. the headers of the range are fetched (JSON-RPC batches of 100, BATCHES_AT_ONCE at a
   time, each hash recomputed, each linked to the one below by parentHash) and the
   highest is linked to the anchor, so every header in the range is canonical (or,
   beyond TRUST_WALK_LIMIT, consistent);
2. a block whose proven ``logsBloom`` lacks a bit of the filter's addresses or of a
   topic position is skipped: a bloom has no false negatives (trust/bloom.py);
3. the other blocks are fetched with their receipts (``eth_getBlockReceipts``, the
   prover's batches of BLOCKS_PER_BATCH blocks, BATCHES_AT_ONCE at a time) and proven
   against their headers' ``transactionsRoot`` and ``receiptsRoot``;
4. the logs are filtered here (address, topics with null positions and OR-lists, as
   the JSON-RPC spec says) and their positions (``logIndex``, ``transactionIndex``,
   ``transactionHash``, ``blockHash``) are computed from the proven lists.

So the answer is the complete set, in canonical order. A block's logs are kept by block
hash (an LRU of at most 50 000 logs), and the blooms of headers already proven
canonical too, so a range asked again costs no upstream round trip. A ``blockHash``
filter proves that block.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from ..jsonrpc import LIMIT_EXCEEDED, Call, RpcError
from .chain_view import ChainView
from .filters import RpcFailed, resolve_block
from .prover import BATCHES_AT_ONCE, Prover, integrity, missing
from .trust import Anchor, Check, Header, ProvenBlock, TrustError, Verification, verification, verify_header
from .trust.bloom import Bits, bloom_bits, bloom_has_any
from .upstreams import Upstreams

__all__ = ["LogFilter", "ProvenLogs", "block_logs", "log_matches", "may_match"]

_MAX_TOPICS = 4
_HEADER_BATCH = 100
"""Headers asked for in one JSON-RPC batch."""
_LOGS_MEMO = 50_000
"""Logs kept, with their blocks (by hash): about 50 MB at most."""
_BLOOM_MEMO = 65536
"""Proven header blooms kept (by hash): 256 bytes each."""


def _invalid(message: str) -> RpcFailed:
    return RpcFailed(RpcError(-32602, f"invalid params: {message}"))


def _hex_bytes(value: Any, size: int, what: str) -> bytes:
    if not isinstance(value, str) or len(value) != 2 + 2 * size or value[:2] not in ("0x", "0X"):
        raise _invalid(f"{what} must be 0x and {2 * size} hex digits")
    try:
        return bytes.fromhex(value[2:])
    except ValueError:
        raise _invalid(f"{what} must be 0x and {2 * size} hex digits") from None


@dataclass(frozen=True, slots=True)
class LogFilter:
    """Filter criteria, checked and parsed: ``addresses`` empty means any address; each
    topic position is None (any) or the set of topics it allows (an OR-list)."""

    addresses: frozenset[bytes]
    topics: tuple[frozenset[bytes] | None, ...]
    block_hash: bytes | None = None
    from_block: Any = "latest"
    to_block: Any = "latest"

    @classmethod
    def parse(cls, raw: Any, *, block_hash_allowed: bool = True) -> LogFilter:
        """The criteria of eth_getLogs / eth_newFilter / a logs subscription; RpcFailed
        (-32602) when malformed."""
        if not isinstance(raw, dict):
            raise _invalid("the filter must be an object")
        unknown = set(raw) - {"fromBlock", "toBlock", "address", "topics", "blockHash"}
        if unknown:
            raise _invalid(f"unknown filter field {sorted(unknown)[0][:40]!r}")
        address = raw.get("address")
        if address is None:
            addresses: frozenset[bytes] = frozenset()
        elif isinstance(address, str):
            addresses = frozenset((_hex_bytes(address, 20, "address"),))
        elif isinstance(address, list):
            addresses = frozenset(_hex_bytes(a, 20, "address") for a in address)
        else:
            raise _invalid("address must be a string or a list")
        topics_raw = raw.get("topics")
        if topics_raw is None:
            topics_raw = []
        if not isinstance(topics_raw, list):
            raise _invalid("topics must be a list")
        if len(topics_raw) > _MAX_TOPICS:
            raise _invalid(f"at most {_MAX_TOPICS} topic positions")
        topics: list[frozenset[bytes] | None] = []
        for position in topics_raw:
            if position is None:
                topics.append(None)
            elif isinstance(position, str):
                topics.append(frozenset((_hex_bytes(position, 32, "topic"),)))
            elif isinstance(position, list):
                if any(t is None for t in position):
                    topics.append(None)  # null in an OR-list: anything matches
                else:
                    allowed = frozenset(_hex_bytes(t, 32, "topic") for t in position)
                    topics.append(allowed or None)
            else:
                raise _invalid("a topic position must be null, a topic or a list of topics")
        block_hash: bytes | None = None
        if raw.get("blockHash") is not None:
            if not block_hash_allowed:
                raise _invalid("blockHash is not supported here (use eth_getLogs)")
            if raw.get("fromBlock") is not None or raw.get("toBlock") is not None:
                raise _invalid("blockHash cannot go with fromBlock or toBlock")
            block_hash = _hex_bytes(raw["blockHash"], 32, "blockHash")
        return cls(addresses, tuple(topics), block_hash,
                   raw.get("fromBlock") if raw.get("fromBlock") is not None else "latest",
                   raw.get("toBlock") if raw.get("toBlock") is not None else "latest")

    def bloom_terms(self) -> list[tuple[Bits, ...]]:
        """One list of alternatives per condition (the addresses, each topic position
        that is not a wildcard): a bloom may match when each has one alternative in it."""
        terms: list[tuple[Bits, ...]] = []
        if self.addresses:
            terms.append(tuple(bloom_bits(a) for a in sorted(self.addresses)))
        for position in self.topics:
            if position is not None:
                terms.append(tuple(bloom_bits(t) for t in sorted(position)))
        return terms


def may_match(bloom: bytes, terms: Sequence[tuple[Bits, ...]]) -> bool:
    """False when the bloom proves no log of its block matches (no false negatives)."""
    return all(bloom_has_any(bloom, alternatives) for alternatives in terms)


def log_matches(f: LogFilter, address: bytes, topics: Sequence[bytes]) -> bool:
    """The JSON-RPC filter rules (as geth applies them): the address is one of the
    addresses (any when none), the log has at least as many topics as the filter has
    positions, and each position is a wildcard or allows the log's topic there."""
    if f.addresses and address not in f.addresses:
        return False
    if len(f.topics) > len(topics):
        return False
    return all(allowed is None or topic in allowed
               for allowed, topic in zip(f.topics, topics, strict=False))


Log = tuple[bytes, tuple[bytes, ...], dict[str, Any]]
"""A log's address, topics and its JSON object."""


def block_logs(block: ProvenBlock) -> list[Log]:
    """Every log of a block proven with its receipts, with the positions computed from
    the proven lists (``logIndex`` counts across the block)."""
    if block.receipts is None:
        raise ValueError("the block was not proven with its receipts")
    header = block.header
    block_hash = "0x" + header.hash.hex()
    number = hex(header.number)
    timestamp = hex(header.timestamp)
    out: list[Log] = []
    index = 0
    for tx_index, (receipt, tx_hash) in enumerate(zip(block.receipts, block.tx_hashes,
                                                      strict=True)):
        tx = "0x" + tx_hash.hex()
        for address, topics, data in receipt.logs:
            out.append((address, tuple(topics), {
                "address": "0x" + address.hex(),
                "topics": ["0x" + t.hex() for t in topics],
                "data": "0x" + data.hex(),
                "blockHash": block_hash,
                "blockNumber": number,
                "blockTimestamp": timestamp,
                "transactionHash": tx,
                "transactionIndex": hex(tx_index),
                "logIndex": hex(index),
                "removed": False,
            }))
            index += 1
    return out


class ProvenLogs:
    """Answers log queries from headers and receipts the node proved itself."""

    def __init__(self, upstreams: Upstreams, chain: ChainView, prover: Prover, *,
                 max_range: int) -> None:
        self._up = upstreams
        self._chain = chain
        self._prover = prover
        self.max_range = max_range
        self._logs: OrderedDict[bytes, list[Log]] = OrderedDict()
        self._kept = 0
        """Logs in ``_logs``."""
        self._blooms: OrderedDict[bytes, bytes] = OrderedDict()
        self.skipped = 0
        """Blocks the bloom let the node skip (since start)."""
        self.scanned = 0
        """Blocks whose receipts were read (since start)."""

    # --- answers ---------------------------------------------------------------------
    async def get_logs(self, raw: Any) -> tuple[list[dict[str, Any]], Verification]:
        """eth_getLogs: the matching logs and what was proven. Raises RpcFailed for bad
        criteria or a range over RPC_MAX_LOGS_RANGE, IntegrityFailure when no upstream's
        receipts prove, UpstreamUnavailable when none has them."""
        f = LogFilter.parse(raw)
        if f.block_hash is not None:
            return await self.by_hash(f, f.block_hash)
        low = await resolve_block(self._chain, f.from_block)
        high = await resolve_block(self._chain, f.to_block)
        self._check_range(low, high)
        head = await self._chain.head()
        if low > head:  # no logs above the head: the range stops there
            return [], verification([])
        return await self.in_range(f, low, min(high, head))

    async def by_hash(self, f: LogFilter, block_hash: bytes
                      ) -> tuple[list[dict[str, Any]], Verification]:
        (block,) = await self._prover.blocks([block_hash])
        checks = list(block.checks)
        anchor = None
        try:
            anchor = await self._prover.link(block.header)
            if anchor is not None:
                checks.append(Check.PARENT_LINK)
        except TrustError:
            pass  # a block off the canonical chain: its logs are still its proven logs
        return self._matching(f, [block]), verification(checks, anchor)

    async def in_range(self, f: LogFilter, low: int, high: int
                       ) -> tuple[list[dict[str, Any]], Verification]:
        self._check_range(low, high)
        hashes, blooms, anchor = await self._range_headers(low, high)
        checks = [Check.HEADER_HASH]
        if anchor is not None:
            checks.append(Check.PARENT_LINK)
        terms = f.bloom_terms()
        wanted = [h for h, bloom in zip(hashes, blooms, strict=True) if may_match(bloom, terms)]
        self.skipped += len(hashes) - len(wanted)
        self.scanned += len(wanted)
        if wanted:
            checks += [Check.TRANSACTIONS_ROOT, Check.RECEIPTS_ROOT]
        return self._filtered(f, await self._logs_of(wanted)), verification(checks, anchor)

    async def block_logs(self, block_hash: bytes, f: LogFilter | None = None
                         ) -> list[dict[str, Any]]:
        """The (matching) logs of one block, proven (for the logs subscription)."""
        (block,) = await self._prover.blocks([block_hash])
        return self._matching(f or LogFilter(frozenset(), ()), [block])

    # --- internals -------------------------------------------------------------------
    def _check_range(self, low: int, high: int) -> None:
        if low > high:
            raise _invalid(f"fromBlock {low} is after toBlock {high}")
        if high - low + 1 > self.max_range:
            raise RpcFailed(RpcError(LIMIT_EXCEEDED, f"block range too large: at most "
                                     f"{self.max_range} blocks per eth_getLogs",
                                     {"limit": self.max_range, "from": low, "to": high}))

    def _matching(self, f: LogFilter, blocks: list[ProvenBlock]) -> list[dict[str, Any]]:
        return self._filtered(f, [self._kept_logs(block) for block in blocks])

    async def _logs_of(self, hashes: list[bytes]) -> list[list[Log]]:
        """The logs of these blocks: kept ones from memory, the others' blocks proven
        now (not kept in the prover's memo, which stays for transactions' blocks)."""
        have: dict[bytes, list[Log]] = {}
        for h in hashes:
            kept = self._logs.get(h)
            if kept is not None:
                self._logs.move_to_end(h)
                have[h] = kept
        todo = [h for h in hashes if h not in have]
        if todo:  # (a range may hold more logs than are kept: have holds them all)
            for block in await self._prover.blocks(todo, keep=False):
                have[block.header.hash] = self._kept_logs(block)
        return [have[h] for h in hashes]

    def _kept_logs(self, block: ProvenBlock) -> list[Log]:
        logs = self._logs.get(block.header.hash)
        if logs is not None:
            self._logs.move_to_end(block.header.hash)
            return logs
        logs = self._logs[block.header.hash] = block_logs(block)
        self._kept += len(logs)
        while self._kept > _LOGS_MEMO and len(self._logs) > 1:
            self._kept -= len(self._logs.popitem(last=False)[1])
        return logs

    @staticmethod
    def _filtered(f: LogFilter, per_block: list[list[Log]]) -> list[dict[str, Any]]:
        return [dict(entry) for logs in per_block for address, topics, entry in logs
                if log_matches(f, address, topics)]

    async def _range_headers(self, low: int, high: int
                             ) -> tuple[list[bytes], list[bytes], Anchor | None]:
        """The hashes and proven blooms of blocks low..high, linked to one another and
        the highest to the anchor (None beyond the walk limit). Headers already proven
        canonical, with their blooms kept, are not asked again."""
        canonical = self._chain.headers.canonical
        known = [canonical.hash_at(n) for n in range(low, high + 1)]
        if all(h is not None and h in self._blooms for h in known) and \
                canonical.linked_down_to_anchor(high):
            anchor = await self._chain.anchor()
            if anchor is not None:
                hashes = [h for h in known if h is not None]
                return hashes, [self._blooms[h] for h in hashes], anchor
        headers = await self._fetch_headers(low, high)
        for below, above in pairwise(headers):
            if above.parent_hash != below.hash:  # chunks from different upstreams, mid-reorg
                raise integrity(TrustError(Check.PARENT_LINK, f"block {above.number}'s "
                                           f"parentHash is not the hash of block {below.number}"))
        anchor = await self._prover.link(headers[-1])
        for h in headers:
            self._blooms[h.hash] = h.logs_bloom
            self._blooms.move_to_end(h.hash)
        while len(self._blooms) > _BLOOM_MEMO:
            self._blooms.popitem(last=False)
        return [h.hash for h in headers], [h.logs_bloom for h in headers], anchor

    async def _fetch_headers(self, low: int, high: int) -> list[Header]:
        chunks = [range(s, min(s + _HEADER_BATCH, high + 1))
                  for s in range(low, high + 1, _HEADER_BATCH)]
        gate = asyncio.Semaphore(BATCHES_AT_ONCE)

        async def one(numbers: range) -> list[Header]:
            async with gate:
                return await self._header_chunk(numbers)

        parts = await asyncio.gather(*(one(c) for c in chunks))
        return [h for part in parts for h in part]

    async def _header_chunk(self, numbers: range) -> list[Header]:
        out: list[Header] = []

        async def verify(answers: list[Any], upstream: str) -> None:
            out.clear()
            for n, raw in zip(numbers, answers, strict=True):
                if not isinstance(raw, dict):
                    raise missing(f"the header of block {n}", upstream)
                try:
                    header = verify_header(raw)
                    if header.number != n:
                        raise TrustError(Check.HEADER_HASH, f"asked for block {n}, the "
                                                            f"upstream answered {header.number}")
                    if out and header.parent_hash != out[-1].hash:
                        raise TrustError(Check.PARENT_LINK, f"block {n}'s parentHash is not "
                                                            f"the hash of block {n - 1}")
                except TrustError as exc:
                    raise integrity(exc) from None
                out.append(header)

        await self._up.batch([Call("eth_getBlockByNumber", (hex(n), False)) for n in numbers],
                             verify=verify)
        return list(out)

