"""Rules: what ``protocol.check`` costs with 200 rules in effect.

- ``RuleSet.check`` (the matching every send/run does): 200 rules, the 4 that ship plus
  146 shell patterns and 50 regexes, against an everyday command that none of them
  matches, so every rule is tried (the worst case). Floor, same run: one compiled
  ``re.search`` over the same command.
- ``protocol.check`` through Core's method table (what the host and the orchestrator
  serve): the same 200 rules, plus the look at what may have changed: two rule files'
  ``stat``, and the stored rules' generation and the active mode, kept in memory until
  anything is committed to the database (SQLite's ``data_version`` on a private connection,
  Database.memo). Same floor. Then the same with a mode active (its mode files are looked
  at on every check).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import Row, median, p95

N = 3000
COMMAND = "git push origin feature/login-form && npm test -- --grep 'auth flow' | tee out.log"


def _rules() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for i in range(146):
        out.append(
            {
                "id": f"shell-{i}",
                "pattern": f"tool{i} -x|--extra sub{i} *.conf|target{i}",
                "action": ("block", "confirm", "warn")[i % 3],
                "message": f"rule {i}",
            }
        )
    for i in range(50):
        out.append(
            {
                "id": f"regex-{i}",
                "kind": "regex",
                "pattern": rf"\bword{i}\s+--flag{i}\b",
                "action": "warn",
                "message": f"regex {i}",
            }
        )
    return out


def _time(fn: object, n: int = N) -> list[float]:
    call = fn  # type: ignore[assignment]
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        call()  # type: ignore[operator]
        times.append((time.perf_counter() - t0) * 1000)
    return times


def run() -> list[Row]:
    from orchflow_core.protocol.rules import DEFAULT_RULES, RuleSet, rule_from_dict

    data = [*DEFAULT_RULES, *_rules()]
    rules = RuleSet(rule_from_dict(d, source="bench", root="/home/u/proj") for d in data)
    assert len(rules) == 200 and rules.check(COMMAND).action == "allow"
    floor_re = re.compile(r"\brm\s+-rf\s+/")
    floor = _time(lambda: floor_re.search(COMMAND))
    pure = _time(lambda: rules.check(COMMAND))
    rows = [
        Row("protocol.check, 200 rules: matching (median)", median(pure), "ms",
            median(floor), "one compiled re.search", "<= 0.1 ms"),
        Row("protocol.check, 200 rules: matching (p95)", p95(pure), "ms",
            p95(floor), "one compiled re.search", "<= 0.1 ms"),
    ]  # fmt: skip
    rows.extend(asyncio.run(_through_core(data[len(DEFAULT_RULES) :], median(floor))))
    return rows


async def _through_core(extra: list[dict[str, object]], floor_ms: float) -> list[Row]:
    from orchflow_core.api import dispatch
    from orchflow_core.core import Core
    from orchflow_core.registry import load_methods

    base = Path(tempfile.mkdtemp(prefix="orchflow-bench-rules-"))
    for key, sub in (("ORCHFLOW_STATE_DIR", "state"), ("ORCHFLOW_LOG_DIR", "log")):
        os.environ[key] = str(base / sub)
    config = base / "config" / "config.toml"
    config.parent.mkdir(parents=True)
    os.environ["ORCHFLOW_CONFIG"] = str(config)
    load_methods()
    core = Core({"rules": extra}, project_root=base)
    await core.start()
    try:
        from orchflow_core.protocol.rules import MODE_RULES

        got = (await dispatch(core, "protocol.list", {}))[1]
        # the mode rules ship too; no mode is active, so they are not in play here
        assert len(got["rules"]) == 200 + len(MODE_RULES), got["problems"]
        times = await _checks(core)
        ok, _ = await dispatch(core, "mode.activate", {"name": "tdd"})
        assert ok
        with_mode = await _checks(core)
    finally:
        await core.close()
    return [
        Row("protocol.check method, 200 rules, no mode active (median)",
            median(times), "ms", floor_ms, "one compiled re.search", ""),
        Row("protocol.check method, 200 rules, a mode active (median)",
            median(with_mode), "ms", floor_ms, "one compiled re.search", ""),
    ]  # fmt: skip


async def _checks(core: Any) -> list[float]:
    from orchflow_core.api import dispatch

    times = []
    for _ in range(N // 3):
        t0 = time.perf_counter()
        ok, verdict = await dispatch(core, "protocol.check", {"command": COMMAND})
        times.append((time.perf_counter() - t0) * 1000)
        assert ok and verdict["action"] == "allow"
    return times
