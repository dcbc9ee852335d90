"""Every knob of the node, in one place.

Each field is read from the environment variable of the same name in upper case
(``bizra_node_url`` <- ``BIZRA_NODE_URL``); a ``.env`` file in the working directory is
read too. Values are validated once, at load: a bad value stops the node with a clear
message instead of failing later. The node's internal constants are not here:
tuning.py.
"""

from __future__ import annotations

import ipaddress
import os
import re
from collections.abc import Iterator
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["GROUPS", "SECRET_FIELDS", "URL_FIELDS", "Settings", "SettingsError", "cpu_count",
           "describe_settings", "load_settings", "shown_url"]

_CHECKPOINT = re.compile(r"[0-9]{1,19}:0x[0-9a-fA-F]{64}")
_BEACON_ROOT = re.compile(r"0x[0-9a-fA-F]{64}")

SECRET_FIELDS = ("api_key_secret", "cache_secret", "redis_sentinel_password")
"""Settings whose values are secrets (SecretStr): never in an error, a log line or a repr."""
URL_FIELDS = ("bizra_node_url", "database_url", "db_read_urls", "redis_url", "head_follow_ws",
              "beacon_api_urls")
"""Settings holding URLs (comma-separated lists for some), which may carry a password or a
provider key: shown only as scheme://host:port (``shown_url``)."""


class SettingsError(ValueError):
    """Bad settings, each named with what is wrong and never with a value given."""


def shown_url(url: str) -> str:
    """``url`` as it may be shown: scheme, host and port only (no user, password, path or
    query: a provider's key often sits in the path, /v3/<key>)."""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        return f"{url.split(':', 1)[0]}://..." if "://" in url else "(not a URL)"
    if ":" in host:
        host = f"[{host}]"
    return f"{parts.scheme}://{host}{port}" if parts.scheme else "(not a URL)"


def _check_url(setting: str, url: str, schemes: tuple[str, ...], *, host: bool = True) -> None:
    """Raise (naming the setting, never the URL's secrets) unless ``url`` has one of
    ``schemes``, a host (unless ``host`` is False) and a numeric port if any."""
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in schemes:
        wanted = " or ".join(f"{s}://" for s in schemes)
        got = f"it starts {scheme}://" if scheme and scheme.isalnum() else "it has no scheme"
        raise ValueError(f"{setting}: each entry must be a {wanted} URL ({got})")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise ValueError(f"{setting}: an entry ({scheme}://...) is not a valid URL (its host "
                         "or port cannot be read)") from None
    if host and not parts.hostname:
        raise ValueError(f"{setting}: an entry ({scheme}://...) names no host")


def _server_of(url: str) -> tuple[str, str, int | None, str, str]:
    """What names one upstream server: ``url`` with its scheme and host lower-cased,
    the scheme's default port written out and no trailing slash (``http://A:80/`` and
    ``http://a`` are one). Only for URLs :func:`_check_url` passed."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port if parts.port is not None else {"http": 80, "https": 443}.get(scheme)
    return (scheme, (parts.hostname or "").lower(), port, parts.path.rstrip("/"),
            parts.query)


def load_settings(*, serving: bool = False, **values: Any) -> Settings:
    """Settings from the environment (and ``values``); bad ones raise SettingsError,
    one line per problem naming the setting, without any value given (pydantic's own
    text shows its input: with a model-level error, every setting at once). ``serving``:
    also what only the node needs (``Settings.serving_problems``), not its commands."""
    try:
        settings = Settings(**values)
    except ValidationError as exc:
        raise SettingsError(_describe_errors(exc)) from None
    if serving and (problems := settings.serving_problems()):
        raise SettingsError("\n".join(problems))
    return settings


def _describe_errors(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        message = str(error["msg"]).removeprefix("Value error, ")
        loc = ".".join(str(part) for part in error["loc"])
        if loc and not message.startswith(loc.upper()):
            message = f"{loc.upper()}: {message}"
        lines.append(message)
    return "\n".join(lines)


def cpu_count() -> int:
    """CPUs this process may use (affinity-aware), at least 1."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # pragma: no cover - non-Linux
        return os.cpu_count() or 1


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", case_sensitive=False, validate_default=True,
        hide_input_in_errors=True,  # an error shows no value (secrets, URLs with passwords)
    )

    # --- serving -------------------------------------------------------------------
    bizra_host: str = Field("127.0.0.1", description="Address the HTTP server listens on.")
    bizra_port: int = Field(8080, ge=0, le=65535, description="Port the HTTP server listens on.")
    bizra_workers: int = Field(
        0, ge=0, le=256, description="granian worker processes; 0 = one per CPU."
    )
    heads_file: str = Field(
        "", description="The file through which the workers of one node share the highest "
        "head and finalized block any of them has shown (a head one connection saw is the "
        "least every other shows); `serve` makes it, in a fresh private directory under "
        "/dev/shm when empty, else at this path (replacing what is there; its directory must "
        "be the node user's and not writable by others). Empty outside `serve`: each worker "
        "on its own.")
    max_body_bytes: int = Field(
        65536, ge=1024, le=16 * 1024 * 1024, description="Largest request body accepted."
    )
    bizra_loop: Literal["uvloop", "asyncio", "rloop", "auto"] = Field(
        "uvloop", description="Event loop of the granian workers: uvloop (the default; asyncio "
        "costs 8-17 % more CPU per cache hit, docs/performance.md), asyncio (the standard "
        "library's), rloop (granian's own, experimental; `pip install rloop` first; rloop 0.5 "
        "breaks asyncpg, so only without a database) or auto (granian's choice: uvloop when "
        "installed, else asyncio).")
    http_header_timeout: float = Field(
        10.0, ge=0.001, le=60, description="Seconds a connection has to send a request's "
        "headers, counted from when it opens or its last answer went out (so also how long an "
        "idle keep-alive connection stays open); then it is closed (granian, HTTP/1).")
    http_max_connections: int = Field(
        8192, ge=16, le=1_000_000, description="Connections each worker holds at most "
        "(granian's backpressure, which counts connections, not requests); more wait in the "
        "listen backlog. Slow clients hold connections until a timeout closes them: keep this "
        "well above the connections expected (a proxy's keep-alive pool counts too). Kept within "
        "the open-files limit (`serve` raises the soft limit to the hard one).")
    tcp_keepalive: float = Field(
        15.0, ge=0, le=7200, description="Seconds a connection may be idle before the node "
        "probes its peer (TCP keepalive, probes a third of it apart, at least 1 s); after 3 "
        "unanswered probes, or data unacknowledged that long, the connection is dropped and "
        "what it held (a WebSocket's buffers and subscriptions) is freed: a client gone "
        "without a FIN or reset is found within about twice this. 0 = the system's default "
        "(Linux: 2 h).")
    http_body_timeout: float = Field(
        10.0, ge=0, le=600, description="Seconds a request's body has to arrive in full; then a "
        "408 and the connection is closed (kept to within a tenth of it, at most 1 s); 0 = no limit.")

    # --- upstream chain ------------------------------------------------------------
    bizra_node_url: str = Field(
        "", description="Comma-separated upstream JSON-RPC URLs. Empty: `make run` devnet."
    )
    bizra_network_id: int = Field(31337, ge=1, description="Chain id this node validates.")
    rpc_connect_timeout: float = Field(2.0, gt=0, le=60, description="Upstream connect timeout, s.")
    rpc_timeout: float = Field(5.0, gt=0, le=120, description="Upstream per-call timeout, s.")
    upstream_max_response_bytes: int = Field(
        32 * 1024 * 1024, ge=64 * 1024, le=1024 * 1024 * 1024,
        description="Largest answer read from an upstream (one HTTP body, a batch's answers "
        "together, after decompression; one WebSocket message), checked while it is read, "
        "before parsing: a larger one is that upstream's failure, asked of the next. The "
        "default holds the largest /rpc answer (RPC_MAX_RESPONSE_BYTES) with the calls its "
        "proofs add; raise both for debug_* traces with struct logs, which run to hundreds "
        "of MB.")
    request_deadline: float = Field(
        10.0, gt=0, le=300, description="Overall deadline of one client request, s."
    )
    finality_depth: int = Field(
        64, ge=0, description="Blocks behind head counted final when upstream has no 'finalized'."
    )
    head_lag_blocks: int = Field(
        3, ge=0, description="An upstream this many blocks behind the best head skips 'latest'."
    )

    # --- trust (docs/trust.md) ------------------------------------------------------
    anchor_quorum: int = Field(
        2, ge=1, le=32, description="With several upstreams: how many must agree on the "
        "finalized block hash for it to become the anchor (1: trust the first that answers).")
    head_quorum: int = Field(
        0, ge=0, le=32, description="How many upstreams must have reached a block before "
        "the node's head (and 'latest') moves to it, unless the sync committee names it "
        "(capped at the upstreams in service: one upstream is its own quorum). 0: "
        "ANCHOR_QUORUM.")
    anchor_checkpoint: str = Field(
        "", description="A pinned anchor NUMBER:0xHASH (checked by you); newer finalized "
        "blocks are trusted only once linked to it by parent hashes. Empty: quorum with "
        "several upstreams, trust on first use with one.")
    anchor_source: Literal["auto", "upstreams", "beacon"] = Field(
        "auto", description="Where the anchor comes from: upstreams (ANCHOR_CHECKPOINT, "
        "else a quorum of upstreams, else trust on first use) or beacon (the finalized "
        "execution block the beacon chain's sync committee signed, followed by a light "
        "client from BEACON_CHECKPOINT through BEACON_API_URLS; docs/trust.md); auto: "
        "beacon when BEACON_API_URLS is set, else upstreams.")
    beacon_api_urls: str = Field(
        "", description="ANCHOR_SOURCE=beacon: beacon node REST API URLs, comma-separated, "
        "asked in turn (every answer is verified: one honest one is enough).")
    beacon_checkpoint: str = Field(
        "", description="ANCHOR_SOURCE=beacon: the trusted beacon block root the light "
        "client starts from, 0x + 64 hex digits (a recent finalized epoch-boundary block; "
        "docs/trust.md says how to pick one).")
    beacon_network: str = Field(
        "mainnet", description="ANCHOR_SOURCE=beacon: mainnet, sepolia, holesky or hoodi, or "
        "the path of a devnet's config file (config.yaml or the beacon API's config/spec "
        "JSON, with GENESIS_TIME and GENESIS_VALIDATORS_ROOT added).")
    trust_walk_limit: int = Field(
        4096, ge=1, le=1_000_000, description="Blocks the node walks parent links over "
        "between the anchor and an answer's block; beyond, answers are 'consistent', not "
        "'anchored'.")
    trust_rpc: bool = Field(
        True, description="Prove /rpc answers where the method allows (balance, nonce, code, "
        "storage, transactions, receipts, blocks) before they are served or cached, and make "
        "eth_getLogs, log filters and the logs subscription from proven headers and receipts "
        "(complete: the upstream's eth_getLogs is never asked); off: forwarded unproven "
        "(X-Verification: unverified).")
    trust_require: Literal["any", "proven"] = Field(
        "any", description="An answer the node can prove (an account, /rpc balance, "
        "nonce, code, storage, transactions, blocks) that no upstream would give the proof "
        "of: any serves it labelled unverified (REST valid: null, X-Verification: "
        "unverified); proven refuses it (REST 503 UNPROVEN, /rpc -32099 with data.reason "
        "proof_unavailable). Methods the node never proves are served unverified either way.")

    # --- retry and circuit breaker -------------------------------------------------
    retry_attempts: int = Field(3, ge=1, le=10, description="Attempts per upstream call.")
    retry_initial: float = Field(
        0.1, ge=0, le=2, description="First backoff, s (then x2 per attempt, at most 2 s).")
    retry_budget_ratio: float = Field(
        0.1, ge=0, le=1, description="Retries allowed as a share of recent calls."
    )
    cb_failure_threshold: int = Field(
        5, ge=1, description="Consecutive failures that open a breaker."
    )
    cb_reset_timeout: float = Field(30.0, gt=0, description="Open -> half-open after, s.")
    hedge_enabled: bool = Field(True, description="Send slow reads to a second upstream.")
    head_poll_interval: float = Field(
        2.0, ge=0, description="With several upstreams, ask each for its head this often, s "
        "(head lag, latency, breaker probes); 0 = off.")
    head_follow_ws: str = Field(
        "auto", description="Where each worker subscribes to new heads (eth_subscribe newHeads): "
        "'auto' = the WebSocket on each BIZRA_NODE_URL's host, port and path (ws:// for http://), "
        "'off' = poll only, or comma-separated ws(s):// URLs.")
    head_follow_interval: float = Field(
        0.25, ge=0, le=60, description="While no head subscription is live, each worker polls "
        "the latest block this often, s; 0 = never (heads only from a subscription, else "
        "when TTL_HEAD runs out).")

    # --- JSON-RPC endpoint (/rpc over HTTP and WebSocket) ----------------------------
    rpc_max_batch: int = Field(
        1000, ge=1, le=100_000, description="Calls in one JSON-RPC batch (more: -32600).")
    rpc_max_body_bytes: int = Field(
        5 * 1024 * 1024, ge=1024, le=256 * 1024 * 1024,
        description="Largest /rpc request body or WebSocket message (more: -32600).")
    rpc_max_response_bytes: int = Field(
        25_000_000, ge=1024, description="Largest /rpc answer, a batch's answers added up; "
        "calls past it are answered -32003.")
    rpc_max_logs_range: int = Field(
        10_000, ge=1, description="Blocks one eth_getLogs, eth_getFilterLogs or filter poll "
        "may span (more: -32005).")
    rpc_cors_origins: str = Field(
        "", description="Origins browsers may call /rpc from: comma-separated "
        "(https://app.example), '*' for any; empty = no CORS headers.")
    ws_max_subscriptions: int = Field(
        128, ge=1, le=100_000, description="Subscriptions one WebSocket connection may hold "
        "(more: -32005).")

    # --- cache ---------------------------------------------------------------------
    redis_url: str = Field("", description="Redis for L2. Empty: L1 only. Sentinel or cluster: "
                           "the sentinels' or some nodes' addresses, comma-separated.")
    redis_mode: Literal["standalone", "sentinel", "cluster"] = Field(
        "standalone", description="How REDIS_URL is laid out: one server, Sentinel (follows "
        "failovers) or Redis Cluster (docs/scaling.md).")
    redis_sentinel_master: str = Field(
        "mymaster", description="Sentinel's name of the master (REDIS_MODE=sentinel).")
    redis_sentinel_password: SecretStr = Field(
        SecretStr(""), description="The sentinels' own password, if they have one (the master's is in "
        "REDIS_URL).")
    l1_cache_size: int = Field(10000, ge=0, description="L1 entries.")
    l1_max_bytes: int = Field(256 * 1024 * 1024, ge=0, description="L1 bytes.")
    l1_max_ttl: float = Field(
        300.0, gt=0, description="Longest any entry stays in L1, s: a cap on every TTL (final "
        "answers live TTL_FINAL in Redis and come back to L1 from there).")
    l2_timeout: float = Field(0.05, gt=0, description="Redis call timeout, s.")
    ttl_final: float = Field(86400.0, gt=0, description="TTL of final blocks/transactions, s.")
    ttl_recent: float = Field(3.0, gt=0, description="TTL of not-yet-final answers, s.")
    ttl_pending: float = Field(2.0, gt=0, description="TTL of pending transactions, s.")
    ttl_address: float = Field(60.0, gt=0, description="TTL of address state, s.")
    ttl_head: float = Field(2.0, gt=0, description="TTL of the head block number, s.")
    ttl_not_found: float = Field(
        4.0, gt=0, description="TTL of 'not found' answers, s (dropped sooner, when a new "
        "head arrives).")
    cache_key_prefix: str = Field(
        "bizra", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$",
        description="First part of every Redis key (then format version, network, kind).")
    cache_secret: SecretStr = Field(
        SecretStr(""), description="Key of the MAC that authenticates every Redis L2 entry "
        "(HMAC-SHA256 over key and value); the same on every node sharing the Redis, at least "
        "32 characters (`python -c 'import secrets; print(secrets.token_hex(32))'`). Required "
        "with REDIS_URL: the node refuses to start without it.")

    # --- database ------------------------------------------------------------------
    database_url: str = Field("", description="Primary PostgreSQL. Empty: embedded pgserver.")
    db_read_urls: str = Field("", description="Comma-separated read replicas.")
    db_pool_max: int = Field(0, ge=0, le=1000, description="0 = min(2*CPU+10, 100).")
    db_pool_min: int = Field(0, ge=0, le=1000, description="0 = max(CPU//4, 2).")
    db_acquire_timeout: float = Field(10.0, gt=0, description="Pool acquire timeout, s.")
    db_statement_timeout: float = Field(30.0, gt=0, description="statement_timeout, s.")
    db_query_timeout: float = Field(35.0, gt=0, description="Client-side query timeout, s.")
    db_connect_timeout: float = Field(10.0, gt=0, description="Connect timeout, s.")
    db_replica_max_lag: float = Field(5.0, ge=0, description="Replica lag that skips it, s.")
    db_replica_check_interval: float = Field(5.0, gt=0, description="Replica check period, s.")
    db_enabled: bool = Field(True, description="Record validations in PostgreSQL.")
    write_batch_rows: int = Field(500, ge=1, description="Write-behind batch size.")
    write_batch_interval: float = Field(0.05, gt=0, description="Write-behind flush period, s.")
    write_queue_max: int = Field(100000, ge=1, description="Write-behind queue bound.")
    durability: Literal["async", "local", "sync"] = Field(
        "local", description="When a validation is answered, as a broker acknowledges: async "
        "(its record queued in memory: a crash loses the queue), local (its record fsynced to "
        "a local log under DATA_DIR, group-committed, replayed after a crash; costs ~1 fsync on "
        "the miss path), sync (its record committed in PostgreSQL; a 503 while it cannot be). "
        "Hits never record. Figures: docs/performance.md.")
    data_dir: str = Field(".data", description="Embedded PostgreSQL and spool files live here.")
    db_pgbouncer: Literal["auto", "off", "session", "transaction"] = Field(
        "auto", description="DATABASE_URL goes through PgBouncer in this pool mode (session: "
        "timeouts SET per connection; transaction: no prepared-statement cache, timeouts from "
        "the role); off: straight to PostgreSQL; auto: as off, and as transaction when the "
        "server refuses the timeouts as startup parameters (a PgBouncer).")
    write_spool_max_bytes: int = Field(
        1 << 30, ge=1 << 20, description="Spool size cap; beyond it records are rejected loudly.")

    # --- security ------------------------------------------------------------------
    api_keys_mode: Literal["off", "optional", "required"] = Field(
        "off", description="API keys: off (not checked), optional (callers without one get "
        "API_ANONYMOUS_SCOPES at the anonymous limits), required (401 without a valid key).")
    api_key_secret: SecretStr = Field(
        SecretStr(""), description="Server secret keys are hashed under (HMAC-SHA256, >= 32 "
        "characters); needed by `bizra-node keys` and when API_KEYS_MODE is not off. "
        "Changing it invalidates every key.")
    api_anonymous_scopes: str = Field(
        "validate,rpc,history", description="Scopes callers without a key may use when "
        "API_KEYS_MODE=optional (comma-separated: validate, rpc, history, metrics).")
    api_keys_cache_size: int = Field(
        100_000, ge=1, le=10_000_000, description="Active keys each worker holds in memory; "
        "beyond it, the least recently used are looked up in PostgreSQL when they come.")
    api_keys_refresh: float = Field(
        5.0, gt=0, le=3600, description="Each worker re-reads changed keys from PostgreSQL this "
        "often, s (revocations reach every node at once through Redis; this is the fallback).")
    rate_limit_rps: float = Field(
        0.0, ge=0, le=1_000_000, description="Anonymous callers, per client address (IPv6 per "
        "/64): cost units per second, shared by every node through Redis; 0 = unlimited.")
    rate_limit_burst: int = Field(
        50, ge=1, le=10_000_000, description="Anonymous callers: units one may spend at once.")
    rate_limit_key_rps: float = Field(
        0.0, ge=0, le=1_000_000, description="Per API key, for keys that set no limit of their "
        "own (`keys create --rate`): units per second; 0 = unlimited.")
    rate_limit_key_burst: int = Field(
        200, ge=1, le=10_000_000, description="Per API key: units one may spend at once (keys "
        "without a burst of their own).")
    rate_limit_rpc_costs: str = Field(
        "", description="JSON-RPC method costs over the defaults (eth_call=5, "
        "eth_estimateGas=5, eth_getLogs=10, eth_getProof=5, eth_createAccessList=5, "
        "eth_feeHistory=2, others 1), e.g. 'eth_getLogs=20,eth_call=3'; a batch costs its sum.")
    rate_limit_on_redis_down: Literal["local", "open", "closed"] = Field(
        "local", description="Redis unreachable: local (each worker applies the limits "
        "divided by BIZRA_WORKERS), open (no limits), closed (503 with Retry-After); /ready "
        "says which applies.")
    trusted_proxies: str = Field(
        "", description="Comma-separated CIDRs of proxies whose X-Forwarded-For is believed "
        "(the client address for anonymous limits is then the last hop that is not one).")
    metrics_address: str = Field(
        "", description="host:port of a second listener serving /metrics and /api/metrics "
        "(and /health); when set they leave the public listener. Empty: public, behind the "
        "metrics scope when API_KEYS_MODE is not off.")

    # --- observability -------------------------------------------------------------
    log_level: Literal["debug", "info", "warning", "error"] = Field("info", description="Log level.")
    log_format: Literal["json", "console"] = Field("json", description="Log line format.")
    metrics_flush_interval: float = Field(
        1.0, gt=0, le=60, description="How often each worker publishes its metrics, s."
    )
    memory_limit: int = Field(
        0, ge=0, description="Bytes the whole node may use; 0 = cgroup memory.max if any."
    )

    @field_validator("bizra_node_url", "db_read_urls", "redis_url", "database_url",
                     "anchor_checkpoint", "beacon_api_urls", "beacon_checkpoint",
                     "beacon_network")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    @field_validator("log_level", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _check_urls(self) -> Settings:
        servers: set[tuple[str, str, int | None, str, str]] = set()
        for url in self.upstream_urls:
            _check_url("BIZRA_NODE_URL", url, ("http", "https"))
            server = _server_of(url)
            if server in servers:  # it would vouch for itself: a quorum of one
                raise ValueError(f"BIZRA_NODE_URL: an upstream is listed twice "
                                 f"({shown_url(url)}): each entry counts toward "
                                 "ANCHOR_QUORUM and HEAD_QUORUM, so list each server once")
            servers.add(server)
        for url in self.redis_url.split(",") if self.redis_url else []:
            _check_url("REDIS_URL", url.strip(), ("redis", "rediss", "unix"),
                       host=not url.strip().startswith("unix://"))
        if self.redis_mode == "standalone" and "," in self.redis_url:
            raise ValueError("REDIS_URL lists several addresses: set REDIS_MODE to sentinel "
                             "or cluster")
        if self.redis_sentinel_password.get_secret_value() and self.redis_mode != "sentinel":
            raise ValueError("REDIS_SENTINEL_PASSWORD is set but REDIS_MODE is not sentinel "
                             "(the master's password goes in REDIS_URL)")
        for name, urls in (("DATABASE_URL", [self.database_url]), ("DB_READ_URLS", self.read_urls)):
            for url in urls:
                if url:
                    _check_url(name, url, ("postgresql", "postgres"), host=False)
        for url in self.head_follow_urls:
            _check_url("HEAD_FOLLOW_WS", url, ("ws", "wss"))
        if self.anchor_checkpoint and not _CHECKPOINT.fullmatch(self.anchor_checkpoint):
            raise ValueError("ANCHOR_CHECKPOINT must be NUMBER:0x<64 hex digits>")
        self._check_beacon()
        self._check_security()
        return self

    def serving_problems(self) -> list[str]:
        """What the node itself needs that the commands beside it do not (`keys`,
        `migrate` and `pgbouncer-config` use the database, Redis only to announce key
        changes, which carry no secret): checked by ``load_settings(serving=True)``."""
        problems = []
        if self.redis_url and len(self.cache_secret.get_secret_value()) < 32:
            problems.append(
                "CACHE_SECRET (at least 32 characters, the same on every node sharing the "
                "Redis) is required with REDIS_URL: Redis is outside the trust boundary and "
                "every entry read from it is authenticated (`python -c 'import secrets; "
                "print(secrets.token_hex(32))'`)")
        if self.api_keys_mode != "off":
            if len(self.api_key_secret.get_secret_value()) < 32:
                problems.append("API_KEYS_MODE is on: API_KEY_SECRET must be set (>= 32 "
                                "characters), the same on every node and for `bizra-node keys`")
            if not self.db_enabled:
                problems.append("API_KEYS_MODE is on: keys live in PostgreSQL (DB_ENABLED)")
        return problems

    def _check_beacon(self) -> None:
        """ANCHOR_SOURCE and the BEACON_* settings agree, each well-formed."""
        for url in self.beacon_urls:
            _check_url("BEACON_API_URLS", url, ("http", "https"))
        if self.beacon_checkpoint and not _BEACON_ROOT.fullmatch(self.beacon_checkpoint):
            raise ValueError("BEACON_CHECKPOINT must be 0x + 64 hex digits (a beacon block "
                             "root)")
        if self.anchor_source == "upstreams" and (self.beacon_urls or self.beacon_checkpoint):
            raise ValueError("BEACON_API_URLS or BEACON_CHECKPOINT is set but ANCHOR_SOURCE "
                             "is upstreams: set ANCHOR_SOURCE=beacon (or auto) to anchor on "
                             "the sync committee, or unset them")
        if not self.beacon_anchor:
            if self.beacon_checkpoint:
                raise ValueError("BEACON_CHECKPOINT is set but BEACON_API_URLS is not: the "
                                 "sync committee is followed through beacon APIs")
            return
        if not self.beacon_urls or not self.beacon_checkpoint:
            raise ValueError("ANCHOR_SOURCE=beacon needs BEACON_API_URLS (beacon APIs) and "
                             "BEACON_CHECKPOINT (a trusted beacon block root)")
        if self.anchor_checkpoint:
            raise ValueError("ANCHOR_CHECKPOINT pins an execution block for "
                             "ANCHOR_SOURCE=upstreams; with beacon, the trusted start is "
                             "BEACON_CHECKPOINT: unset one")
        from .consensus import load_network

        try:
            load_network(self.beacon_network)
        except ValueError as exc:
            raise ValueError(f"BEACON_NETWORK: {exc}") from None

    @property
    def beacon_anchor(self) -> bool:
        """Whether the anchor is the sync committee's (ANCHOR_SOURCE=beacon, or auto with
        BEACON_API_URLS set)."""
        return self.anchor_source == "beacon" or (
            self.anchor_source == "auto" and bool(self.beacon_urls))

    @property
    def beacon_urls(self) -> list[str]:
        return [u.strip() for u in self.beacon_api_urls.split(",") if u.strip()]

    def _check_security(self) -> None:
        from .apikeys import SCOPES

        for scope in self.anonymous_scopes:
            if scope not in SCOPES:
                raise ValueError(f"API_ANONYMOUS_SCOPES: unknown scope {scope!r}")
        self.rpc_costs  # noqa: B018 - parses, raising on a bad entry
        self.proxy_networks  # noqa: B018
        if self.metrics_address:
            host, _, port = self.metrics_address.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError("METRICS_ADDRESS must be host:port")

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """URLs as scheme://host:port (secrets are SecretStr, shown as stars)."""
        for name, value in super().__repr_args__():
            if name in URL_FIELDS and isinstance(value, str) and value:
                value = ",".join(shown_url(u) for u in value.split(","))
            yield name, value

    @property
    def anonymous_scopes(self) -> frozenset[str]:
        return frozenset(s.strip() for s in self.api_anonymous_scopes.split(",") if s.strip())

    @property
    def rpc_costs(self) -> dict[str, int]:
        """RATE_LIMIT_RPC_COSTS as {method: units}."""
        out: dict[str, int] = {}
        for entry in self.rate_limit_rpc_costs.split(","):
            if not entry.strip():
                continue
            method, sep, units = entry.partition("=")
            if not sep or not method.strip() or not units.strip().isdigit() \
                    or not 1 <= int(units) <= 10_000:
                raise ValueError(f"RATE_LIMIT_RPC_COSTS: {entry.strip()!r} is not method=units "
                                 "(units 1..10000)")
            out[method.strip()] = int(units)
        return out

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """TRUSTED_PROXIES as networks."""
        nets = []
        for entry in self.trusted_proxies.split(","):
            if entry.strip():
                try:
                    nets.append(ipaddress.ip_network(entry.strip(), strict=False))
                except ValueError:
                    raise ValueError(f"TRUSTED_PROXIES: {entry.strip()!r} is not an address "
                                     "or CIDR") from None
        return tuple(nets)

    @property
    def upstream_urls(self) -> list[str]:
        return [u.strip() for u in self.bizra_node_url.split(",") if u.strip()]

    @property
    def head_follow_urls(self) -> list[str]:
        """Explicit WebSocket URLs of HEAD_FOLLOW_WS ([] for 'auto' and 'off')."""
        value = self.head_follow_ws.strip()
        if value.lower() in ("auto", "off", ""):
            return []
        return [u.strip() for u in value.split(",") if u.strip()]

    @property
    def cors_origins(self) -> list[str]:
        return [o.strip() for o in self.rpc_cors_origins.split(",") if o.strip()]

    @property
    def read_urls(self) -> list[str]:
        return [u.strip() for u in self.db_read_urls.split(",") if u.strip()]

    @property
    def workers(self) -> int:
        return self.bizra_workers or cpu_count()

    @property
    def pool_max(self) -> int:
        """DB_POOL_MAX, else min(2·CPU+10, 100) per worker (a managed database with a low
        connection limit, RDS for one: set DB_POOL_MAX, e.g. 2·CPU+4)."""
        return self.db_pool_max or min(2 * cpu_count() + 10, 100)

    @property
    def pool_min(self) -> int:
        return min(self.db_pool_min or max(cpu_count() // 4, 2), self.pool_max)


_GROUP_STARTS = (
    ("Serving (HTTP)", "bizra_host"),
    ("Upstreams", "bizra_node_url"),
    ("Trust (docs/trust.md)", "anchor_quorum"),
    ("Retries, breakers and heads", "retry_attempts"),
    ("JSON-RPC endpoint (/rpc)", "rpc_max_batch"),
    ("Cache (L1 and Redis)", "redis_url"),
    ("Database and records", "database_url"),
    ("Security (docs/security.md)", "api_keys_mode"),
    ("Observability (docs/operations.md)", "log_level"),
)


def _groups() -> tuple[tuple[str, tuple[str, ...]], ...]:
    names = list(Settings.model_fields)
    starts = [names.index(first) for _, first in _GROUP_STARTS]
    if starts[0] != 0 or starts != sorted(starts):
        raise RuntimeError("settings.py: _GROUP_STARTS must follow the fields' order")
    ends = [*starts[1:], len(names)]
    return tuple((title, tuple(names[a:b]))
                 for (title, _), a, b in zip(_GROUP_STARTS, starts, ends, strict=True))


GROUPS = _groups()
"""The settings by topic, in the order they are declared (and documented)."""


def describe_settings(markdown: bool = False) -> str:
    """Every setting by group: ENV_NAME, default, description. Used by ``serve --help``,
    ``bizra-node settings`` and (``markdown=True``) the README's settings tables."""
    lines: list[str] = []
    for title, names in GROUPS:
        if markdown:
            lines += [*([""] if lines else []), f"### {title}", "",
                      "| variable | default | meaning |", "| --- | --- | --- |"]
        else:
            lines.append(f"{title}:")
        for name in names:
            field = Settings.model_fields[name]
            default = field.default
            if isinstance(default, SecretStr):  # the default of a secret is empty, never a value
                default = default.get_secret_value()
            if markdown:
                shown = "(empty)" if default == "" else f"`{default}`"
                desc = (field.description or "").replace("|", "\\|")
                lines.append(f"| {name.upper()} | {shown} | {desc} |")
            else:
                lines.append(f"  {name.upper():<32} default {default!r:<12} "
                             f"{field.description or ''}")
    return "\n".join(lines)
