"""A small, bounded load generator and the statistics every measurement reports.

``http_load`` runs N client threads, each with its own ``requests.Session``, for a
fixed number of seconds (and never more than a fixed number of requests). Latency
is the wall time of one request as the client sees it. ``sequential`` times one
operation after another in the calling thread (database and broker pairs).
"""
import itertools
import math
import os
import threading
import time
from dataclasses import dataclass, field

import requests

CLK_TCK = os.sysconf("SC_CLK_TCK")


def percentile(sorted_values, p):
    """Nearest-rank percentile of an already sorted list (None when empty)."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


@dataclass
class Result:
    name: str
    ok: int = 0
    errors: int = 0
    elapsed: float = 0.0
    latencies: list = field(default_factory=list)  # seconds, successful operations only
    sample_error: str = ""
    client_cpu: float = 0.0  # CPU seconds of this (load generator) process
    box_busy: float = 0.0    # share of all cores busy during the run, 0..1
    box_busy_seconds: float = 0.0  # CPU seconds used on the whole box during the run
    irq_seconds: float = 0.0  # of which interrupts and softirqs (network stack), no process's
    cpu_by_component: dict = field(default_factory=dict)  # name -> CPU seconds
    note: str = ""

    @property
    def rate(self):
        return self.ok / self.elapsed if self.elapsed > 0 else 0.0

    def p(self, q):
        return percentile(sorted(self.latencies), q)

    @property
    def p50(self):
        return self.p(50)

    @property
    def p99(self):
        return self.p(99)


def box_cpu_times():
    """(busy, total, irq + softirq) jiffies over all cores, from /proc/stat. Interrupt
    time (loopback networking runs in softirqs) is not charged to any process."""
    with open("/proc/stat") as f:
        fields_ = [int(x) for x in f.readline().split()[1:]]
    idle = fields_[3] + fields_[4]  # idle + iowait
    return sum(fields_) - idle, sum(fields_), fields_[5] + fields_[6]


class Meter:
    """CPU of this process, of the whole box, and of named processes over a run."""

    def __init__(self, components=None):
        self.components = components or (lambda: {})

    def __enter__(self):
        self.t0 = time.perf_counter()
        self.cpu0 = time.process_time()
        self.box0 = box_cpu_times()
        self.comp0 = self._components()
        return self

    def _components(self):
        return {name: {pid: process_cpu(pid) for pid in pids} for name, pids in self.components().items()}

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.t0
        self.client_cpu = time.process_time() - self.cpu0
        busy1, total1, irq1 = box_cpu_times()
        busy = busy1 - self.box0[0]
        total = total1 - self.box0[1]
        self.box_busy = busy / total if total else 0.0
        self.box_busy_seconds = busy / CLK_TCK
        self.irq_seconds = (irq1 - self.box0[2]) / CLK_TCK
        comp1 = self._components()
        # per process: one that ended meanwhile (or started) counts what it used in the run
        self.cpu_by_component = {name: sum(max(0.0, cpu - self.comp0.get(name, {}).get(pid, 0.0))
                                           for pid, cpu in pids.items() if cpu > 0)
                                 for name, pids in comp1.items()}
        return False

    def fill(self, result):
        result.elapsed = self.elapsed
        result.client_cpu = self.client_cpu
        result.box_busy = self.box_busy
        result.box_busy_seconds = self.box_busy_seconds
        result.irq_seconds = self.irq_seconds
        result.cpu_by_component = self.cpu_by_component
        return result


def process_cpu(pid):
    """utime + stime of a process in seconds (0 when it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            parts = f.read().rsplit(")", 1)[1].split()
        return (int(parts[11]) + int(parts[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def http_load(name, request, clients=16, duration=8.0, max_requests=50_000, warmup=1.0,
              setup_session=None, components=None, timeout=30):
    """``request(session, i) -> requests.Response``; a 2xx counts as success.

    Warm-up requests (``warmup`` seconds) are sent but not counted."""
    if warmup:
        _drive(request, clients, warmup, max_requests, setup_session, timeout, record=False)
    result = Result(name)
    with Meter(components) as meter:
        per_thread = _drive(request, clients, duration, max_requests, setup_session, timeout, record=True)
    meter.fill(result)
    for latencies, errors, sample in per_thread:
        result.latencies.extend(latencies)
        result.ok += len(latencies)
        result.errors += errors
        result.sample_error = result.sample_error or sample
    return result


def _drive(request, clients, duration, max_requests, setup_session, timeout, record):
    counter = itertools.count()
    stop_at = time.perf_counter() + duration
    stop = threading.Event()
    outputs = [None] * clients

    def client(slot):
        session = requests.Session()
        if setup_session:
            setup_session(session, slot)
        latencies, errors, sample = [], 0, ""
        try:
            while not stop.is_set() and time.perf_counter() < stop_at:
                i = next(counter)
                if i >= max_requests:
                    break
                t0 = time.perf_counter()
                try:
                    response = request(session, i)
                    good = 200 <= response.status_code < 300
                    if not good and not sample:
                        sample = f"{response.status_code} {response.text[:200]}"
                except requests.RequestException as exc:
                    good = False
                    sample = sample or f"{exc.__class__.__name__}: {exc}"[:200]
                if good:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1
        finally:
            session.close()
            outputs[slot] = (latencies, errors, sample)

    threads = [threading.Thread(target=client, args=(slot,), daemon=True) for slot in range(clients)]
    for t in threads:
        t.start()
    try:
        for t in threads:
            t.join(max(0.1, stop_at - time.perf_counter()) + timeout + 5)
    finally:
        stop.set()
    return [o for o in outputs if o is not None]


def sequential(name, operation, count, max_seconds, components=None):
    """Time ``operation(i)`` ``count`` times in a row (bounded by ``max_seconds``).
    ``operation`` returns True on success (or, on success, a float: the latency it
    measured itself), False or raises on failure."""
    result = Result(name)
    deadline = time.perf_counter() + max_seconds
    with Meter(components) as meter:
        for i in range(count):
            if time.perf_counter() > deadline:
                result.note = f"stopped after {max_seconds:g} s"
                break
            t0 = time.perf_counter()
            try:
                good = operation(i)
            except Exception as exc:  # noqa: BLE001  (reported, not raised: a benchmark reports)
                good = False
                result.sample_error = result.sample_error or f"{exc.__class__.__name__}: {exc}"[:200]
            latency = time.perf_counter() - t0
            if good:
                result.ok += 1
                result.latencies.append(good if isinstance(good, float) else latency)
            else:
                result.errors += 1
    return meter.fill(result)
