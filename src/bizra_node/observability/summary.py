"""The /api/metrics document: the runbook's fields (docs/operations.md), computed from the
aggregated metric families (so every worker's counts are in it).

Definitions (also in docs/operations.md):

- ``cache.hit_rate``: answers served from any cache tier / lookups, over the kinds
  clients ask for (transaction, block, address, rpc; not the node's own head lookups).
  Every lookup is
  counted at L1 (a hit or a miss); an L1 miss that L2 answers also counts an L2 hit.
  When nothing is counted at L1 (L1 disabled), L2's hits and misses are the lookups.
- ``cache.keys.<kind>``: the same per kind (transaction, block, address, ...).
- ``validation.retry_stats``: upstream retries by reason and upstream, and their share
  of upstream calls.
- ``validation.deduplication_rate``: lookups that missed every tier and joined an
  in-flight upstream call instead of starting one / lookups that missed every tier.
- ``breakers``: per upstream, the worst state over workers.
- ``pools``: per database pool, connections summed over workers.
Every ratio is 0 while its denominator is 0.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from prometheus_client.metrics_core import Metric

__all__ = ["summarize"]

KINDS = ("transaction", "block", "address")
CLIENT_KINDS = (*KINDS, "rpc")
"""Lookups made for clients' questions; ``head`` lookups are the node's own."""
BREAKER_STATES = {0: "closed", 1: "half_open", 2: "open"}


class _Samples:
    def __init__(self, families: Iterable[Metric]) -> None:
        self.by_name: dict[str, list[tuple[dict[str, str], float]]] = defaultdict(list)
        for fam in families:
            for s in fam.samples:
                self.by_name[s.name].append((s.labels, s.value))

    def total(self, name: str, **match: str) -> float:
        return sum(v for labels, v in self.by_name.get(name, ())
                   if all(labels.get(k) == want for k, want in match.items()))

    def by(self, name: str, label: str, **match: str) -> dict[str, float]:
        out: dict[str, float] = defaultdict(float)
        for labels, v in self.by_name.get(name, ()):
            if all(labels.get(k) == want for k, want in match.items()):
                out[labels.get(label, "")] += v
        return dict(out)


def _ratio(num: float, den: float) -> float:
    return round(num / den, 4) if den > 0 else 0.0


def _num(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _cache(s: _Samples) -> tuple[dict[str, Any], float]:
    hits = s.by_name.get("cache_hits_total", [])
    misses = s.by_name.get("cache_misses_total", [])
    kinds = set(KINDS) | {lab.get("kind", "") for lab, _ in hits + misses}
    tiers = sorted({lab.get("tier", "") for lab, _ in hits + misses})

    def lookups_of(kind: str | None) -> tuple[float, float]:
        match = {} if kind is None else {"kind": kind}
        l1 = s.total("cache_hits_total", tier="l1", **match) + \
            s.total("cache_misses_total", tier="l1", **match)
        all_hits = s.total("cache_hits_total", **match)
        if l1 == 0:  # no L1 in front: L2's own lookups
            l1 = all_hits + s.total("cache_misses_total", **match)
        return all_hits, max(l1, all_hits)

    keys: dict[str, Any] = {}
    final_misses = 0.0
    for kind in sorted(k for k in kinds if k):
        h, n = lookups_of(kind)
        final_misses += n - h
        keys[kind] = {"hits": _num(h), "misses": _num(n - h), "lookups": _num(n),
                      "hit_rate": _ratio(h, n)}
    h = n = 0.0
    for kind in CLIENT_KINDS:  # internal lookups (the head) would inflate the rate
        kh, kn = lookups_of(kind)
        h, n = h + kh, n + kn
    per_tier = {}
    for tier in tiers:
        th = s.total("cache_hits_total", tier=tier)
        tm = s.total("cache_misses_total", tier=tier)
        per_tier[tier] = {"hits": _num(th), "misses": _num(tm), "hit_rate": _ratio(th, th + tm)}
    doc = {
        "hit_rate": _ratio(h, n), "hits": _num(h), "misses": _num(n - h), "lookups": _num(n),
        "tiers": per_tier, "keys": keys,
        "entries": {k: _num(v) for k, v in s.by("cache_entries", "tier").items()},
        "bytes": {k: _num(v) for k, v in s.by("cache_bytes", "tier").items()},
        "evictions": {k: _num(v) for k, v in s.by("cache_evictions_total", "reason").items()},
        "l2_errors": _num(s.total("cache_l2_errors_total")),
    }
    return doc, final_misses


def _validation(s: _Samples, final_misses: float) -> dict[str, Any]:
    retries = s.total("upstream_retries_total")
    calls = s.total("upstream_calls_total")
    dedup = s.total("deduplicated_requests_total")
    return {
        "retry_stats": {
            "retries": _num(retries), "upstream_calls": _num(calls),
            "retry_rate": _ratio(retries, calls),
            "by_reason": {k: _num(v) for k, v in s.by("upstream_retries_total", "reason").items()},
            "by_upstream": {k: _num(v)
                            for k, v in s.by("upstream_retries_total", "upstream").items()},
        },
        "deduplication_rate": _ratio(dedup, max(final_misses, dedup)),
        "deduplicated": _num(dedup),
        "deduplicated_by_kind": {k: _num(v)
                                 for k, v in s.by("deduplicated_requests_total", "kind").items()},
    }


def _breakers(s: _Samples) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for upstream, value in s.by("circuit_breaker_state", "upstream").items():
        out[upstream] = {"state": BREAKER_STATES.get(int(value), str(value)), "value": _num(value),
                         "transitions": {k: _num(v) for k, v in s.by(
                             "circuit_breaker_transitions_total", "to", upstream=upstream).items()}}
    return out


def _pools(s: _Samples) -> dict[str, Any]:
    out: dict[str, Any] = {}
    names = set(s.by("db_pool_size", "pool")) | set(s.by("db_pool_max", "pool")) | set(
        s.by("db_pool_in_use", "pool"))
    for pool in sorted(names):
        size, used = s.total("db_pool_size", pool=pool), s.total("db_pool_in_use", pool=pool)
        top = s.total("db_pool_max", pool=pool)
        out[pool] = {"size": _num(size), "in_use": _num(used),
                     "waiting": _num(s.total("db_pool_waiting", pool=pool)), "max": _num(top),
                     "utilization": _ratio(used, top)}
    return out


def summarize(families: Iterable[Metric]) -> dict[str, Any]:
    """The /api/metrics document from aggregated families (zeros when nothing counted)."""
    s = _Samples(families)
    cache, final_misses = _cache(s)
    requests = s.total("api_requests_total")
    errors = sum(v for labels, v in s.by_name.get("api_requests_total", ())
                 if labels.get("status", "").startswith("5"))
    workers = sorted((int(lab.get("pid", "0")), v)
                     for lab, v in s.by_name.get("process_resident_memory_bytes", ()))
    limit = s.total("memory_limit_bytes")
    rss = sum(v for _, v in workers)
    return {
        "cache": cache,
        "validation": _validation(s, final_misses),
        "breakers": _breakers(s),
        "pools": _pools(s),
        "write_behind": {
            "queue_depth": _num(s.total("write_behind_queue_depth")),
            "spool_bytes": _num(s.total("write_behind_spool_bytes")),
            "records": {k: _num(v) for k, v in s.by("write_behind_records_total",
                                                     "outcome").items()},
        },
        "replicas": {k: {"lag_seconds": v} for k, v in s.by("db_replica_lag_seconds",
                                                             "replica").items()},
        "requests": {"total": _num(requests), "errors": _num(errors),
                     "error_rate": _ratio(errors, requests),
                     "by_status": {k: _num(v) for k, v in s.by("api_requests_total",
                                                               "status").items()}},
        "upstreams": {"calls": {k: _num(v) for k, v in s.by("upstream_calls_total",
                                                             "outcome").items()}},
        "memory": {"rss_bytes": _num(rss), "limit_bytes": _num(limit),
                   "usage_ratio": _ratio(rss, limit),
                   "workers": [{"pid": pid, "rss_bytes": _num(v)} for pid, v in workers],
                   "guard_actions": {k: _num(v) for k, v in s.by("memory_guard_actions_total",
                                                                 "action").items()}},
    }
