"""RequestMetrics (pure) and its Prometheus text, parsed back with prometheus-client."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from orchestrator.metrics import RequestMetrics


def test_render_is_valid_prometheus_text_with_every_family() -> None:
    metrics = RequestMetrics(clock=lambda: 100.0)
    metrics.observe("system.health", "ok", 0.0002)
    metrics.observe("system.health", "ok", 0.003)
    metrics.observe("memory.get", "-32002", 0.0004)
    metrics.connections = 3
    text = metrics.render(agents=2, memory_entries=7).decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    requests = {
        (s.labels["method"], s.labels["code"]): s.value
        for s in families["orchflow_orchestrator_requests"].samples
        if s.name.endswith("_total")
    }
    assert requests == {("system.health", "ok"): 2.0, ("memory.get", "-32002"): 1.0}
    buckets = {
        s.labels["le"]: s.value
        for s in families["orchflow_orchestrator_request_duration_seconds"].samples
        if s.name.endswith("_bucket") and s.labels["method"] == "system.health"
    }
    assert buckets["0.00025"] == 1.0 and buckets["0.005"] == 2.0 and buckets["+Inf"] == 2.0
    gauges = {
        name: families[f"orchflow_orchestrator_{name}"].samples[0].value
        for name in ("connections", "agents", "memory_entries")
    }
    assert gauges == {"connections": 3.0, "agents": 2.0, "memory_entries": 7.0}


def test_memory_gauge_is_left_out_when_memory_is_unavailable() -> None:
    text = RequestMetrics().render(agents=0, memory_entries=None).decode()
    assert "memory_entries" not in text and "orchflow_orchestrator_agents 0.0" in text
