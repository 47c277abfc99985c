"""PaneRepository: the writer rule in SQL, on a real SQLite file (no tmux needed)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from orchflow_core.store.database import Database
from orchflow_core.terminal.repository import PaneRecord, PaneRepository, record_from_row
from orchflow_core.terminal.state import PaneState


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[PaneRepository]:
    db = await Database.open(tmp_path / "orchflow.db")
    yield PaneRepository(db)
    await db.close()


def pane(**changes: object) -> PaneRecord:
    base = PaneRecord(
        orchflow_id="p1",
        pane_id="%1",
        session="work",
        name="srv",
        pane_type="dev",
        cwd="/src",
        command="make dev",
        state=PaneState.IDLE,
        owner="orchestrator:7",
        meta={"agent": True},
        created_at=1.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


async def stored(repo: PaneRepository) -> PaneRecord:
    return record_from_row((await repo.rows(["p1"]))["p1"])


async def test_an_upsert_never_overwrites_creation_facts_but_fills_blanks(
    repo: PaneRepository,
) -> None:
    # Another process adopted the pane before its creator wrote (no command, no owner yet).
    blank = pane(command="", owner=None, meta={}, name="srv", created_at=5.0)
    await repo.db.transaction(lambda c: repo.adopt(c, blank, 5.0))
    await repo.save(pane(), 6.0)  # the creator completes it
    got = await stored(repo)
    assert (got.command, got.owner, got.meta) == ("make dev", "orchestrator:7", {"agent": True})
    # Someone else's view of it never replaces what is known.
    other = pane(command="bash", owner="host:9", meta={"x": 1}, cwd="/elsewhere", pane_type="shell")
    await repo.save(other, 7.0)
    got = await stored(repo)
    assert (got.command, got.owner, got.meta, got.cwd, got.pane_type) == (
        "make dev",
        "orchestrator:7",
        {"agent": True},
        "/src",
        "dev",
    )


async def test_observed_facts_update_but_unknown_never_erases_known(repo: PaneRepository) -> None:
    await repo.save(pane(last_command="pytest", exit_code=1, state=PaneState.RUNNING), 1.0)
    await repo.save(pane(last_command=None, exit_code=None, state=PaneState.IDLE), 2.0)
    got = await stored(repo)
    assert (got.last_command, got.exit_code, got.state) == ("pytest", 1, PaneState.IDLE)
    await repo.save(pane(last_command="make lint", exit_code=0), 3.0)
    got = await stored(repo)
    assert (got.last_command, got.exit_code) == ("make lint", 0)


async def test_adopt_twice_is_one_row_and_closing_vanished_is_idempotent(
    repo: PaneRepository,
) -> None:
    for _ in range(2):
        await repo.db.transaction(lambda c: repo.adopt(c, pane(), 1.0))
    assert list(await repo.rows(["p1"])) == ["p1"]
    for now in (2.0, 3.0):
        await repo.db.transaction(lambda c, now=now: repo.close_vanished(c, [], now))
    row = (await repo.rows(["p1"]))["p1"]
    assert (row["state"], row["closed_at"]) == ("closed", 2.0)
    assert await repo.set_meta("p1", {"note": "hi", "agent": None}) == {"note": "hi"}
