"""GCRA (the generic cell rate algorithm), shared and local.

A policy allows ``rate`` units a second with bursts of ``burst`` units. GCRA keeps
one number per caller, the *theoretical arrival time* (TAT): a request of cost ``c``
fits when ``max(TAT, now) + c*T - now <= burst*T`` (``T = 1/rate``), and then moves
TAT forward by ``c*T``. One number per caller, no timers, exact at any rate.

``TAKE`` is the shared form, a Lua script Redis runs atomically on Redis's clock
(``TIME``), so every worker of every node spends from the same allowance. It takes
*up to* ``want`` units but at least ``need`` (a worker leases several units at once
and spends them locally, see limiter.py); ``GIVE_BACK`` returns a lease's leftovers.
Times in the scripts are integer microseconds (Lua numbers are doubles: exact to
2^53 us, ~285 years).

:class:`LocalGcra` is the same rule in one process, for when Redis is unreachable
(per-worker limits).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

__all__ = ["GIVE_BACK", "TAKE", "LocalGcra", "Policy"]


@dataclass(frozen=True, slots=True)
class Policy:
    """``rate`` units per second, bursts of ``burst`` units; ``name`` is what the
    RateLimit-Policy field calls it."""

    name: str
    rate: float
    burst: int
    interval_us: int = field(init=False)
    """Microseconds per unit (T), as the Lua script gets it."""
    window: int = field(init=False)
    """Seconds an empty allowance takes to refill (the policy's ``w``)."""

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1:
            raise ValueError(f"policy {self.name}: rate must be > 0 and burst >= 1")
        object.__setattr__(self, "interval_us", max(round(1e6 / self.rate), 1))
        object.__setattr__(self, "window", max(math.ceil(self.burst / self.rate), 1))

    def scaled(self, share: int) -> Policy:
        """This policy divided among ``share`` workers (the per-worker fallback)."""
        if share <= 1:
            return self
        return Policy(self.name, self.rate / share, max(self.burst // share, 1))


# KEYS[1]: the caller's TAT; ARGV: T (us per unit), burst, need, want.
# Returns {granted, available after, wait us (when refused), TAT - now us}.
TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local T = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local need = tonumber(ARGV[3])
local want = tonumber(ARGV[4])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local cap = now + burst * T
local avail = math.floor((cap - tat) / T)
if avail < need then
  return {0, avail, tat + need * T - cap, tat - now}
end
local grant = math.min(want, avail)
tat = tat + grant * T
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
return {grant, avail - grant, 0, tat - now}
"""

# KEYS[1]: the caller's TAT; ARGV: T, units given back. Returns the units taken back.
GIVE_BACK = """
local v = redis.call('GET', KEYS[1])
if not v then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(v) - tonumber(ARGV[1]) * tonumber(ARGV[2])
if tat <= now then
  redis.call('DEL', KEYS[1])
else
  redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.ceil((tat - now) / 1000) + 1000)
end
return tonumber(ARGV[2])
"""


class LocalGcra:
    """GCRA in one process, over a bounded table of callers."""

    __slots__ = ("_tat", "capacity")

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._tat: dict[str, float] = {}

    def take(self, caller: str, policy: Policy, cost: int, now: float) -> float:
        """0.0 when ``cost`` units fit now (and are spent), else seconds to wait."""
        interval = 1.0 / policy.rate
        tat = self._tat.get(caller, now)
        if tat < now:
            tat = now
        new = tat + cost * interval
        over = new - now - policy.burst * interval
        if over > 1e-9:
            return over
        tat_table = self._tat
        if caller not in tat_table and len(tat_table) >= self.capacity:
            self.sweep(now)
        tat_table[caller] = new
        return 0.0

    def remaining(self, caller: str, policy: Policy, now: float) -> int:
        tat = max(self._tat.get(caller, now), now)
        return max(int((now + policy.burst / policy.rate - tat) * policy.rate), 0)

    def sweep(self, now: float) -> None:
        """Forget callers whose allowance is full again (they are as if new); if the
        table is still full, forget the oldest half."""
        table = self._tat
        for caller in [c for c, tat in table.items() if tat <= now]:
            del table[caller]
        if len(table) >= self.capacity:
            for caller in list(table)[: len(table) // 2]:
                del table[caller]

    def __len__(self) -> int:
        return len(self._tat)
