"""Cheap in-process metric primitives for hot paths.

A labelled counter increment here is a dict update (~60 ns); prometheus-client in
multiprocess mode costs ~750-1600 ns per operation (measured on this machine). So
components count into these, and the exporter (``observability``) publishes them
to Prometheus off the request path. Labels are tuples of bounded values only: never
a user, key, address or hash.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterator
from typing import Literal

__all__ = ["DEFAULT_BUCKETS", "Aggregate", "CounterVec", "GaugeVec", "HistogramVec", "LabelKey",
           "Labelled"]

_FLOAT_MAX = 2**1023
"""Ints from here on may not convert to a float (the largest float is just below 2**1024)."""

LabelKey = tuple[str, ...]

Aggregate = Literal["sum", "max", "min", "all"]
"""How a gauge is combined over worker processes at scrape time: ``sum`` (things each
worker holds: connections, cache entries), ``max``/``min`` (one shared fact seen by
each worker: a breaker's worst state, a replica's lag), ``all`` (one series per
worker, labelled ``pid``: process memory). Only live workers count."""

DEFAULT_BUCKETS: tuple[float, ...] = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)


class CounterVec:
    """Monotonic counts per label tuple."""

    __slots__ = ("description", "labelnames", "name", "values")

    def __init__(self, name: str, description: str, labelnames: tuple[str, ...] = ()) -> None:
        self.name = name
        self.description = description
        self.labelnames = labelnames
        self.values: dict[LabelKey, float] = {}

    def inc(self, labels: LabelKey = (), amount: float = 1) -> None:
        values = self.values
        values[labels] = values.get(labels, 0) + amount

    def preset(self, *label_sets: LabelKey) -> None:
        """Export these series at 0 before they first count, so that a fresh dashboard
        shows 0 rather than "no data"."""
        for labels in label_sets:
            self.values.setdefault(labels, 0)

    def get(self, labels: LabelKey = ()) -> float:
        return self.values.get(labels, 0)

    def total(self) -> float:
        return sum(self.values.values())

    def items(self) -> Iterator[tuple[LabelKey, float]]:
        return iter(list(self.values.items()))


class GaugeVec:
    """Current values per label tuple (set, not accumulated)."""

    __slots__ = ("aggregate", "description", "labelnames", "name", "values")

    def __init__(self, name: str, description: str, labelnames: tuple[str, ...] = (),
                 aggregate: Aggregate = "sum") -> None:
        self.name = name
        self.description = description
        self.labelnames = labelnames
        self.aggregate: Aggregate = aggregate
        self.values: dict[LabelKey, float] = {}

    def set(self, value: float, labels: LabelKey = ()) -> None:
        """An int of 2**1023 or more (no float may hold it) is not kept: exporting it
        would raise OverflowError in every flush and scrape."""
        if type(value) is int and not -_FLOAT_MAX < value < _FLOAT_MAX:
            return
        self.values[labels] = value

    def preset(self, *label_sets: LabelKey) -> None:
        """Export these series at 0 until they are first set (see CounterVec.preset)."""
        for labels in label_sets:
            self.values.setdefault(labels, 0)

    def get(self, labels: LabelKey = ()) -> float:
        return self.values.get(labels, 0)

    def items(self) -> Iterator[tuple[LabelKey, float]]:
        return iter(list(self.values.items()))


class HistogramVec:
    """Fixed-bucket histogram per label tuple: counts per bucket (non-cumulative,
    the last slot is +Inf), sum and count."""

    __slots__ = ("buckets", "description", "labelnames", "name", "series")

    def __init__(self, name: str, description: str, labelnames: tuple[str, ...] = (),
                 buckets: tuple[float, ...] = DEFAULT_BUCKETS) -> None:
        self.name = name
        self.description = description
        self.labelnames = labelnames
        self.buckets = buckets
        self.series: dict[LabelKey, list[float]] = {}
        """label tuple -> [count per bucket..., count over last bucket, sum]"""

    def observe(self, value: float, labels: LabelKey = ()) -> None:
        row = self.series.get(labels)
        if row is None:
            row = self.series[labels] = [0.0] * (len(self.buckets) + 2)
        row[bisect_left(self.buckets, value)] += 1
        row[-1] += value

    def count(self, labels: LabelKey = ()) -> float:
        row = self.series.get(labels)
        return sum(row[:-1]) if row else 0

    def quantile(self, q: float, labels: LabelKey = ()) -> float | None:
        """Upper bound of the bucket holding quantile ``q`` (None with no data)."""
        row = self.series.get(labels)
        if not row:
            return None
        total = sum(row[:-1])
        if total == 0:
            return None
        rank = q * total
        seen = 0.0
        for i, n in enumerate(row[:-1]):
            seen += n
            if seen >= rank:
                return self.buckets[i] if i < len(self.buckets) else float("inf")
        return float("inf")

    def items(self) -> Iterator[tuple[LabelKey, list[float]]]:
        return iter([(k, list(v)) for k, v in self.series.items()])


class Labelled:
    """A vector seen by one network: the same calls, each series with the network's
    label value appended (the vector itself declares the extra label name). A node
    serving several networks hands each network's components one of these per
    network-scoped vector, so their code does not change."""

    __slots__ = ("_tail", "_vec", "description", "labelnames", "name")

    def __init__(self, vec: CounterVec | GaugeVec | HistogramVec, *tail: str) -> None:
        self._vec = vec
        self._tail: LabelKey = tail
        self.name = vec.name
        self.description = vec.description
        self.labelnames = vec.labelnames

    def inc(self, labels: LabelKey = (), amount: float = 1) -> None:
        self._vec.inc(labels + self._tail, amount)  # type: ignore[union-attr]

    def set(self, value: float, labels: LabelKey = ()) -> None:
        self._vec.set(value, labels + self._tail)  # type: ignore[union-attr]

    def observe(self, value: float, labels: LabelKey = ()) -> None:
        self._vec.observe(value, labels + self._tail)  # type: ignore[union-attr]

    def preset(self, *label_sets: LabelKey) -> None:
        self._vec.preset(*(labels + self._tail for labels in label_sets))  # type: ignore[union-attr]

    def get(self, labels: LabelKey = ()) -> float:
        return self._vec.get(labels + self._tail)  # type: ignore[union-attr]

    def count(self, labels: LabelKey = ()) -> float:
        return self._vec.count(labels + self._tail)  # type: ignore[union-attr]

    def quantile(self, q: float, labels: LabelKey = ()) -> float | None:
        return self._vec.quantile(q, labels + self._tail)  # type: ignore[union-attr]

    def total(self) -> float:
        return sum(v for _, v in self.items())  # type: ignore[misc]

    def items(self) -> Iterator[tuple[LabelKey, object]]:
        n = len(self._tail)
        return iter([(k[:-n], v) for k, v in self._vec.items() if k[-n:] == self._tail])
