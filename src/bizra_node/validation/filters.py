"""JSON-RPC filters served by the node itself, over eth_getLogs and the chain head.

``eth_newFilter`` / ``eth_newBlockFilter`` create a record (the criteria and the
last block the client has been given, the *cursor*) in shared state (Redis when
configured: see cache/shared.py); ``eth_getFilterChanges`` answers with what
happened in blocks cursor+1 .. head (logs over that range made from proven receipts
when the node proves answers, see logs.py, else the upstream's eth_getLogs; block
hashes from the heads this worker followed or, for older ones, asked upstream) and
moves the cursor with a compare-and-set, so two workers answering the same client
never give out the same logs twice. Nothing is pinned to an upstream: a filter
survives an upstream change, another worker, and a node restart (with Redis).

A filter is checked when it is made (a malformed address, topic or block tag is
-32602 then, as anvil and geth answer, not at every poll); its ``fromBlock`` tag is
resolved then too, while a ``toBlock`` tag (``latest``...) moves with the chain.
Like geth, a filter not polled for 5 minutes (Tuning.filter_ttl) is removed, and an unknown
id is answered ``-32000 "filter not found"``. Differences from geth: a poll spans
at most RPC_MAX_LOGS_RANGE blocks (the next poll goes on from there); a reorg is
not reported as ``removed`` logs; pending-transaction filters are not offered.
"""

from __future__ import annotations

import os
import re
from collections import OrderedDict
from typing import TYPE_CHECKING, Any, Literal, Protocol

import msgspec

from ..cache import LocalState
from ..jsonrpc import LIMIT_EXCEEDED, Call, RpcError, RpcLimits
from .chain_view import ChainView
from .trust import Unprovable
from .upstreams import Upstreams

if TYPE_CHECKING:
    from .logs import ProvenLogs

__all__ = ["FilterService", "FilterState", "RpcFailed", "log_filter_problem", "resolve_block"]

_FILTER_ID = re.compile(r"0x[0-9a-f]{1,64}")
_NOT_FOUND = RpcError(-32000, "filter not found")
_RECENT_HASHES = 1024
_SWAP_TRIES = 4
_MAX_BLOCK_HASHES = 1024
"""Block hashes one poll of a block filter gives at most (the next poll goes on)."""


class RpcFailed(Exception):
    """A JSON-RPC error to answer for one call (never cached)."""

    def __init__(self, error: RpcError) -> None:
        super().__init__(error.message)
        self.error = error


class FilterState(Protocol):
    """The shared state the filters live in (cache.RedisState, cache.LocalState)."""

    async def put(self, key: str, value: bytes, ttl: float) -> None: ...
    async def get(self, key: str, touch: float | None = None) -> bytes | None: ...
    async def swap(self, key: str, old: bytes, new: bytes, ttl: float) -> bool: ...
    async def delete(self, key: str) -> bool: ...


class _Filter(msgspec.Struct, forbid_unknown_fields=False):
    kind: Literal["logs", "blocks"]
    cursor: int
    """The last block whose changes the client has been given."""
    criteria: dict[str, Any] = {}


_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(_Filter).decode


def _invalid(message: str) -> RpcFailed:
    return RpcFailed(RpcError(-32602, f"invalid params: {message}"))


async def resolve_block(chain: ChainView, value: Any) -> int:
    """A block number or tag as a number: latest/pending -> the head, safe/finalized ->
    the finalized block, earliest -> 0. Raises RpcFailed (-32602) otherwise."""
    if isinstance(value, str):
        if value in ("latest", "pending"):
            return await chain.head()
        if value in ("safe", "finalized"):
            return await chain.finalized()
        if value == "earliest":
            return 0
        if value.startswith("0x") and 2 < len(value) <= 18:
            try:
                return int(value, 16)
            except ValueError:
                pass
    raise _invalid(f"not a block number or tag: {str(value)[:80]!r}")


_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")
_TOPIC = re.compile(r"0x[0-9a-fA-F]{64}")
_TAGS = frozenset({"latest", "pending", "safe", "finalized", "earliest"})


def _block_problem(value: Any) -> str | None:
    if isinstance(value, str) and (value in _TAGS or (
            value.startswith("0x") and 2 < len(value) <= 18
            and all(c in "0123456789abcdefABCDEF" for c in value[2:]))):
        return None
    return f"not a block number or tag: {str(value)[:80]!r}"


def _topic_ok(value: Any) -> bool:
    return value is None or (isinstance(value, str) and _TOPIC.fullmatch(value) is not None)


def log_filter_problem(raw: Any, *, blocks: bool = True) -> str | None:
    """What is wrong with a log filter's criteria (eth_newFilter, eth_subscribe
    ``logs``), or None: the same checks anvil and geth make when the filter is made,
    so a malformed one is refused at once (-32602) instead of failing at every poll.
    ``blocks``: whether fromBlock / toBlock may be given."""
    if not isinstance(raw, dict):
        return "the filter must be an object"
    if "blockHash" in raw:
        return "blockHash is not supported in a filter (use eth_getLogs)"
    allowed = ("fromBlock", "toBlock", "address", "topics") if blocks else ("address", "topics")
    unknown = set(raw) - set(allowed)
    if unknown:
        return f"unknown filter field {sorted(unknown)[0][:40]!r}"
    for key in ("fromBlock", "toBlock"):
        if raw.get(key) is not None:
            problem = _block_problem(raw[key])
            if problem is not None:
                return f"{key}: {problem}"
    address = raw.get("address")
    if address is not None:
        items = address if isinstance(address, list) else [address]
        if not all(isinstance(a, str) and _ADDRESS.fullmatch(a) for a in items):
            return "address must be a 20-byte hex string (0x and 40 hex digits) or a list of them"
    topics = raw.get("topics")
    if topics is not None:
        if not isinstance(topics, list) or len(topics) > 4:
            return "topics must be a list of at most 4 entries"
        for topic in topics:
            if not (_topic_ok(topic) or (isinstance(topic, list)
                                         and all(_topic_ok(t) for t in topic))):
                return ("each topic must be null, a 32-byte hex string (0x and 64 hex digits) "
                        "or a list of them")
    return None


def _criteria(raw: Any) -> dict[str, Any]:
    """The filter criteria a client gave, checked (log_filter_problem)."""
    problem = log_filter_problem(raw)
    if problem is not None:
        raise _invalid(problem)
    return {k: v for k, v in raw.items() if v is not None}


class FilterService:
    """The filter methods; ``state`` is where the filters live (cache.SharedState)."""

    METHODS = frozenset({"eth_newFilter", "eth_newBlockFilter", "eth_getFilterChanges",
                         "eth_getFilterLogs", "eth_uninstallFilter"})

    def __init__(self, upstreams: Upstreams, chain: ChainView, state: FilterState | None = None,
                 *, ttl: float = 300.0, limits: RpcLimits | None = None,
                 logs: ProvenLogs | None = None) -> None:
        self._up = upstreams
        self.proven_logs = logs
        """Logs from proven receipts (logs.py), when set; else the upstream's eth_getLogs."""
        self._chain = chain
        self.state: FilterState = state if state is not None else LocalState()
        self.ttl = ttl
        self.limits = limits or RpcLimits()
        self._hashes: OrderedDict[int, str] = OrderedDict()
        """Recent heads this worker followed: number -> hash (for block filters)."""

    def serves(self, method: str) -> bool:
        return method in self.METHODS

    def on_head(self, header: dict[str, Any]) -> None:
        """A head listener: remember its hash (a reorg replaces higher ones)."""
        raw, block_hash = header.get("number"), header.get("hash")
        if not isinstance(raw, str) or not isinstance(block_hash, str):
            return
        try:
            number = int(raw, 16)
        except ValueError:
            return
        hashes = self._hashes
        for stale in [n for n in reversed(hashes) if n >= number]:
            del hashes[stale]
        hashes[number] = block_hash
        while len(hashes) > _RECENT_HASHES:
            hashes.popitem(last=False)

    async def call(self, method: str, params: list[Any]) -> Any:
        if method == "eth_newFilter":
            return await self.new_filter(params[0] if params else {})
        if method == "eth_newBlockFilter":
            return await self._create(_Filter("blocks", await self._chain.head()))
        fid = _filter_id(params)
        if method == "eth_getFilterChanges":
            return await self.changes(fid)
        if method == "eth_getFilterLogs":
            return await self.logs(fid)
        return await self.state.delete(_key(fid))  # eth_uninstallFilter

    # --- the methods ---------------------------------------------------------------------
    async def new_filter(self, raw: Any) -> str:
        criteria = _criteria(raw)
        if self.proven_logs is not None:  # what the proven-logs engine cannot read: now
            from .logs import LogFilter

            LogFilter.parse(criteria, block_hash_allowed=False)
        head = await self._chain.head()
        start = criteria.get("fromBlock")
        if isinstance(start, str) and start in _TAGS:
            # A tag is resolved once, now: "latest" means "from here on", not "the newest
            # block at each poll" (which would give only the head block's logs).
            criteria["fromBlock"] = hex(head if start in ("latest", "pending")
                                        else await resolve_block(self._chain, start))
        return await self._create(_Filter("logs", head, criteria))

    async def changes(self, fid: str) -> list[Any]:
        """What happened since the last poll: logs, or new block hashes."""
        for _ in range(_SWAP_TRIES):
            raw = await self.state.get(_key(fid), touch=self.ttl)
            if raw is None:
                raise RpcFailed(_NOT_FOUND)
            state = _decode(raw)
            head = await self._chain.head()
            low, high = state.cursor + 1, head
            if state.kind == "logs":
                low, high = await self._bounds(state.criteria, low, high)
            span = self.limits.max_logs_range if state.kind == "logs" else _MAX_BLOCK_HASHES
            high = min(high, low + span - 1)
            if low > high:
                return []
            if state.kind == "logs":
                found: list[Any] = await self._get_logs({**state.criteria, "fromBlock": hex(low),
                                                         "toBlock": hex(high)})
            else:
                found = await self._hashes_between(low, high)
                high = low + len(found) - 1
                if high < low:
                    return []
            moved = _encode(msgspec.structs.replace(state, cursor=high))
            if await self.state.swap(_key(fid), raw, moved, self.ttl):
                return found
            # another worker answered this filter meanwhile: start again from its cursor
        return []

    async def logs(self, fid: str) -> list[Any]:
        """eth_getFilterLogs: every log matching the filter's criteria."""
        raw = await self.state.get(_key(fid), touch=self.ttl)
        if raw is None:
            raise RpcFailed(_NOT_FOUND)
        state = _decode(raw)
        if state.kind != "logs":
            raise RpcFailed(_NOT_FOUND)  # as geth answers for block filters
        criteria = state.criteria
        low = await resolve_block(self._chain, criteria.get("fromBlock", "latest"))
        high = await resolve_block(self._chain, criteria.get("toBlock", "latest"))
        limit = self.limits.max_logs_range
        if high - low + 1 > limit:
            raise RpcFailed(RpcError(LIMIT_EXCEEDED, f"block range too large: at most {limit} "
                                     "blocks per eth_getLogs", {"limit": limit}))
        return await self._get_logs({**criteria, "fromBlock": hex(low), "toBlock": hex(high)})

    # --- internals -----------------------------------------------------------------------
    async def _create(self, state: _Filter) -> str:
        fid = "0x" + os.urandom(16).hex()
        await self.state.put(_key(fid), _encode(state), self.ttl)
        return fid

    async def _bounds(self, criteria: dict[str, Any], low: int, high: int) -> tuple[int, int]:
        """(low, high) narrowed to the filter's own fromBlock / toBlock."""
        if "fromBlock" in criteria:
            low = max(low, await resolve_block(self._chain, criteria["fromBlock"]))
        if "toBlock" in criteria:
            high = min(high, await resolve_block(self._chain, criteria["toBlock"]))
        return low, high

    async def _get_logs(self, criteria: dict[str, Any]) -> list[Any]:
        if self.proven_logs is not None:
            try:
                found, _ = await self.proven_logs.get_logs(criteria)
                return found
            except Unprovable:  # a block the node cannot rebuild: the upstream's logs
                pass
        (result,) = await self._up.batch([Call("eth_getLogs", (criteria,))])
        if isinstance(result, RpcError):
            raise RpcFailed(result)
        if not isinstance(result, list):
            raise RpcFailed(RpcError(-32603, "upstream answered eth_getLogs with a non-list"))
        return result

    async def _hashes_between(self, low: int, high: int) -> list[str]:
        """Hashes of blocks low..high in order, as far as they are known."""
        hashes: list[str] = []
        missing = [n for n in range(low, high + 1) if n not in self._hashes]
        fetched: dict[int, str] = {}
        if missing:
            results = await self._up.batch(
                [Call("eth_getBlockByNumber", (hex(n), False)) for n in missing])
            for n, block in zip(missing, results, strict=True):
                if isinstance(block, dict) and isinstance(block.get("hash"), str):
                    fetched[n] = block["hash"]
        for n in range(low, high + 1):
            block_hash = self._hashes.get(n) or fetched.get(n)
            if block_hash is None:
                break  # not there yet (a lagging upstream): the next poll goes on from here
            hashes.append(block_hash)
        return hashes


def _key(fid: str) -> str:
    return "filter:" + fid


def _filter_id(params: list[Any]) -> str:
    fid = params[0] if params else None
    if not isinstance(fid, str) or not _FILTER_ID.fullmatch(fid.lower()):
        raise RpcFailed(_NOT_FOUND)
    return fid.lower()

