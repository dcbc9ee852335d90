"""Whether a run is a measurement at all, and a hit rate from counts that cannot lie.

A load run that answered with errors, or that answered fewer requests per second than
were offered, did not measure what its label says: its latency is the latency of a
queue, its throughput that of a server refusing work. Such a run is a *failed
measurement*: the report shows it as such, never uses it as a denominator or as the
figure of a goal (the goal is then "not measured"), and the charts mark it.

Everything here is a pure function of the figures a run recorded (the dicts of
``measure.Run.as_dict``), so the report's honesty is tested without a server.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["MIN_PACE", "fmt_rate", "hit_rate", "run_failure"]

MIN_PACE = 0.98
"""A paced (open-loop) run kept up when it achieved at least this share of the rate it
offered."""


def _number(value: Any) -> float:
    """``value`` as a float, NaN when missing or not a number."""
    if value is None or isinstance(value, bool):
        return math.nan
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def fmt_rate(value: float) -> str:
    """A rate as the report writes it: whole above 100/s, one decimal below (19.4 of
    20/s is not "19 of 20")."""
    return f"{value:.0f}" if value >= 100 else f"{value:.1f}"


def run_failure(run: dict[str, Any]) -> str | None:
    """Why ``run`` is not a measurement (None when it is one).

    - any error (socket errors, timeouts, non-2xx answers), in any of its rounds;
    - no request answered, or no throughput figure;
    - a paced run that achieved less than :data:`MIN_PACE` of its offered rate;
    - a hit rate recorded as impossible (see :func:`hit_rate`).
    """
    extra = run.get("extra") or {}
    rounds = [int(e) for e in extra.get("errors_repeats") or [] if e]
    errors = max(int(run.get("errors") or 0), sum(rounds))
    if errors:
        where = f" (in {len(rounds)} of {len(extra['errors_repeats'])} rounds)" \
            if len(extra.get("errors_repeats") or []) > 1 else ""
        return f"{errors} error{'s' if errors != 1 else ''}{where}"
    rps = _number(run.get("rps"))
    requests = _number(run.get("requests"))  # NaN when not recorded: judged by rps alone
    if math.isnan(rps) or rps <= 0 or requests <= 0:
        return "no request answered"
    rate = _number(run.get("rate"))
    if run.get("tool") == "paced" and rate > 0 and rps < MIN_PACE * rate:
        return (f"achieved {fmt_rate(rps)} of the {fmt_rate(rate)} req/s offered "
                f"({rps / rate:.1%}, below {MIN_PACE:.0%}): the server fell behind")
    hit = extra.get("hit_rate_failure")
    if hit:
        return f"hit rate not measured: {hit}"
    return None


def hit_rate(requests: int, lookups: float, computed: float) -> dict[str, Any]:
    """The hit rate of a phase from the node's own counts, or why there is none.

    ``lookups`` is how many answers the node looked up in its cache in the phase (L1
    hits and misses of the answer kinds: one per request it served), ``computed`` how
    many of those it computed (went upstream for). Both are counts of the same
    requests, so ``0 <= computed <= lookups`` must hold; the hit rate is
    ``1 - computed / lookups``, in [0, 1]. ``requests`` is what the client had answered
    in the phase: the node cannot have served fewer than that.

    An impossible count (negative, computed above lookups, fewer lookups than answers
    the client received: a counter was lost or a worker's metrics were not yet
    published) is never turned into a rate: ``hit_rate`` is None and ``failure`` says
    why.
    """
    out: dict[str, Any] = {
        "requests": int(requests), "lookups": None if math.isnan(lookups) else int(lookups),
        "upstream_validations": None if math.isnan(computed) else int(computed),
        "hit_rate": None, "failure": None}
    if math.isnan(lookups) or math.isnan(computed):
        out["failure"] = "the node's counts could not be read"
    elif computed < 0:
        out["failure"] = f"impossible count: {computed:.0f} validations computed"
    elif lookups <= 0:
        out["failure"] = "the node counted no lookups"
    elif computed > lookups:
        out["failure"] = (f"impossible count: {computed:.0f} validations computed for "
                          f"{lookups:.0f} lookups")
    elif lookups < requests:
        out["failure"] = (f"impossible count: the node counted {lookups:.0f} lookups for "
                          f"{requests} answers the client received (metrics not all published)")
    else:
        out["hit_rate"] = round(1 - computed / lookups, 4)
    return out
