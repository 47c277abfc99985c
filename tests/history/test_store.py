"""HistoryStore against real SQLite files: ranking, search, imports, export, prune."""

from __future__ import annotations

import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest

from orchflow_core.errors import ConflictError, InvalidArgumentError, NotFoundError
from orchflow_core.history import HistoryStore
from orchflow_core.history.frecency import EPOCH
from orchflow_core.history.store import prefix_upper_bound, rank_matches
from orchflow_core.store import Database

DAY = 86_400.0
NOW = EPOCH + 500 * DAY


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with await Database.open(tmp_path / "orchflow.db") as database:
        yield database


@pytest.fixture
async def history(db: Database, clock: Clock) -> HistoryStore:
    return await HistoryStore.open(db, clock=clock)


async def run(
    history: HistoryStore, command: str, days_ago: float, exit_code: int | None = 0, cwd: str = "/p"
) -> None:
    await history.add(
        command, cwd=cwd, pane_type="shell", exit_code=exit_code, duration_s=0.1,
        ts=NOW - days_ago * DAY,
    )  # fmt: skip


async def test_add_records_every_field(history: HistoryStore, db: Database) -> None:
    row_id = await history.add(
        "  make test\n", cwd="/src/", pane_type="test", exit_code=2, duration_s=1.5
    )
    row = await db.fetchone("SELECT * FROM history WHERE id = ?", (row_id,))
    assert row is not None
    assert dict(row) == {
        "id": row_id, "command": "make test", "cwd": "/src", "pane_type": "test",
        "exit_code": 2, "duration_s": 1.5, "ts": NOW, "source": "orchflow",
    }  # fmt: skip
    [top] = await history.top()
    assert (top.command, top.runs, top.failures, top.last_exit_code) == ("make test", 1, 1, 2)
    assert top.frecency == pytest.approx(0.25)


async def test_recent_frequent_successful_outranks_old_or_failing(history: HistoryStore) -> None:
    for _ in range(5):
        await run(history, "make build", days_ago=0.5)  # recent, frequent, succeeds
    for _ in range(5):
        await run(history, "make flaky", days_ago=0.5, exit_code=1)  # same, but fails
    for _ in range(5):
        await run(history, "make old", days_ago=60)  # frequent, long ago
    await run(history, "make once", days_ago=0.1)  # recent, once
    assert [c.command for c in await history.top()] == [
        "make build", "make flaky", "make once", "make old",
    ]  # fmt: skip
    build, flaky, _, old = await history.top()
    assert build.frecency == pytest.approx(5 * 2 ** (-0.5 / 7))
    assert flaky.frecency == pytest.approx(build.frecency / 4)
    assert (build.runs, flaky.failures, old.runs) == (5, 5, 5)
    assert [c.command for c in await history.top(2)] == ["make build", "make flaky"]


async def test_order_does_not_depend_on_insertion_order(history: HistoryStore) -> None:
    # Runs arrive out of time order (imports, other processes): same ranking, same last_ts.
    await run(history, "a", days_ago=1)
    await run(history, "b", days_ago=20)
    await run(history, "a", days_ago=30, exit_code=1)
    await run(history, "b", days_ago=5)
    a, b = await history.top()
    assert (a.command, b.command) == ("a", "b")
    assert a.last_ts == NOW - 1 * DAY and a.last_exit_code == 0
    assert a.score == pytest.approx(history.model.score_of([(NOW - 30 * DAY, 1), (NOW - DAY, 0)]))
    assert a.frecency == pytest.approx(2 ** (-1 / 7) + 0.25 * 2 ** (-30 / 7))


async def test_top_per_directory(history: HistoryStore) -> None:
    await run(history, "cargo test", 1, cwd="/rust")
    await run(history, "cargo test", 1, cwd="/rust")
    await run(history, "pytest", 1, cwd="/py")
    await run(history, "ls", 0, cwd="/py")
    assert [c.command for c in await history.top(cwd="/py")] == ["ls", "pytest"]
    assert [c.command for c in await history.top(cwd="/rust/")] == ["cargo test"]
    assert [c.command for c in await history.top()] == ["cargo test", "ls", "pytest"]
    assert await history.top(cwd="/elsewhere") == []


async def test_suggest_is_a_prefix_match_by_frecency(history: HistoryStore) -> None:
    await run(history, "git status", 1)
    await run(history, "git status", 1)
    await run(history, "git push", 0)
    await run(history, "git", 0, exit_code=1)
    await run(history, "gitk", 50)
    await run(history, "grep x", 0)
    assert [c.command for c in await history.suggest("git")] == [
        "git status", "git push", "git", "gitk",
    ]  # fmt: skip
    assert [c.command for c in await history.suggest("git ")] == ["git status", "git push"]
    assert [c.command for c in await history.suggest("Git")] == []  # case-sensitive
    assert [c.command for c in await history.suggest("git", limit=1)] == ["git status"]
    assert len(await history.suggest("")) == 5  # empty prefix: top


async def test_search_is_fuzzy_with_smart_case(history: HistoryStore) -> None:
    await run(history, "docker compose up -d", 3)
    await run(history, "git push origin main", 1)
    await run(history, "git push origin main", 1)
    await run(history, "npm run build", 0)
    await run(history, "Make Release", 0)
    hits = [c.command for c in await history.search("gpom")]
    assert hits == ["git push origin main"]
    assert [c.command for c in await history.search("dokcer")] == ["docker compose up -d"]
    assert [c.command for c in await history.search("make")] == ["Make Release"]
    assert [c.command for c in await history.search("Make")] == ["Make Release"]
    assert await history.search("MAKE") == []  # a capital makes the search case-sensitive
    # Prefix beats substring beats scattered letters; frecency orders within a tier.
    await run(history, "run tests", 40)
    assert [c.command for c in await history.search("run", limit=2)] == [
        "run tests", "npm run build",
    ]  # fmt: skip


async def test_search_sees_writes_from_another_connection(
    tmp_path: Path, history: HistoryStore, db: Database
) -> None:
    await run(history, "first command", 0)
    assert len(await history.search("command")) == 1  # fills the candidate cache
    async with await Database.open(db.path) as other_db:
        other = await HistoryStore.open(other_db)
        await other.add("second command", cwd=None, pane_type=None, exit_code=0, duration_s=None)
    assert {c.command for c in await history.search("command")} == {
        "first command", "second command",
    }  # fmt: skip


def test_rank_matches_tiers() -> None:
    candidates = ["xx git yy", "gxixt", "git log", "gti"]
    assert rank_matches("git", candidates, limit=10) == [2, 0, 1]


def test_prefix_upper_bound() -> None:
    assert prefix_upper_bound("git") == "giu"
    assert prefix_upper_bound("a\U0010ffff") == "b"
    assert prefix_upper_bound("\U0010ffff") is None
    assert prefix_upper_bound("\ud7ff") == "\ue000"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"command": "   "}, "command is empty"),
        ({"command": "x" * 70_000}, "command is 70000 characters; at most 65536"),
        ({"exit_code": "1"}, "exit_code must be an int or None"),
        ({"duration_s": -1}, "duration_s must be a number >= 0"),
        ({"ts": float("nan")}, "ts must be a Unix time"),
    ],
)
async def test_add_rejects_bad_values(
    history: HistoryStore, kwargs: dict[str, object], message: str
) -> None:
    args: dict[str, object] = {
        "command": "ls",
        "cwd": None,
        "pane_type": None,
        "exit_code": 0,
        "duration_s": 0.0,
    }
    args.update(kwargs)
    with pytest.raises(InvalidArgumentError, match=message):
        await history.add(**args)  # type: ignore[arg-type]
    assert await history.count() == 0


async def test_limits_are_checked(history: HistoryStore) -> None:
    with pytest.raises(InvalidArgumentError, match=r"n must be an int in 1\.\.1000, got 0"):
        await history.top(0)
    with pytest.raises(InvalidArgumentError, match="limit must be an int"):
        await history.search("x", limit=5000)


async def test_import_each_shell_format(history: HistoryStore, tmp_path: Path) -> None:
    bash = tmp_path / ".bash_history"
    bash.write_bytes(b"#1700000000\nls\n#17000x0000\n#1700000100\nmake\n")
    zsh = tmp_path / ".zsh_history"
    zsh.write_bytes(b": 1700000200:3;cargo build\\\n  --release\n: 170x:0;oops\n")
    fish = tmp_path / "fish_history"
    fish.write_bytes(b"- cmd: fish_cmd\n  when: 1700000300\n- cmd: broken\n  when: no\n")

    reports = [await history.import_shell(p) for p in (bash, zsh, fish)]
    assert [r.to_dict() for r in reports] == [
        {"format": "bash", "imported": 2, "skipped": 1, "duplicates": 0},
        {"format": "zsh", "imported": 1, "skipped": 1, "duplicates": 0},
        {"format": "fish", "imported": 1, "skipped": 1, "duplicates": 0},
    ]
    assert {c.command for c in await history.top()} == {
        "ls", "make", "cargo build\n  --release", "fish_cmd",
    }  # fmt: skip
    # Importing the same file again adds nothing.
    again = await history.import_shell(zsh, "zsh")
    assert (again.imported, again.duplicates) == (0, 1)
    assert await history.count() == 4


async def test_import_untimed_bash_uses_file_mtime(
    history: HistoryStore, db: Database, tmp_path: Path
) -> None:
    path = tmp_path / "plain_history"
    path.write_bytes(b"first\nsecond\n")
    os.utime(path, (1700000000, 1700000000))
    report = await history.import_shell(path, "auto")
    assert (report.format, report.imported) == ("bash", 2)
    rows = await db.fetchall("SELECT command, ts, source, exit_code FROM history ORDER BY ts")
    assert [tuple(r) for r in rows] == [
        ("first", 1699999999.0, "bash", None),
        ("second", 1700000000.0, "bash", None),
    ]


async def test_import_errors_name_the_file(history: HistoryStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match=r"no such history file: .*missing"):
        await history.import_shell(tmp_path / "missing")
    big = tmp_path / "big_history"
    big.write_bytes(b"x\n" * 100)
    with pytest.raises(
        InvalidArgumentError, match=r"big_history is 200 bytes; the import limit is 10"
    ):
        await history.import_shell(big, max_bytes=10)
    with pytest.raises(InvalidArgumentError, match=r"is not a regular file"):
        await history.import_shell(tmp_path)
    with pytest.raises(InvalidArgumentError, match="shell must be auto, bash"):
        await history.import_shell(big, "tcsh")


async def test_json_round_trip(
    history: HistoryStore, db: Database, tmp_path: Path, clock: Clock
) -> None:
    await run(history, "make", 2, exit_code=0)
    await run(history, "make", 1, exit_code=2)
    await history.add("üñí ☃", cwd=None, pane_type=None, exit_code=None, duration_s=None, ts=NOW)
    target = tmp_path / "export.json"
    assert await history.export_json(target) == 3
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    document = orjson.loads(target.read_bytes())
    assert document["format"] == "orchflow-history" and len(document["entries"]) == 3

    async with await Database.open(tmp_path / "fresh.db") as fresh_db:
        fresh = await HistoryStore.open(fresh_db, clock=clock)
        report = await fresh.import_json(target)
        assert report.to_dict() == {"format": "json", "imported": 3, "skipped": 0, "duplicates": 0}
        cols = "command, cwd, pane_type, exit_code, duration_s, ts"
        query = f"SELECT {cols} FROM history ORDER BY ts, id"
        assert [tuple(r) for r in await fresh_db.fetchall(query)] == [
            tuple(r) for r in await db.fetchall(query)
        ]
        assert await fresh.top() == await history.top()

    with pytest.raises(ConflictError, match="exists; pass overwrite=true"):
        await history.export_json(target)
    assert await history.export_json(target, overwrite=True) == 3


async def test_malformed_json_writes_nothing(history: HistoryStore, tmp_path: Path) -> None:
    await run(history, "keep me", 1)
    good_entries = ",".join(f'{{"command": "c{i}", "ts": {1700000000 + i}}}' for i in range(50))
    bad = tmp_path / "bad.json"
    bad.write_text(
        '{"format": "orchflow-history", "version": 1,\n"entries": [' + good_entries + ",\n{oops}]}"
    )
    with pytest.raises(InvalidArgumentError, match=r"bad\.json: not valid JSON at line 3 column 2"):
        await history.import_json(bad)
    assert await history.count() == 1
    assert [c.command for c in await history.top()] == ["keep me"]


async def test_prune_removes_old_runs_and_rescoring_follows(
    history: HistoryStore, db: Database, clock: Clock
) -> None:
    await run(history, "old only", 100)
    await run(history, "mixed", 100, exit_code=1)
    await run(history, "mixed", 1)
    await run(history, "new", 2)
    assert await history.prune(30) == 2
    top = {c.command: c for c in await history.top()}
    assert set(top) == {"mixed", "new"}
    assert (top["mixed"].runs, top["mixed"].failures) == (1, 0)
    assert top["mixed"].score == pytest.approx(history.model.score_of([(NOW - DAY, 0)]))
    per_cwd = await history.top(cwd="/p")
    assert {c.command for c in per_cwd} == {"mixed", "new"}
    assert await history.prune(30) == 0
    with pytest.raises(InvalidArgumentError, match="older_than_days must be a number >= 0"):
        await history.prune(-1)


async def test_new_half_life_rescores_everything(db: Database, clock: Clock) -> None:
    history = await HistoryStore.open(db, clock=clock)
    for _ in range(4):
        await run(history, "frequent", 10)
    await run(history, "recent", 0)
    assert [c.command for c in await history.top()] == ["frequent", "recent"]
    # A one-day half-life makes four runs ten days ago worth ~0.004: recency wins.
    short = await HistoryStore.open(db, half_life_days=1, clock=clock)
    assert [c.command for c in await short.top()] == ["recent", "frequent"]
    assert (await short.top())[1].frecency == pytest.approx(4 * 2**-10)
    meta = {row[0]: row[1] for row in await db.fetchall("SELECT key, value FROM history_meta")}
    assert meta == {"half_life_days": "1.0", "failure_weight": "0.25"}
    with pytest.raises(InvalidArgumentError, match="half_life_days must be > 0"):
        await HistoryStore.open(db, half_life_days=0)
