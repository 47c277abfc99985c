"""Workspace tools: project search against plain rg, file ranking, history.

The search tree (50k files, ~800 MB) is generated once into .tests/bench-tree and
reused. Search runs are interleaved with the rg floors so noise hits both alike.
"""

from __future__ import annotations

import asyncio
import os
import random
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from benchmarks.common import ROOT, Row, median, p95
from orchflow_core.files.ranking import PathRanker
from orchflow_core.history.frecency import logaddexp
from orchflow_core.history.store import _UPSERT_FRECENCY, HistoryStore
from orchflow_core.search.options import SearchOptions
from orchflow_core.search.ripgrep import find_rg, search
from orchflow_core.store import Database
from tests.search.treegen import synthetic_paths

TREE = ROOT / ".tests" / "bench-tree"
FILES = 50_000
FILE_BYTES = 16_000  # 50k x 16 kB = 800 MB
NEEDLE = "orchflow_needle_token"
SEARCH_RUNS = 5


def _make_tree() -> None:
    stamp = TREE / ".complete"
    if stamp.exists():
        return
    rng = random.Random(3)
    words = [f"w{i:04d}" for i in range(3000)]
    block = (
        "\n".join(" ".join(rng.choices(words, k=rng.randint(3, 12))) for _ in range(4000)) + "\n"
    )
    paths = synthetic_paths(FILES, seed=3)
    for i, rel in enumerate(paths):
        start = rng.randrange(0, len(block) - FILE_BYTES - 1)
        body = block[start : start + FILE_BYTES]
        if i % 25 == 0:
            body += f"    call({NEEDLE}, {i})\n"
        path = TREE / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(body)
    stamp.write_text("ok")


def _rg_floor(rg: str, args: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run([rg, *args, NEEDLE, str(TREE)], stdout=subprocess.PIPE, check=False)
    return (time.perf_counter() - t0) * 1000


async def _search_once() -> tuple[float, float, int]:
    opts = SearchOptions(max_results=1_000_000)
    count = 0

    def on_batch(batch: list[object]) -> None:
        nonlocal count
        count += len(batch)

    t0 = time.perf_counter()
    summary = await search(TREE, NEEDLE, opts, on_batch=on_batch, timeout=120)
    return (time.perf_counter() - t0) * 1000, summary.first_batch_ms or 0.0, count


# History rows as in shared/research/perf.md section 5: 60% Zipf over 5k commands,
# 40% long tail, 50 cwds, 90 days.
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


def _search_rows() -> list[Row]:
    _make_tree()
    rg = find_rg()
    ours, first, plain, json_ = [], [], [], []
    _rg_floor(rg, ["-n"])  # warm the page cache
    for _ in range(SEARCH_RUNS):
        plain.append(_rg_floor(rg, ["-n"]))
        json_.append(_rg_floor(rg, ["--json"]))
        total, fb, _count = asyncio.run(_search_once())
        ours.append(total)
        first.append(fb)
    return [
        Row(
            "search.project total, 50k files / 800 MB",
            median(ours),
            "ms",
            median(plain),
            "plain `rg -n` on the same tree, same run",
            "<= 1.2x",
        ),
        Row("  same, against `rg --json`", median(ours), "ms", median(json_), "", ""),
        Row("  first batch of results", median(first), "ms", None, "", "<= 20 ms"),
    ]


FIRST_IN_FLOAT = """
local needle, runs = ...
local function shown()
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= '' then
      local lines = vim.api.nvim_buf_get_lines(vim.api.nvim_win_get_buf(win), 0, -1, false)
      for _, l in ipairs(lines) do
        if l:find(needle, 1, true) then return true end
      end
    end
  end
  return false
end
require('orchflow.host').wait('version', {}, 10000)  -- a warm host, as after any first use
local times = {}
for _ = 1, runs do
  local t0 = vim.uv.hrtime()
  vim.cmd('Orchflow search ' .. needle)
  vim.wait(5000, shown, 0)
  times[#times + 1] = (vim.uv.hrtime() - t0) / 1e6
  vim.cmd('stopinsert')
  vim.api.nvim_feedkeys(vim.api.nvim_replace_termcodes('<Esc>', true, false, true), 'x', false)
  for _, win in ipairs(vim.api.nvim_list_wins()) do
    if vim.api.nvim_win_get_config(win).relative ~= '' then
      pcall(vim.api.nvim_win_close, win, true)
    end
  end
  vim.wait(50)
end
return times
"""


def _float_rows() -> list[Row]:
    """`:Orchflow search` -> the first match's text in the picker float, in a real Neovim."""
    from benchmarks.common import isolated_env, spawn_editor

    nv = spawn_editor(isolated_env(), cwd=TREE)
    try:
        times = list(nv.exec_lua(FIRST_IN_FLOAT, NEEDLE, 10))
    finally:
        nv.close()
    return [
        Row(
            "  first result in the picker float (Neovim)", median(times), "ms", None, "", "<= 20 ms"
        ),
    ]


def _ranking_rows() -> list[Row]:
    from rapidfuzz import fuzz, process

    paths = synthetic_paths(100_000, seed=5)
    ranker = PathRanker(paths)
    queries = ["o", "or", "orc", "orch", "orchf", "srcmain", "testutil", "readme", "confpy", "x"]
    ours, floor = [], []
    for q in queries * 3:
        t0 = time.perf_counter()
        ranker.rank(q, limit=50)
        ours.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        process.extract(q, paths, scorer=fuzz.QRatio, limit=50)
        floor.append((time.perf_counter() - t0) * 1000)
    return [
        Row(
            "file ranking per keystroke, 100k paths",
            median(ours),
            "ms",
            median(floor),
            "rapidfuzz extract(QRatio) over the same paths",
            "<= 16 ms",
        ),
        Row("  p95", p95(ours), "ms", None, "", ""),
    ]


async def _history_rows() -> list[Row]:
    now = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.db"
        async with await Database.open(path) as db:
            history = await HistoryStore.open(db)
            runs = synthetic_runs(100_000, now)
            await db.transaction(
                lambda conn: history._insert_many(
                    conn, [(c, cwd, "shell", e, 0.5, ts, "orchflow") for c, cwd, e, ts in runs]
                )
            )
            raw = sqlite3.connect(path, isolation_level=None)
            raw.execute("PRAGMA synchronous = NORMAL")
            raw.create_function("orchflow_logaddexp", 2, logaddexp, deterministic=True)
            top_sql = (
                "SELECT command, score, runs, failures, last_ts, last_exit_code FROM "
                "history_frecency WHERE cwd = '' ORDER BY score DESC LIMIT 20"
            )
            top_ours, top_floor = [], []
            for _ in range(1000):
                t0 = time.perf_counter()
                raw.execute(top_sql).fetchall()
                top_floor.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await history.top(20)
                top_ours.append((time.perf_counter() - t0) * 1000)
            add_ours, add_floor = [], []
            for i in range(1000):
                command, cwd, ts = f"bench raw {i % 500}", "/home/u/proj1", time.time()
                score = history.model.contribution(ts, 0)
                t0 = time.perf_counter()
                raw.execute("BEGIN IMMEDIATE")
                raw.execute(
                    "INSERT INTO history(command, cwd, pane_type, exit_code, duration_s, ts,"
                    " source) VALUES (?, ?, 'shell', 0, 0.1, ?, 'orchflow')",
                    (command, cwd, ts),
                )
                raw.execute(_UPSERT_FRECENCY, ("", command, 0, ts, 0, score))
                raw.execute(_UPSERT_FRECENCY, (cwd, command, 0, ts, 0, score))
                raw.execute("COMMIT")
                add_floor.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await history.add(
                    f"bench hs {i % 500}", cwd=cwd, pane_type="shell", exit_code=0, duration_s=0.1
                )
                add_ours.append((time.perf_counter() - t0) * 1000)
            raw.close()
    return [
        Row(
            "history append (HistoryStore, aiosqlite)",
            median(add_ours),
            "ms",
            median(add_floor),
            "same transaction on raw sqlite3, same file",
            "<= 0.5 ms",
        ),
        Row(
            "history top-20 by frecency at 100k rows",
            median(top_ours),
            "ms",
            median(top_floor),
            "same query on raw sqlite3, same file",
            "<= 1 ms",
        ),
    ]


def run() -> list[Row]:
    os.environ.setdefault("PATH", "")
    rows = _search_rows()
    rows += _float_rows()
    rows += _ranking_rows()
    rows += asyncio.run(_history_rows())
    return rows
