"""Micro-benchmark: history append and frecency top-20 at 100k rows (not a test; no asserts).

    .venv/bin/python -m tests.history.bench_history [rows]

Prints medians and p95 through HistoryStore (aiosqlite, one worker hop per call) and the
floor: the same SQL on a raw sqlite3 connection in the calling thread, same file, same run.
Data as in shared/research/perf.md section 5: 60% Zipf over 5k commands, 40% long tail,
50 cwds, 90 days.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from orchflow_core.history.frecency import logaddexp
from orchflow_core.history.store import _UPSERT_FRECENCY, HistoryStore
from orchflow_core.store import Database


def synthetic_runs(n: int, now: float, seed: int = 7) -> list[tuple[str, str, int, float]]:
    rng = random.Random(seed)
    common = [
        f"git {w} {i}" if i % 3 else f"make target{i}"
        for i, w in enumerate(rng.choices(["status", "log", "diff", "push", "pull"], k=5000))
    ]
    weights = [1 / (rank + 1) for rank in range(len(common))]
    cwds = [f"/home/u/proj{i}" for i in range(50)]
    runs = []
    for _ in range(n):
        if rng.random() < 0.6:
            command = rng.choices(common, weights)[0]
        else:
            command = f"echo tail-{rng.randrange(40_000)} | grep x{rng.randrange(99)}"
        exit_code = 0 if rng.random() < 0.9 else 1
        runs.append((command, rng.choice(cwds), exit_code, now - rng.random() * 90 * 86400))
    runs.sort(key=lambda r: r[3])
    return runs


def stats(samples: list[float]) -> str:
    samples = sorted(samples)
    p95 = samples[int(len(samples) * 0.95)]
    return f"median {statistics.median(samples) * 1e3:.3f} ms, p95 {p95 * 1e3:.3f} ms"


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


async def atimed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        await fn()  # type: ignore[misc]
        out.append(time.perf_counter() - t0)
    return out


async def main(rows: int) -> None:
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        async with await Database.open(path) as db:
            history = await HistoryStore.open(db)
            runs = synthetic_runs(rows, now)
            t0 = time.perf_counter()
            await db.transaction(
                lambda conn: history._insert_many(
                    conn, [(c, cwd, "shell", e, 0.5, ts, "orchflow") for c, cwd, e, ts in runs]
                )
            )
            distinct = await db.fetchone("SELECT count(*) FROM history_frecency WHERE cwd = ''")
            print(
                f"loaded {rows} rows in {time.perf_counter() - t0:.2f} s "
                f"({await history.count()} rows, "
                f"{distinct[0] if distinct else '?'} distinct commands)"
            )

            # Raw sqlite3 floor on its own connection, same file, same settings.
            raw = sqlite3.connect(path, isolation_level=None)
            raw.execute("PRAGMA synchronous = NORMAL")
            raw.create_function("orchflow_logaddexp", 2, logaddexp, deterministic=True)
            top_sql = (
                "SELECT command, score, runs, failures, last_ts, last_exit_code FROM "
                "history_frecency WHERE cwd = '' ORDER BY score DESC LIMIT 20"
            )
            for _ in range(50):
                raw.execute(top_sql).fetchall()
                await history.top(20)
            print(
                "top-20   sqlite3 floor :",
                stats(timed(lambda: raw.execute(top_sql).fetchall(), 2000)),
            )
            print("top-20   HistoryStore  :", stats(await atimed(lambda: history.top(20), 2000)))
            print(
                "top-20/cwd HistoryStore:",
                stats(await atimed(lambda: history.top(20, cwd="/home/u/proj3"), 1000)),
            )
            print(
                "suggest 'git s' HS     :",
                stats(await atimed(lambda: history.suggest("git s"), 500)),
            )
            print(
                "search 'gitpsh' HS     :",
                stats(await atimed(lambda: history.search("gitpsh"), 100)),
            )

            async def search_after_write() -> float:
                history._writes += 1  # what any write does: the candidate cache is stale
                t0 = time.perf_counter()
                await history.search("gitpsh")
                return time.perf_counter() - t0

            cold = [await search_after_write() for _ in range(20)]
            print("search cold (refetch)  :", stats(cold))
            print(
                "SELECT 1 via aiosqlite :",
                stats(await atimed(lambda: db.fetchone("SELECT 1"), 2000)),
            )

            counter = iter(range(10**9))

            def raw_append() -> None:
                i = next(counter)
                command, cwd, ts = f"bench raw {i % 500}", "/home/u/proj1", time.time()
                score = history.model.contribution(ts, 0)
                raw.execute("BEGIN IMMEDIATE")
                raw.execute(
                    "INSERT INTO history(command, cwd, pane_type, exit_code, duration_s,"
                    " ts, source) VALUES (?, ?, 'shell', 0, 0.1, ?, 'orchflow')",
                    (command, cwd, ts),
                )
                raw.execute(_UPSERT_FRECENCY, ("", command, 0, ts, 0, score))
                raw.execute(_UPSERT_FRECENCY, (cwd, command, 0, ts, 0, score))
                raw.execute("COMMIT")

            def store_append() -> object:
                i = next(counter)
                return history.add(
                    f"bench hs {i % 500}",
                    cwd="/home/u/proj1",
                    pane_type="shell",
                    exit_code=0,
                    duration_s=0.1,
                )

            for _ in range(50):
                raw_append()
                await store_append()  # type: ignore[misc]
            print("append   sqlite3 floor :", stats(timed(raw_append, 2000)))
            print("append   HistoryStore  :", stats(await atimed(store_append, 2000)))
            raw.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
