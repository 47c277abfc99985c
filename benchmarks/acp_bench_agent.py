"""An ACP agent for benchmarks (a stand-in for a paid model): on the prompt "chunks N" it
sends N message chunks, one every PACE_S, each carrying its send time
(``time.monotonic()``, one clock for every process on Linux); on "ask N" it asks N
permission questions, the send time in each title, waiting for each answer."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from acp import PROTOCOL_VERSION, run_agent, update_agent_message_text
from acp.schema import (
    AgentCapabilities,
    InitializeResponse,
    NewSessionResponse,
    PermissionOption,
    PromptResponse,
    ToolCallUpdate,
)

PACE_S = 0.002


class BenchAgent:
    def on_connect(self, conn: Any) -> None:
        self._conn = conn

    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        return InitializeResponse(
            protocol_version=PROTOCOL_VERSION, agent_capabilities=AgentCapabilities()
        )

    async def new_session(self, cwd: str, **kwargs: Any) -> NewSessionResponse:
        return NewSessionResponse(session_id="bench")

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        pass

    async def prompt(self, session_id: str, prompt: list[Any], **kwargs: Any) -> PromptResponse:
        verb, _, count = "".join(getattr(b, "text", "") for b in prompt).partition(" ")
        for _ in range(int(count)):
            if verb == "chunks":
                await self._conn.session_update(
                    session_id, update_agent_message_text(f"{time.monotonic():.9f};")
                )
                await asyncio.sleep(PACE_S)
            else:
                await self._conn.request_permission(
                    session_id=session_id,
                    tool_call=ToolCallUpdate(tool_call_id="t", title=f"{time.monotonic():.9f}"),
                    options=[PermissionOption(option_id="ok", name="OK", kind="allow_once")],
                )
        return PromptResponse(stop_reason="end_turn")


if __name__ == "__main__":
    asyncio.run(run_agent(BenchAgent()))
