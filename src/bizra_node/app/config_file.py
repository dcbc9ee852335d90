"""The configuration file (``bizra-node.toml``): the networks a node serves.

Read from ``--config PATH`` (``serve`` puts it in BIZRA_CONFIG for its workers) or
BIZRA_CONFIG. Its top-level keys are settings by their lower-case names
(``redis_url = "redis://..."``), each overridden by its environment variable when that
is set; each ``[[networks]]`` table is one network (``bizra-node.example.toml`` at the
repository's root is a commented file).

A network's table names its chain id and upstreams and may set the per-network
settings of :data:`NETWORK_KEYS` (anchor, finality, TTLs, /rpc costs, heads): those
are the network's own, over the environment's. The default network (``default =
true``, else the first) answers the paths without a chain id. Without a file the node
serves the one network of the environment's settings, as it always has.

Every mistake is a :class:`SettingsError` naming the file and the key: a file that is
not TOML, an unknown key, a chain id given twice, two defaults, no network.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..settings import Settings, SettingsError, load_settings

__all__ = ["CONFIG_ENV", "NETWORK_KEYS", "Networks", "heads_path", "load_networks", "networks_from"]

CONFIG_ENV = "BIZRA_CONFIG"
"""The environment variable naming the configuration file."""

NETWORK_KEYS = frozenset({
    "finality_depth", "head_lag_blocks", "anchor_quorum", "head_quorum", "anchor_checkpoint",
    "anchor_source", "beacon_api_urls", "beacon_checkpoint", "beacon_network",
    "trust_walk_limit", "trust_rpc", "trust_require", "rpc_timeout", "rpc_connect_timeout",
    "upstream_max_response_bytes", "retry_attempts", "hedge_enabled", "head_poll_interval",
    "head_follow_ws", "head_follow_interval", "rpc_max_logs_range", "ttl_final", "ttl_recent",
    "ttl_pending", "ttl_address", "ttl_head", "ttl_not_found", "l1_cache_size",
    "rate_limit_rpc_costs"})
"""Settings a ``[[networks]]`` table may set for its network alone."""

_OWN = frozenset({"chain_id", "upstreams", "default"})
CHAIN_SPECIFIC = frozenset({"anchor_checkpoint", "beacon_api_urls", "beacon_checkpoint",
                            "beacon_network"})
"""Settings whose values name one chain's blocks or beacon chain: with a file, only a
network's table may set them (the environment or the top level would give every network
the same anchor, one chain's)."""
_NODE_ONLY = frozenset({"bizra_network_id", "bizra_node_url"})
"""Top-level keys that belong to a network: refused at the top with networks given."""
_LISTS = frozenset({"upstreams", "beacon_api_urls", "head_follow_ws"})
"""Keys whose value may be a list of URLs (joined with commas for the setting)."""


@dataclass(frozen=True, slots=True)
class Networks:
    """The networks to serve, the default first, and the file they came from (empty:
    the environment's one network)."""

    settings: tuple[Settings, ...]
    path: str = ""

    @property
    def default(self) -> Settings:
        return self.settings[0]

    @property
    def chain_ids(self) -> tuple[int, ...]:
        return tuple(s.bizra_network_id for s in self.settings)


def load_networks(*, serving: bool = False, path: str | None = None) -> Networks:
    """The networks of ``path`` (else BIZRA_CONFIG's file), else the one network of the
    environment. SettingsError for a bad file or bad settings."""
    path = path if path is not None else os.environ.get(CONFIG_ENV, "").strip()
    if not path:
        return Networks((load_settings(serving=serving),))
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise SettingsError(f"{CONFIG_ENV}: cannot read {path}: {exc.strerror}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"{path}: not valid TOML: {exc}") from None
    return Networks(networks_from(doc, path, serving=serving), path)


def _setting_value(where: str, key: str, value: Any) -> Any:
    """A TOML value as the setting takes it: lists of URLs and the /rpc costs table
    become the comma-separated text of their environment variables."""
    if key in _LISTS and isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise SettingsError(f"{where}.{key}: a list of URL strings")
        return ",".join(value)
    if key == "rate_limit_rpc_costs" and isinstance(value, Mapping):
        return ",".join(f"{method}={units}" for method, units in value.items())
    if isinstance(value, (list, Mapping)):
        raise SettingsError(f"{where}.{key}: a single value, not a "
                            f"{'list' if isinstance(value, list) else 'table'}")
    if isinstance(value, bool) and Settings.model_fields[key].annotation in (int, float):
        # pydantic takes true as 1: finality_depth = true would be a depth of 1
        raise SettingsError(f"{where}.{key}: a number, not {str(value).lower()}")
    return value


def networks_from(doc: Mapping[str, Any], path: str, *, serving: bool = False,
                  environ: Mapping[str, str] | None = None) -> tuple[Settings, ...]:
    """The settings of each network of the parsed file ``doc`` (the default first)."""
    env = os.environ if environ is None else environ
    fields = Settings.model_fields
    top: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "networks":
            continue
        if key not in fields:
            raise SettingsError(f"{path}: unknown key {key!r} (a setting's lower-case name, "
                                "or [[networks]])")
        if key in _NODE_ONLY:
            raise SettingsError(f"{path}: {key} belongs in a [[networks]] table "
                                "(chain_id, upstreams)")
        if key in CHAIN_SPECIFIC:
            raise SettingsError(f"{path}: {key} names one chain's anchor: set it in that "
                                "network's [[networks]] table")
        if key.upper() not in env:  # the environment overrides the file
            top[key] = _setting_value(path, key, value)
    for key in sorted(CHAIN_SPECIFIC):
        if env.get(key.upper(), "").strip():
            raise SettingsError(f"{key.upper()} is set in the environment, but with a "
                                f"configuration file ({path}) each network has its own "
                                f"anchor: set {key} in that network's [[networks]] table")
    tables = doc.get("networks")
    if not isinstance(tables, list) or not tables:
        raise SettingsError(f"{path}: no network: add at least one [[networks]] table with "
                            "chain_id and upstreams")
    seen: dict[int, int] = {}
    default: int | None = None
    out: list[Settings] = []
    for i, table in enumerate(tables):
        where = f"{path}: networks[{i}]"
        if not isinstance(table, Mapping):
            raise SettingsError(f"{where}: must be a table ([[networks]])")
        unknown = sorted(set(table) - _OWN - NETWORK_KEYS)
        if unknown:
            raise SettingsError(f"{where}: unknown key {unknown[0]!r} (known: chain_id, "
                                "upstreams, default, and " + ", ".join(sorted(NETWORK_KEYS))
                                + ")")
        chain_id = table.get("chain_id")
        if type(chain_id) is not int or chain_id < 1:
            raise SettingsError(f"{where}.chain_id: required, a positive integer")
        if chain_id in seen:
            raise SettingsError(f"{where}.chain_id: {chain_id} is networks[{seen[chain_id]}]'s "
                                "too (one table per network)")
        seen[chain_id] = i
        upstreams = table.get("upstreams")
        if isinstance(upstreams, str):
            upstreams = [u for u in upstreams.split(",") if u.strip()]
        if not isinstance(upstreams, list) or not upstreams:
            raise SettingsError(f"{where}.upstreams: required, a list of upstream URLs")
        is_default = table.get("default", False)
        if type(is_default) is not bool:
            raise SettingsError(f"{where}.default: true or false")
        if is_default:
            if default is not None:
                raise SettingsError(f"{where}.default: networks[{default}] is the default "
                                    "already (one default network)")
            default = i
        values = {**top, "bizra_network_id": chain_id,
                  "bizra_node_url": _setting_value(where, "upstreams", upstreams)}
        for key in NETWORK_KEYS & set(table):
            values[key] = _setting_value(where, key, table[key])
        try:
            out.append(load_settings(serving=serving, **values))
        except SettingsError as exc:
            raise SettingsError("\n".join(f"{where} (chain {chain_id}): {line}"
                                          for line in str(exc).splitlines())) from None
    first = default or 0
    ordered = [out[first], *out[:first], *out[first + 1:]]
    return tuple(_own_heads(s, i == 0) for i, s in enumerate(ordered))


def _own_heads(settings: Settings, default: bool) -> Settings:
    """Each network shares its heads across workers through its own file: the default
    network's is HEADS_FILE, another's HEADS_FILE.<chain id> (``serve`` makes them)."""
    if default or not settings.heads_file:
        return settings
    return settings.model_copy(update={"heads_file": heads_path(settings.heads_file,
                                                                 settings.bizra_network_id)})


def heads_path(base: str, chain_id: int) -> str:
    """The heads file of a network other than the default."""
    return f"{base}.{chain_id}"
