"""A scripted ACP agent: a stand-in for a paid model behind a real agent CLI.

Real agents (claude-agent-acp, codex-acp, gemini --experimental-acp, ...) need an account
and a model that cannot run here. This one speaks the real wire format (the ACP Python
SDK's agent side over stdio, newline-delimited JSON-RPC) and follows a script carried by
each prompt's text, so tests drive every path of orchflow's ACP client:

    hello                 two message chunks, a thought, a plan, a usage update; end_turn
    echo: <text>          says "echo=<text>"
    run: <shell line>     a tool call that runs the line in a client terminal, waits for it
                          and reports "exit=<code> output=<text>" as a message
    ask                   asks permission (allow/reject) and says which option came back
    read: <path>          fs/read_text_file; reports the content or the error
    readlines: <path> <line> <limit>  the same with line and limit
    write: <path> <text>  fs/write_text_file (a literal \\n in text is a newline); reports
                          ok or the error
    flood: <n>            n message chunks as fast as it can
    crash                 exits with code 3 in the middle of the turn
    garbage               writes a line that is not JSON to stdout mid-turn
    kill: <shell line>    runs the line in a terminal with outputByteLimit 12, reads its
                          output while it runs, kills it, waits for its exit and reports
                          "killed signal=<s> code=<c> truncated=<t> output=<text>"
    wait                  waits until the turn is cancelled
    mcp                   reports the mcpServers it got at session/new, as JSON
    whoami                reports "session=<id> pid=<pid> prompts=<n>" (n: prompts this
                          session has had, this one included)
    once: <path>          the first time (no file at path): creates it and waits until
                          the turn is cancelled (or the process is killed); then: "again"

Started with ``--silent`` it never answers ``initialize``; with ``--no-mcp-http`` it does not
advertise ``mcpCapabilities.http`` (it takes stdio MCP servers only).

With ``--sessions <dir>`` it keeps each session's conversation in ``<dir>/<session id>.json``
(as a real agent keeps its own history on disk) and advertises ``loadSession``; then
``session/load`` replays that conversation the way the ACP spec says (the user's prompts
as ``user_message_chunk`` and its own messages as ``agent_message_chunk``
``session/update`` notifications), answers the load afterwards and takes prompts on the
loaded session. An unknown session id is refused (resource not found).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from acp import (
    PROTOCOL_VERSION,
    RequestError,
    plan_entry,
    run_agent,
    start_tool_call,
    update_agent_message_text,
    update_agent_thought_text,
    update_plan,
    update_tool_call,
    update_user_message_text,
)
from acp.schema import (
    AgentCapabilities,
    Implementation,
    InitializeResponse,
    LoadSessionResponse,
    McpCapabilities,
    NewSessionResponse,
    PermissionOption,
    PromptResponse,
    ToolCallUpdate,
    Usage,
    UsageUpdate,
)


def _sessions_dir() -> str | None:
    if "--sessions" not in sys.argv:
        return None
    return sys.argv[sys.argv.index("--sessions") + 1]


class ScriptedAgent:
    def __init__(self) -> None:
        self._conn: Any = None
        self._cancelled: dict[str, asyncio.Event] = {}
        self.prompts: dict[str, int] = {}  # whoami: prompts per session
        self._sessions = _sessions_dir()  # where conversations are kept (--sessions)

    def _history_file(self, sid: str) -> str:
        assert self._sessions is not None
        return os.path.join(self._sessions, f"{sid}.json")

    def _read(self, sid: str) -> list[dict[str, str]]:
        with open(self._history_file(sid), encoding="utf-8") as fh:
            history: list[dict[str, str]] = json.load(fh)
        return history

    def _write(self, sid: str, history: list[dict[str, str]]) -> None:
        with open(self._history_file(sid), "w", encoding="utf-8") as fh:
            json.dump(history, fh)

    def _remember(self, sid: str, role: str, text: str) -> None:
        """Append one message to the session's conversation on disk (--sessions)."""
        if self._sessions is None:
            return
        try:
            history = self._read(sid)
        except FileNotFoundError:
            history = []
        self._write(sid, [*history, {"role": role, "text": text}])

    def on_connect(self, conn: Any) -> None:
        self._conn = conn

    async def initialize(self, protocol_version: int, **kwargs: Any) -> InitializeResponse:
        return InitializeResponse(
            protocol_version=PROTOCOL_VERSION,
            agent_capabilities=AgentCapabilities(
                load_session=self._sessions is not None,
                mcp_capabilities=McpCapabilities(http="--no-mcp-http" not in sys.argv),
            ),
            agent_info=Implementation(name="scripted", title="Scripted agent", version="1"),
        )

    async def new_session(self, cwd: str, **kwargs: Any) -> NewSessionResponse:
        sid = f"s-{os.getpid()}-{len(self._cancelled)}"
        self._cancelled[sid] = asyncio.Event()
        self.cwd = cwd
        servers = kwargs.get("mcp_servers") or []
        self.mcp_servers = [s.model_dump(mode="json", by_alias=True) for s in servers]
        if self._sessions is not None:
            self._write(sid, [])
        return NewSessionResponse(session_id=sid)

    async def load_session(
        self, cwd: str, session_id: str, **kwargs: Any
    ) -> LoadSessionResponse | None:
        """Replay the stored conversation as session/update, then answer (ACP spec)."""
        if self._sessions is None:
            raise RequestError.method_not_found("session/load")
        try:
            history = self._read(session_id)
        except FileNotFoundError:
            raise RequestError.resource_not_found(session_id) from None
        self.cwd = cwd
        servers = kwargs.get("mcp_servers") or []
        self.mcp_servers = [s.model_dump(mode="json", by_alias=True) for s in servers]
        for item in history:
            make = (
                update_user_message_text if item["role"] == "user" else (update_agent_message_text)
            )
            await self._conn.session_update(session_id=session_id, update=make(item["text"]))
        self._cancelled[session_id] = asyncio.Event()
        return LoadSessionResponse()

    async def say(self, sid: str, text: str) -> None:
        self._remember(sid, "agent", text)
        await self._conn.session_update(session_id=sid, update=update_agent_message_text(text))

    async def cancel(self, session_id: str, **kwargs: Any) -> None:
        self._cancelled.setdefault(session_id, asyncio.Event()).set()

    async def prompt(self, session_id: str, prompt: list[Any], **kwargs: Any) -> PromptResponse:
        sid = session_id
        text = "".join(getattr(b, "text", "") for b in prompt).strip()
        self._cancelled[sid] = asyncio.Event()
        self._remember(sid, "user", text)
        if text == "hello":
            await self._conn.session_update(sid, update_agent_thought_text("thinking about it"))
            await self._conn.session_update(
                sid, update_plan([plan_entry("greet", status="completed"), plan_entry("rest")])
            )
            await self.say(sid, "Hello ")
            await self.say(sid, "there.")
            await self._conn.session_update(
                sid, UsageUpdate(session_update="usage_update", used=1200, size=200000)
            )
            return PromptResponse(
                stop_reason="end_turn",
                usage=Usage(total_tokens=1500, input_tokens=1000, output_tokens=500),
            )
        if text.startswith("echo: "):
            await self.say(sid, f"echo={text[6:]}")
            return PromptResponse(stop_reason="end_turn")
        if text.startswith("run: "):
            line = text[len("run: ") :]
            await self._conn.session_update(
                sid, start_tool_call("call-1", f"Run {line}", kind="execute", status="pending")
            )
            term = await self._conn.create_terminal(session_id=sid, command=line)
            await self._conn.session_update(sid, update_tool_call("call-1", status="in_progress"))
            done = await self._conn.wait_for_terminal_exit(
                session_id=sid, terminal_id=term.terminal_id
            )
            out = await self._conn.terminal_output(session_id=sid, terminal_id=term.terminal_id)
            await self._conn.release_terminal(session_id=sid, terminal_id=term.terminal_id)
            await self._conn.session_update(sid, update_tool_call("call-1", status="completed"))
            await self.say(sid, f"exit={done.exit_code} output={out.output.strip()}")
            return PromptResponse(stop_reason="end_turn")
        if text.startswith("kill: "):
            term = await self._conn.create_terminal(
                session_id=sid, command=text[6:], output_byte_limit=12
            )
            for _ in range(200):
                out = await self._conn.terminal_output(session_id=sid, terminal_id=term.terminal_id)
                if out.output.strip():
                    break
                await asyncio.sleep(0.05)
            await self._conn.kill_terminal(session_id=sid, terminal_id=term.terminal_id)
            done = await self._conn.wait_for_terminal_exit(
                session_id=sid, terminal_id=term.terminal_id
            )
            out = await self._conn.terminal_output(session_id=sid, terminal_id=term.terminal_id)
            await self._conn.release_terminal(session_id=sid, terminal_id=term.terminal_id)
            await self.say(
                sid,
                f"killed signal={done.signal} code={done.exit_code} "
                f"truncated={out.truncated} output={out.output.strip()}",
            )
            return PromptResponse(stop_reason="end_turn")
        if text == "ask":
            response = await self._conn.request_permission(
                session_id=sid,
                tool_call=ToolCallUpdate(tool_call_id="call-2", title="Delete build/"),
                options=[
                    PermissionOption(option_id="allow", name="Allow once", kind="allow_once"),
                    PermissionOption(option_id="reject", name="Reject", kind="reject_once"),
                ],
            )
            outcome = response.outcome
            chosen = getattr(outcome, "option_id", None) or outcome.outcome
            await self.say(sid, f"permission={chosen}")
            if outcome.outcome == "cancelled":
                return PromptResponse(stop_reason="cancelled")
            return PromptResponse(stop_reason="end_turn")
        if text.startswith("readlines: "):
            path, line, limit = text[11:].rsplit(" ", 2)
            got = await self._conn.read_text_file(
                session_id=sid, path=path, line=int(line), limit=int(limit)
            )
            await self.say(sid, f"read={got.content}")
            return PromptResponse(stop_reason="end_turn")
        if text.startswith("read: "):
            try:
                got = await self._conn.read_text_file(session_id=sid, path=text[6:])
                await self.say(sid, f"read={got.content}")
            except RequestError as exc:
                await self.say(sid, f"read-error={exc}")
            return PromptResponse(stop_reason="end_turn")
        if text.startswith("write: "):
            path, _, body = text[7:].partition(" ")
            body = body.replace("\\n", "\n")
            try:
                await self._conn.write_text_file(session_id=sid, path=path, content=body)
                await self.say(sid, "write=ok")
            except RequestError as exc:
                await self.say(sid, f"write-error={exc}")
            return PromptResponse(stop_reason="end_turn")
        if text.startswith("flood: "):
            for i in range(int(text[7:])):
                await self.say(sid, f"{i} ")
            return PromptResponse(stop_reason="end_turn")
        if text == "crash":
            await self.say(sid, "about to crash")
            await asyncio.sleep(0.05)
            sys.stderr.write("scripted agent: simulated crash\n")
            sys.stderr.flush()
            os._exit(3)
        if text == "garbage":
            await self.say(sid, "about to write garbage")
            await asyncio.sleep(0.05)
            os.write(1, b"this is not json\n")
            await asyncio.sleep(30)
            return PromptResponse(stop_reason="end_turn")
        if text == "whoami":
            self.prompts[sid] = self.prompts.get(sid, 0) + 1
            await self.say(sid, f"session={sid} pid={os.getpid()} prompts={self.prompts[sid]}")
            return PromptResponse(stop_reason="end_turn")
        if text.startswith("once: "):
            path = text[len("once: ") :]
            if os.path.exists(path):
                await self.say(sid, f"again pid={os.getpid()}")
                return PromptResponse(stop_reason="end_turn")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            await self.say(sid, "blocking")
            await self._cancelled[sid].wait()
            return PromptResponse(stop_reason="cancelled")
        if text == "mcp":
            await self.say(sid, json.dumps(self.mcp_servers, sort_keys=True))
            return PromptResponse(stop_reason="end_turn")
        if text == "wait":
            await self.say(sid, "waiting")
            await self._cancelled[sid].wait()
            return PromptResponse(stop_reason="cancelled")
        await self.say(sid, f"unknown script {text!r}")
        return PromptResponse(stop_reason="refusal")


async def main() -> None:
    if "--silent" in sys.argv:
        # never answers: reads its stdin until it is closed
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
        while await reader.readline():
            pass
        return
    await run_agent(ScriptedAgent())


if __name__ == "__main__":
    asyncio.run(main())
