"""ai.route on the labelled set (benchmarks/data/router/requests.tsv) over five fixture
projects: agent-type accuracy, command accuracy, nowhere-requests under 0.5 and route
latency p95, against the original two-tier regex router (orchestrators.md 1.3) as the floor.

A command counts when the fixture project can run it for that intent (ACCEPT below) and,
when the request names an argument, the command carries it. Rows 3, 7, 11, ... of the set
are held out (never used for tuning); both parts are reported.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Row, p95
from orchflow_core.router.project import ProjectCache
from orchflow_core.router.router import route

DATA = Path(__file__).parent / "data" / "router"
PROJECTS = ("node", "python", "rust", "go", "make")
ACCEPT: dict[str, dict[str, tuple[str, ...]]] = {
    "node": {
        "dev": ("pnpm run dev",),
        "test": ("pnpm run test", "pnpm test"),
        "build": ("pnpm run build",),
        "lint": ("pnpm run lint",),
        "repl": ("node",),
    },
    "python": {
        "dev": ("ledger", "python app/main.py"),
        "test": ("pytest",),
        "build": ("python -m build",),
        "lint": ("ruff check", "mypy"),
        "repl": ("python",),
    },
    "rust": {
        "dev": ("cargo run",),
        "test": ("cargo test",),
        "build": ("cargo build",),
        "lint": ("cargo clippy",),
    },
    "go": {"dev": ("go run .",), "test": ("go test",), "build": ("go build",), "lint": ("go vet",)},
    "make": {
        "dev": ("make run",),
        "test": ("make test",),
        "build": ("make build",),
        "lint": ("make lint",),
    },
}


# The later sets: written after the lexicon, each reported on its own (see their headers).
FRESH_SETS = (
    ("requests-fresh.tsv", "fresh set 1, its misses fixed in round 2"),
    ("requests-fresh2.tsv", "fresh set 2, seen during round 2"),
    ("requests-fresh3.tsv", "fresh set 3, misses seen after its first run"),
    ("requests-fresh4.tsv", "fresh set 4, never tuned on"),
)


def load(name: str = "requests.tsv") -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    index = 0
    for line in (DATA / name).read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        project, kind, arg, text = line.split("\t")
        for p in PROJECTS if project == "*" else (project,):
            rows.append(
                {
                    "project": p,
                    "type": None if kind == "none" else kind,
                    "arg": None if arg == "-" else arg,
                    "text": text,
                    "holdout": index % 4 == 3,
                }
            )
        index += 1
    return rows


def command_ok(row: dict[str, Any], command: str | None) -> bool:
    accepted = ACCEPT[row["project"]].get(row["type"] or "", ())
    if row["type"] in (None, "ai") or not accepted:
        return command is None or row["type"] == "ai"
    if not command or not any(command == a or command.startswith(a + " ") for a in accepted):
        return False
    return row["arg"] is None or row["arg"].lower() in command.lower()


# -- the floor: the seed's AgentRouter, tiers 2 and 3 (no MCP tools are registered) ---------
_RULES = [
    (re.compile(r"^(start|run|launch)\s+(dev|server)", re.I), "dev"),
    (re.compile(r"^(run|execute|start)\s+tests?", re.I), "test"),
    (re.compile(r"^(open|start|launch)\s+(node|python|ruby)\s*(repl)?", re.I), "repl"),
    (re.compile(r"^(build|compile|bundle)", re.I), "build"),
    (re.compile(r"^(lint|check|analyze)", re.I), "lint"),
]
_KEYWORDS = {
    "test": ("jest", "pytest", "mocha", "test"),
    "build": ("webpack", "build"),
    "lint": ("eslint", "lint"),
    "dev": ("server", "dev"),
    "repl": ("repl",),
}
_PRESETS = {
    "dev": "npm run dev",
    "test": "npm test",
    "repl": "node",
    "build": "npm run build",
    "lint": "npm run lint",
}


def legacy_route(text: str) -> tuple[str | None, str | None, float]:
    for rx, kind in _RULES:
        if rx.search(text.strip()):
            return kind, _PRESETS[kind], 0.8
    low = text.lower()
    for kind, words in _KEYWORDS.items():
        if any(w in low for w in words):
            return kind, _PRESETS[kind], 0.5
    return None, None, 0.0


def evaluate(rows: list[dict[str, Any]], fn: Any) -> dict[str, float]:
    out: dict[str, float] = {}
    for part, subset in (
        ("all", rows),
        ("holdout", [r for r in rows if r["holdout"]]),
        ("tuned", [r for r in rows if not r["holdout"]]),
    ):
        typed = [r for r in subset if r["type"] is not None]
        nowhere = [r for r in subset if r["type"] is None]
        results = [(r, fn(r)) for r in subset]
        out[f"{part}.type"] = (
            100 * sum(1 for r, (t, _c, _p) in results if t == r["type"]) / len(subset)
        )
        with_cmd = [(r, res) for r, res in results if r["type"] is not None]
        out[f"{part}.command"] = (
            100
            * sum(1 for r, (t, c, _p) in with_cmd if t == r["type"] and command_ok(r, c))
            / max(1, len(typed))
        )
        out[f"{part}.nowhere"] = (
            100
            * sum(1 for r, (_t, _c, p) in results if r["type"] is None and p < 0.5)
            / max(1, len(nowhere))
        )
    return out


def failures(rows: list[dict[str, Any]]) -> list[str]:
    cache = ProjectCache()
    out = []
    for r in rows:
        res = route(r["text"], cache.get(str(DATA / r["project"])))
        if res.agent_type != r["type"] or (r["type"] and not command_ok(r, res.suggested_command)):
            out.append(
                f"{r['project']:6} {r['text']!r}: want {r['type']}/{r['arg']} got "
                f"{res.agent_type} {res.suggested_command!r} {res.confidence:.2f}"
            )
    return out


def dispatch_latency(rows: list[dict[str, Any]]) -> Row:
    """ai.route through api.dispatch on a real Core in an isolated state dir: the feedback
    and history reads from SQLite, the project's stat check in a thread, the routing."""
    import asyncio
    import os

    from benchmarks.common import isolated_env
    from orchflow_core.api import dispatch
    from orchflow_core.core import Core

    env = isolated_env()
    old = dict(os.environ)
    os.environ.update(env)

    async def measure() -> tuple[list[float], list[float]]:
        import orchflow_core.history.methods
        import orchflow_core.router.methods  # noqa: F401

        core = Core()
        try:
            lat: list[float] = []
            base: list[float] = []
            for r in rows:
                params = {"input": r["text"], "context": {"cwd": str(DATA / r["project"])}}
                t0 = time.perf_counter()
                ok, _ = await dispatch(core, "ai.route", params)
                lat.append((time.perf_counter() - t0) * 1000)
                assert ok
                t0 = time.perf_counter()
                await dispatch(core, "history.top", {"n": 30, "cwd": str(DATA / r["project"])})
                base.append((time.perf_counter() - t0) * 1000)
            return lat, base
        finally:
            await core.close()

    try:
        lat, base = asyncio.run(measure())
    finally:
        os.environ.clear()
        os.environ.update(old)
    return Row(
        "router: ai.route p95 via api.dispatch (SQLite, real Core)",
        p95(lat),
        "ms",
        p95(base),
        "history.top alone (one of its reads)",
        "<= 5",
    )


def run() -> list[Row]:
    rows = load()
    cache = ProjectCache()
    for p in PROJECTS:
        cache.get(str(DATA / p))
    latencies: list[float] = []

    def ours(r: dict[str, Any]) -> tuple[str | None, str | None, float]:
        t0 = time.perf_counter()
        res = route(r["text"], cache.get(str(DATA / r["project"])))
        latencies.append((time.perf_counter() - t0) * 1000)
        return res.agent_type, res.suggested_command, res.confidence

    legacy_lat: list[float] = []

    def floor(r: dict[str, Any]) -> tuple[str | None, str | None, float]:
        t0 = time.perf_counter()
        res = legacy_route(r["text"])
        legacy_lat.append((time.perf_counter() - t0) * 1000)
        return res

    mine, base = evaluate(rows, ours), evaluate(rows, floor)
    n_hold = sum(1 for r in rows if r["holdout"])
    out = []
    for part in ("all", "holdout", "tuned"):
        label = {
            "all": f"all {len(rows)}",
            "holdout": f"held-out {n_hold}",
            "tuned": f"tuned-on {len(rows) - n_hold}",
        }[part]
        out += [
            Row(
                f"router: agent type right ({label})",
                mine[f"{part}.type"],
                "%",
                base[f"{part}.type"],
                "two-tier regex router",
                ">= 95",
            ),
            Row(
                f"router: command right ({label})",
                mine[f"{part}.command"],
                "%",
                base[f"{part}.command"],
                "two-tier regex router",
                ">= 90",
            ),
            Row(
                f"router: nowhere requests < 0.5 ({label})",
                mine[f"{part}.nowhere"],
                "%",
                base[f"{part}.nowhere"],
                "two-tier regex router",
                ">= 95",
            ),
        ]
    for file, label in FRESH_SETS:
        fresh = load(file)
        mine, base = evaluate(fresh, ours), evaluate(fresh, floor)
        label = f"{label}, {len(fresh)}"
        for what, target in (("type", ">= 95"), ("command", ">= 90"), ("nowhere", ">= 95")):
            name = {
                "type": "agent type right",
                "command": "command right",
                "nowhere": "nowhere requests < 0.5",
            }[what]
            out.append(
                Row(
                    f"router: {name} ({label})",
                    mine[f"all.{what}"],
                    "%",
                    base[f"all.{what}"],
                    "two-tier regex router",
                    target,
                )
            )
    out.append(dispatch_latency(rows))
    out.append(
        Row(
            "router: route() latency p95 (pure, project cached)",
            p95(latencies),
            "ms",
            p95(legacy_lat),
            "two-tier regex router",
            "<= 5",
        )
    )
    return out


if __name__ == "__main__":
    import sys

    for line in failures(load(*sys.argv[1:2])):
        print(line)
