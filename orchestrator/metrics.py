"""Request metrics kept in plain dicts, rendered by prometheus-client at scrape time.

Why not prometheus-client objects on the hot path: each ``labels().inc()`` takes a lock
and a dict lookup chain (~2 us), and importing prometheus_client costs tens of ms of
start-up; a request here should cost far less. So requests update counters in
``RequestMetrics`` (pure, no I/O), and ``render()`` builds a private ``CollectorRegistry``
whose collector turns them into metric families, in the Prometheus text format.

Families (all prefixed ``orchflow_orchestrator_``):

    requests_total{method,code}              counter   code = "ok" or the JSON-RPC error code
    request_duration_seconds{method}         histogram handler time per method
    connections                              gauge     open WebSocket connections
    agents                                   gauge     agents the orchestrator manages
    memory_entries                           gauge     live memory entries
    uptime_seconds                           gauge
    breaker_state{breaker,state}             gauge     1 for the breaker's current state, else 0
    breaker_opens_total{breaker}             counter   times the breaker opened
    breaker_rejected_total{breaker}          counter   calls refused while it was open
    locks_held / lock_waiters                gauge     resource locks held, requests waiting
    schedules                                gauge     cron schedules
    schedule_firings_total                   counter   firings whose command started

Unknown method names are counted as ``method="unknown"``: a client must not be able to
create unbounded label values.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

PREFIX = "orchflow_orchestrator_"
BUCKETS: tuple[float, ...] = (
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)
UNKNOWN_METHOD = "unknown"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@dataclass(slots=True)
class _Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds


class RequestMetrics:
    """Counters for requests, connections and the gauges read at scrape time."""

    def __init__(self, *, clock: Any = time.monotonic) -> None:
        self._clock = clock
        self.started = clock()
        self.requests: dict[tuple[str, str], int] = {}
        self.latency: dict[str, _Histogram] = {}
        self.connections = 0

    def observe(self, method: str, code: str, seconds: float) -> None:
        key = (method, code)
        self.requests[key] = self.requests.get(key, 0) + 1
        hist = self.latency.get(method)
        if hist is None:
            hist = self.latency[method] = _Histogram()
        hist.observe(seconds)

    def uptime(self) -> float:
        return float(self._clock() - self.started)

    def total_requests(self) -> int:
        return sum(self.requests.values())

    def render(
        self,
        *,
        agents: int,
        memory_entries: int | None,
        coordination: dict[str, Any] | None = None,
    ) -> bytes:
        """The Prometheus text exposition of everything (``memory_entries`` None: omitted;
        ``coordination``: breakers, locks and schedules, see the module docstring)."""
        from prometheus_client import CollectorRegistry, generate_latest
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        metrics = self

        class _Collector:
            def collect(self) -> Iterator[Any]:
                requests = CounterMetricFamily(
                    PREFIX + "requests",
                    "JSON-RPC requests answered, by method and result code",
                    labels=["method", "code"],
                )
                for (method, code), count in sorted(metrics.requests.items()):
                    requests.add_metric([method, code], count)
                yield requests
                latency = HistogramMetricFamily(
                    PREFIX + "request_duration_seconds",
                    "Time spent handling a JSON-RPC request, by method",
                    labels=["method"],
                )
                for method, hist in sorted(metrics.latency.items()):
                    cumulative, buckets = 0, []
                    for bound, count in zip((*BUCKETS, float("inf")), hist.counts, strict=True):
                        cumulative += count
                        buckets.append((_bound(bound), cumulative))
                    latency.add_metric([method], buckets, hist.total)
                yield latency
                yield GaugeMetricFamily(
                    PREFIX + "connections", "Open WebSocket connections", value=metrics.connections
                )
                yield GaugeMetricFamily(PREFIX + "agents", "Agents managed", value=agents)
                if memory_entries is not None:
                    yield GaugeMetricFamily(
                        PREFIX + "memory_entries", "Live memory entries", value=memory_entries
                    )
                yield GaugeMetricFamily(
                    PREFIX + "uptime_seconds", "Seconds since start", value=metrics.uptime()
                )
                if coordination is not None:
                    yield from _coordination_families(coordination)

        registry = CollectorRegistry(auto_describe=False)
        registry.register(_Collector())
        return bytes(generate_latest(registry))


def _coordination_families(c: dict[str, Any]) -> Iterator[Any]:
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

    from orchestrator.coordination.breakers import BreakerState

    state = GaugeMetricFamily(
        PREFIX + "breaker_state",
        "Circuit breaker state: 1 for the current one",
        labels=["breaker", "state"],
    )
    opens = CounterMetricFamily(
        PREFIX + "breaker_opens", "Times a circuit breaker opened", labels=["breaker"]
    )
    rejected = CounterMetricFamily(
        PREFIX + "breaker_rejected", "Calls refused by an open breaker", labels=["breaker"]
    )
    for name, snap in sorted(c["breakers"].items()):
        for s in BreakerState:
            state.add_metric([name, s.value], 1.0 if snap["state"] == s.value else 0.0)
        opens.add_metric([name], snap["opens"])
        rejected.add_metric([name], snap["rejected"])
    yield state
    yield opens
    yield rejected
    yield GaugeMetricFamily(PREFIX + "locks_held", "Resource locks held", value=c["locks_held"])
    yield GaugeMetricFamily(
        PREFIX + "lock_waiters", "Lock requests waiting", value=c["lock_waiters"]
    )
    yield GaugeMetricFamily(PREFIX + "schedules", "Cron schedules", value=c["schedules"])
    yield CounterMetricFamily(
        PREFIX + "schedule_firings",
        "Schedule firings whose command started",
        value=c["schedule_firings"],
    )


def _bound(value: float) -> str:
    return "+Inf" if value == float("inf") else repr(value)
