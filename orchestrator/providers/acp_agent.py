"""``AcpAgent`` for one completion: message chunks go to a queue as they arrive, the
turn's end and the agent's end too; permission requests are answered ``cancelled``.
Imported only when an ACP provider runs (it needs the ACP SDK)."""

from __future__ import annotations

import asyncio
from typing import Any

from acp.schema import (
    AgentMessageChunk,
    DeniedOutcome,
    PermissionOption,
    RequestPermissionResponse,
    ToolCallUpdate,
)

from orchestrator.agents.acp_client import AcpAgent, _content_text


class OneTurnAgent(AcpAgent):
    def __init__(self, queue: asyncio.Queue[tuple[str, Any]], **kwargs: Any) -> None:
        self._queue = queue
        super().__init__(publish=self._on_publish, **kwargs)

    def _on_publish(self, method: str, params: dict[str, Any]) -> None:
        if method == "agent.turn":
            self._queue.put_nowait(("turn", params))
        elif method == "agent.state" and params.get("state") in ("exited", "error"):
            self._queue.put_nowait(("ended", params.get("reason")))

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        if isinstance(update, AgentMessageChunk):
            text = _content_text(update.content)
            if text:
                self._queue.put_nowait(("text", text))
        await super().session_update(session_id, update, **kwargs)

    async def request_permission(
        self,
        session_id: str,
        tool_call: ToolCallUpdate,
        options: list[PermissionOption],
        **kwargs: Any,
    ) -> RequestPermissionResponse:
        # a completion asks for text, not actions
        return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
