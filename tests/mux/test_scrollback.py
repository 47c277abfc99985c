"""Scrollback search over real tmux panes."""

from __future__ import annotations

import uuid

import pytest

from orchflow_core.errors import InvalidArgumentError, NotFoundError
from orchflow_core.mux.scrollback import ScrollbackHit, search_scrollback
from tests.harness.tmux import TmuxServer
from tests.mux.conftest import tmux_backend


async def test_search_one_pane_and_all_panes(mux_tmux: TmuxServer) -> None:
    async with tmux_backend(mux_tmux) as backend:
        session = f"s-{uuid.uuid4().hex[:6]}"
        await backend.create_session(session)
        try:
            a = await backend.create_pane(session)
            b = await backend.create_pane(session)
            await (await backend.run(a.pane_id, "printf 'alpha %s\\n' 1 2 3")).wait(timeout=10)
            await (await backend.run(b.pane_id, "printf 'ALPHA.%s\\n' 9")).wait(timeout=10)
            hits = await search_scrollback(backend, r"^alpha \d$", pane_id=a.pane_id)
            assert [h.text for h in hits] == ["alpha 1", "alpha 2", "alpha 3"]
            assert all(isinstance(h, ScrollbackHit) and h.pane_id == a.pane_id for h in hits)
            assert hits[1].line_no == hits[0].line_no + 1
            every = await search_scrollback(backend, "alpha.", session=session, ignore_case=True)
            assert {h.text for h in every} >= {"alpha 1", "ALPHA.9"}
            literal = await search_scrollback(backend, "ALPHA.9", session=session, regex=False)
            assert [h.text for h in literal] == ["ALPHA.9"]
            assert (
                len(await search_scrollback(backend, "alpha", max_results=2, ignore_case=True)) == 2
            )
            # the line where run() typed its wrapper reads as the command (twice when the tty
            # echoed the typed-ahead line before the prompt came), and nothing else matches
            typed = await search_scrollback(backend, "printf|trap", pane_id=b.pane_id)
            assert typed and all(h.text.endswith("printf 'ALPHA.%s\\n' 9") for h in typed)
            with pytest.raises(InvalidArgumentError, match=r"invalid regex 'alpha\(\['"):
                await search_scrollback(backend, "alpha([")
            with pytest.raises(NotFoundError, match="%999999"):
                await search_scrollback(backend, "x", pane_id="%999999")
        finally:
            await backend.kill_session(session)
