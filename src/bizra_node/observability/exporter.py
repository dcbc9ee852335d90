"""Publishing :class:`NodeMetrics` to Prometheus, correct across worker processes.

granian runs N worker processes; each counts into its own ``NodeMetrics`` (plain dict
updates on the hot path). A scrape lands on one worker, which must answer for all.

How (chosen by measurement, see docs/operations.md "Metrics pipeline"):

- Each worker flushes its metrics every ``METRICS_FLUSH_INTERVAL`` (1 s) into
  prometheus-client's multiprocess files under ``PROMETHEUS_MULTIPROC_DIR``
  (``counter_<pid>.db``, ``histogram_<pid>.db``, ``gauge_live<mode>_<pid>.db``), off
  the request path. A flush writes only values that changed since the last one, as
  absolute per-process totals, so a lost flush loses nothing.
- A scrape flushes the answering worker, drops the live-gauge files of workers that
  are gone, and lets prometheus-client's ``MultiProcessCollector`` merge every file:
  counters and histograms are summed (a dead worker's counts are kept, so totals
  never go backwards), gauges combine as each ``GaugeVec.aggregate`` says over live
  workers, and ``process_resident_memory_bytes`` keeps one series per worker (``pid``).
- Without a directory (one process, in-process tests) the collector reads the
  ``NodeMetrics`` directly and renders the same families.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import psutil
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict, mmap_key
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

from ..resilience import Periodic
from .memory import read_rss
from .metrics import NodeMetrics, SupervisorMetrics
from .stats import CounterVec, GaugeVec, HistogramVec, LabelKey

__all__ = ["CONTENT_TYPE", "Exporter", "MultiprocWriter", "family_name", "prepare_directory",
           "remove_directory", "sweep_dead", "vectors"]

log = logging.getLogger("bizra_node.metrics")

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
Vector = CounterVec | GaugeVec | HistogramVec


def vectors(metrics: NodeMetrics | SupervisorMetrics) -> list[Vector]:
    """Every metric vector declared on ``metrics``, in declaration order."""
    return [v for v in vars(metrics).values() if isinstance(v, CounterVec | GaugeVec | HistogramVec)]


def family_name(vec: Vector) -> str:
    """The Prometheus family name: counters lose their ``_total`` (the sample keeps it)."""
    if isinstance(vec, CounterVec) and vec.name.endswith("_total"):
        return vec.name[:-6]
    return vec.name


def _le(buckets: tuple[float, ...]) -> list[str]:
    return [floatToGoString(b) for b in buckets] + ["+Inf"]


class MultiprocWriter:
    """Writes one process's metric values into prometheus-client multiprocess files."""

    def __init__(self, metrics: NodeMetrics | SupervisorMetrics, directory: str,
                 pid: int | None = None) -> None:
        self.pid = os.getpid() if pid is None else pid
        self._dir = directory
        self._vectors = vectors(metrics)
        self._files: dict[str, MmapedDict] = {}
        # (id(vector), labels) -> file, mmap keys per slot, base offsets, last written row
        self._slots: dict[tuple[int, LabelKey], tuple[MmapedDict, list[str], list[float],
                                                      list[float]]] = {}

    def _file(self, prefix: str) -> MmapedDict:
        f = self._files.get(prefix)
        if f is None:
            f = self._files[prefix] = MmapedDict(os.path.join(self._dir, f"{prefix}_{self.pid}.db"))
        return f

    def _slot(self, vec: Vector, labels: LabelKey) -> tuple[MmapedDict, list[str], list[float],
                                                            list[float]]:
        name, names, doc = family_name(vec), list(vec.labelnames), vec.description
        values = list(labels)
        if isinstance(vec, CounterVec):
            f = self._file("counter")
            keys = [mmap_key(name, vec.name, names, values, doc)]
        elif isinstance(vec, GaugeVec):
            f = self._file("gauge_live" + vec.aggregate)
            keys = [mmap_key(name, name, names, values, doc)]
        else:
            f = self._file("histogram")
            keys = [mmap_key(name, name + "_bucket", [*names, "le"], [*values, le], doc)
                    for le in _le(vec.buckets)]
            keys.append(mmap_key(name, name + "_sum", names, values, doc))
        # A file left by an earlier process with this pid (pid reuse) keeps its counts:
        # this process adds to them. Gauges are current values and start afresh.
        base = [0.0 if isinstance(vec, GaugeVec) else f.read_value(k)[0] for k in keys]
        slot = (f, keys, base, [float("nan")] * len(keys))
        self._slots[(id(vec), labels)] = slot
        return slot

    def flush(self) -> int:
        """Write every value that changed since the last flush; returns how many."""
        written = 0
        slots = self._slots
        for vec in self._vectors:
            rows: Iterable[tuple[LabelKey, list[float]]]
            if isinstance(vec, HistogramVec):
                rows = list(vec.series.items())
            else:
                rows = [(labels, [value]) for labels, value in list(vec.values.items())]
            vid = id(vec)
            for labels, row in rows:
                slot = slots.get((vid, labels)) or self._slot(vec, labels)
                f, keys, base, last = slot
                for i, value in enumerate(row):
                    if value != last[i]:
                        f.write_value(keys[i], base[i] + value, 0.0)
                        last[i] = value
                        written += 1
        return written

    def close(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()
        self._slots.clear()


def _pid_alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def sweep_dead(directory: str) -> list[int]:
    """Drop live-gauge files of processes that are gone; returns their pids."""
    dead: set[int] = set()
    for path in glob.glob(os.path.join(directory, "gauge_live*_*.db")):
        tail = os.path.basename(path).rsplit("_", 1)[-1][:-3]
        if tail.isdigit() and not _pid_alive(int(tail)):
            dead.add(int(tail))
    for pid in dead:
        mark_process_dead(pid, directory)
    return sorted(dead)


class DirectCollector(Collector):
    """Families straight from one process's ``NodeMetrics`` (no directory)."""

    def __init__(self, metrics: NodeMetrics) -> None:
        self._vectors = vectors(metrics)

    def collect(self) -> Iterator[Metric]:
        pid = str(os.getpid())
        for vec in self._vectors:
            name = family_name(vec)
            names = vec.labelnames
            if isinstance(vec, CounterVec):
                fam = Metric(name, vec.description, "counter")
                for labels, value in vec.items():
                    fam.add_sample(vec.name, dict(zip(names, labels, strict=True)), value)
            elif isinstance(vec, GaugeVec):
                fam = Metric(name, vec.description, "gauge")
                for labels, value in vec.items():
                    lab = dict(zip(names, labels, strict=True))
                    if vec.aggregate == "all":
                        lab["pid"] = pid
                    fam.add_sample(name, lab, value)
            else:
                fam = Metric(name, vec.description, "histogram")
                les = _le(vec.buckets)
                for labels, row in vec.items():
                    lab = dict(zip(names, labels, strict=True))
                    acc = 0.0
                    for le, n in zip(les, row[:-1], strict=True):
                        acc += n
                        fam.add_sample(name + "_bucket", {**lab, "le": le}, acc)
                    fam.add_sample(name + "_count", lab, acc)
                    fam.add_sample(name + "_sum", lab, row[-1])
            if fam.samples:
                yield fam


class _FilesCollector(Collector):
    def __init__(self, directory: str) -> None:
        self._dir = directory
        self._inner = MultiProcessCollector(None, directory)

    def collect(self) -> Iterable[Metric]:
        sweep_dead(self._dir)
        return list(self._inner.collect())


class Exporter:
    """Owns the flush task of one worker and answers scrapes for all workers."""

    def __init__(self, metrics: NodeMetrics, *, directory: str = "", flush_interval: float = 1.0,
                 enabled: bool = True) -> None:
        self.metrics = metrics
        self.directory = directory
        self.flush_interval = flush_interval
        self.enabled = enabled
        self._writer: MultiprocWriter | None = None
        self._collector: Collector = DirectCollector(metrics)
        self._periodic = Periodic("metrics flush", self.flush, flush_interval, logger=log)
        if directory:
            Path(directory).mkdir(parents=True, exist_ok=True)
            self._writer = MultiprocWriter(metrics, directory)
            self._collector = _FilesCollector(directory)

    @property
    def multiprocess(self) -> bool:
        return self._writer is not None

    def flush(self) -> int:
        """Refresh this worker's RSS and publish its values (a no-op without a directory)."""
        self.metrics.process_rss.set(float(read_rss()))
        return self._writer.flush() if self._writer is not None else 0

    def start(self) -> None:
        self.flush()
        if self._writer is not None and self.enabled:
            self._periodic.start()

    async def stop(self) -> None:
        await self._periodic.stop()
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self.flush()
            self._writer.close()
            mark_process_dead(self._writer.pid, self.directory)  # its gauges go, counts stay
            self._writer = None

    async def families(self) -> list[Metric]:
        """Every family, aggregated over workers. Reading the files happens in a thread
        so a scrape never stalls the event loop."""
        self.flush()
        if self.multiprocess:
            return await asyncio.to_thread(lambda: list(self._collector.collect()))
        return list(self._collector.collect())

    async def render(self) -> bytes:
        """The Prometheus text exposition of :meth:`families`."""
        families = await self.families()
        return generate_latest(_Fixed(families))


class _Fixed(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


def prepare_directory(path: str = "") -> tuple[str, bool]:
    """A directory for the workers' metric files, empty of earlier runs' files (stale
    counts would be added to this run's). Makes a temporary one when ``path`` is
    empty; returns it and whether it was made here (then :func:`remove_directory`
    deletes it)."""
    if not path:
        import tempfile

        return tempfile.mkdtemp(prefix="bizra-metrics-"), True
    Path(path).mkdir(parents=True, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)
    return path, False


def remove_directory(path: str, made: bool) -> None:
    """Delete the metric files of a finished run (and the directory if it was made here)."""
    for stale in glob.glob(os.path.join(path, "*.db")):
        with contextlib.suppress(OSError):
            os.remove(stale)
    if made:
        with contextlib.suppress(OSError):
            os.rmdir(path)
