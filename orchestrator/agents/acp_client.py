"""One ACP agent: orchflow is the client (the ACP Python SDK), the agent a subprocess.

Life of an ``AcpAgent``:

- ``start()`` spawns the agent's command (the user's own binary, from the registry) in the
  agent's cwd with stdin/stdout pipes (stderr kept as a short tail for error messages),
  then, in the background, ``initialize`` (advertising fs read/write and terminals) and
  ``session/new`` within ``init_timeout_s``. State ``starting`` → ``idle``.
- ``prompt(text)`` queues a turn and returns its id at once; turns run one at a time
  (``session/prompt``); ``working`` until the answer, whose ``stopReason`` (and ``usage``)
  end the turn → ``idle``.
- ``session/update`` notifications are recorded (a bounded list and a rendered transcript,
  ``output()``) and forwarded to the orchestrator's subscribers as ``agent.update``
  notifications, batched per event-loop pass so a flood costs one frame per pass.
- ``session/request_permission`` → ``needs_input`` and an ``agent.permission``
  notification; ``answer()`` picks an option; a cancelled turn or a stopped agent answers
  ``cancelled`` (ACP requires it).
- ``fs/read_text_file`` and ``fs/write_text_file`` are confined to the agent's cwd (also
  through ``..`` and symlinks): outside, the agent gets an error and the log says so.
  Inside, they go through the attached editor first (``EditorFs``): a file loaded in a
  Neovim buffer is read from the buffer (unsaved edits included) and written into it (one
  undo step, then saved); otherwise, or with no editor answering, the disk (a write is
  atomic).
- ``terminal/*`` run in tmux panes made by the TerminalManager (``AcpTerminals``).
- Resuming (orchestrator/agents/resume.py): an agent made with ``agent_id`` of an earlier
  one and ``load_session_id`` calls ``session/load`` instead of ``session/new`` when its
  ``initialize`` offers ``loadSession``; the replayed conversation arrives as
  ``session/update`` before the answer and is recorded as any update. ``how`` says what
  happened ("session/load", or "fresh: <why>").
- The process ending, a non-JSON line on its stdout, or no answer to ``initialize`` in
  time end it in ``exited`` or ``error`` with the reason; other agents are not touched.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import signal
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acp import PROTOCOL_VERSION, RequestError, connect_to_agent, text_block
from acp.schema import (
    AgentMessageChunk,
    AgentPlanUpdate,
    AgentThoughtChunk,
    AllowedOutcome,
    ClientCapabilities,
    CreateElicitationResponse,
    CreateTerminalResponse,
    DeniedOutcome,
    ElicitationMode,
    EnvVariable,
    FileSystemCapabilities,
    Implementation,
    KillTerminalResponse,
    PermissionOption,
    ReadTextFileResponse,
    ReleaseTerminalResponse,
    RequestPermissionResponse,
    TerminalOutputResponse,
    ToolCallProgress,
    ToolCallStart,
    ToolCallUpdate,
    UsageUpdate,
    UserMessageChunk,
    WaitForTerminalExitResponse,
    WriteTextFileResponse,
)

from orchestrator.agents import acp_auth
from orchestrator.agents.acp_mcp import acp_servers
from orchestrator.agents.acp_terminals import AcpTerminals, TerminalsGetter
from orchestrator.agents.acp_transport import StdioJsonTransport
from orchestrator.agents.editor_fs import EditorFs
from orchestrator.agents.last_message import last_message
from orchestrator.agents.registry import AgentSpec
from orchestrator.agents.state import FINAL, AgentEvent, AgentState, transition
from orchestrator.mcp.client.spec import ServerSpec
from orchestrator.worktrees import public as public_worktree
from orchflow_core import __version__
from orchflow_core.errors import ConflictError, InvalidArgumentError, NotFoundError

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], None]  # (method, params) to every watcher

DEFAULT_MAX_UPDATES = 2000  # recorded updates kept per agent (the oldest are dropped)
DEFAULT_MAX_TRANSCRIPT = 1024 * 1024  # characters of rendered transcript kept
DEFAULT_MAX_BATCH = 500  # updates per agent.update notification
DEFAULT_STOP_S = 2.0  # SIGTERM, then SIGKILL after this
STDERR_TAIL = 20
MAX_FILE_BYTES = 16 * 1024 * 1024


@dataclass
class Turn:
    turn_id: str
    text: str
    queued_at: float
    started_at: float | None = None
    ended_at: float | None = None
    stop_reason: str | None = None
    usage: dict[str, Any] | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn_id": self.turn_id,
            "text": self.text,
            "state": "queued"
            if self.started_at is None and self.ended_at is None
            else ("running" if self.ended_at is None else "ended"),
            "queued_at": self.queued_at,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "stop_reason": self.stop_reason,
            "usage": self.usage,
            "error": self.error,
        }


@dataclass
class Question:
    request_id: str
    turn_id: str | None
    title: str
    tool_call: dict[str, Any]
    options: list[dict[str, str]]
    asked_at: float
    future: asyncio.Future[str | None] = field(repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "request_id": self.request_id,
            "turn_id": self.turn_id,
            "title": self.title,
            "tool_call": self.tool_call,
            "options": self.options,
            "asked_at": self.asked_at,
        }


def _dump(model: Any) -> dict[str, Any]:
    out: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
    return out


def _content_text(content: Any) -> str:
    text = getattr(content, "text", None)
    if isinstance(text, str):
        return text
    kind = getattr(content, "type", "content")
    return f"[{kind}]"


class AcpAgent:
    """The SDK's ``Client`` for one agent subprocess (see the module docstring)."""

    def __init__(
        self,
        *,
        spec: AgentSpec,
        name: str,
        cwd: str,
        session: str | None,
        terminals: TerminalsGetter,
        publish: Publish,
        mcp_servers: Callable[[], list[ServerSpec]] = list,
        max_updates: int = DEFAULT_MAX_UPDATES,
        max_transcript: int = DEFAULT_MAX_TRANSCRIPT,
        editor_fs: EditorFs | None = None,
        agent_id: str | None = None,
    ) -> None:
        self.id = agent_id or uuid.uuid4().hex  # agent.restart keeps the id
        self._editor_fs = editor_fs
        self.spec = spec
        self.name = name
        self.cwd = os.path.realpath(cwd)
        self.session = session
        self.worktree: dict[str, Any] | None = None  # its own git worktree (AiAgents sets it)
        self.worktree_env: dict[str, str] = {}  # ORCHFLOW_* of that worktree
        self.argv = list(spec.acp)
        self.created_at = time.time()
        self.state = AgentState.STARTING
        self.state_source = "process"
        self.state_reason: str | None = "starting the agent"
        self.state_at = self.created_at
        self.transitions: collections.deque[dict[str, Any]] = collections.deque(maxlen=100)
        self.turns: list[Turn] = []
        self.updates: collections.deque[dict[str, Any]] = collections.deque(maxlen=max_updates)
        self.update_count = 0
        self.usage: dict[str, Any] = {}
        self.agent_info: dict[str, Any] | None = None
        self.auth_methods: list[dict[str, Any]] = []  # its initialize's (acp_auth.py)
        self.authenticated: str | None = None  # the env_var method orchflow authenticated with
        self._caps: Any = None  # its initialize's agentCapabilities (for a second session/new)
        self.session_id: str | None = None
        self.load_session_id: str | None = None  # session/load this one (resume.py sets it)
        self.can_load: bool | None = None  # its initialize offered loadSession
        self.how: str | None = None  # how its session opened, when resumed or restarted
        self.ready_reason = "session open"  # the reason of its first idle (resume.py)
        self._mcp_servers = mcp_servers
        self.mcp_servers: list[str] = []  # the MCP servers passed at session/new
        self.mcp_skipped: list[str] = []  # the ones left out, and why
        self.exit_code: int | None = None
        self.pid: int | None = None
        self.questions: dict[str, Question] = {}
        self._publish_raw = publish
        self._transcript: collections.deque[str] = collections.deque()
        self._transcript_len = 0
        self._max_transcript = max_transcript
        self._last_kind: str | None = None
        self._stderr: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL)
        self._proc: asyncio.subprocess.Process | None = None
        self._conn: Any = None
        self._ready = asyncio.Event()
        self._ended = asyncio.Event()  # set on reaching exited or error
        self._turn_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._seq = 0
        self._question_seq = 0
        self._turn_seq = 0
        self._current_turn: Turn | None = None
        self._outbox: list[dict[str, Any]] = []
        self._flush_scheduled = False
        self._stopping = False
        self.terminals = AcpTerminals(self, terminals)
        self.transitions.append(self._transition_record())

    # -- views -------------------------------------------------------------------------
    def _transition_record(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "source": self.state_source,
            "reason": self.state_reason,
            "at": self.state_at,
        }

    def view(self) -> dict[str, Any]:
        now = time.time()
        last = self.turns[-1] if self.turns else None
        return {
            "id": self.id,
            "type": "ai",
            "agent": self.spec.name,
            "transport": "acp",
            "name": self.name,
            "command": " ".join(self.argv),
            "cwd": self.cwd,
            "session": self.session,
            "state": self.state.value,
            "state_source": self.state_source,
            "state_reason": self.state_reason,
            "state_at": self.state_at,
            "state_age_s": round(now - self.state_at, 3),
            "created_at": self.created_at,
            "pid": self.pid,
            "exit_code": self.exit_code,
            "acp_session_id": self.session_id,
            "mcp_servers": self.mcp_servers,
            "mcp_skipped": self.mcp_skipped,
            "agent_info": self.agent_info,
            "auth_methods": self.auth_methods,  # acp_auth.py: names only, never values
            "authenticated": self.authenticated,
            "turns": len(self.turns),
            "last_turn": last.to_dict() if last else None,
            "last_message": last_message(self.updates),
            "updates": self.update_count,
            "usage": self.usage or None,
            "questions": [q.to_dict() for q in self.questions.values()],
            "terminals": self.terminals.views(),
            "transitions": list(self.transitions),
            "worktree": public_worktree(self.worktree),
        }

    def output(self) -> str:
        return "".join(self._transcript)

    @property
    def last_seq(self) -> int:
        """The seq of the last update recorded (the transcript includes it)."""
        return self._seq

    # -- state -------------------------------------------------------------------------
    def _set_state(self, event: AgentEvent, source: str, reason: str | None = None) -> None:
        new = transition(self.state, event)
        if new is self.state and reason == self.state_reason:
            return
        self.state, self.state_source, self.state_reason = new, source, reason
        self.state_at = time.time()
        record = self._transition_record()
        self.transitions.append(record)
        if new in FINAL:  # the transcript ends saying how
            self._ended.set()
            self._record(new.value, self._block(new.value, f"[{new.value}] {reason}\n"), record)
        log.info("agent %s: %s (source %s)", self.name, new.value, source)
        log.debug("agent %s: why: %s", self.name, reason)  # may quote the agent's output
        self._publish("agent.state", {"id": self.id, "name": self.name, **record})

    def _fail(self, reason: str, source: str = "process") -> None:
        if self.state in FINAL:
            return
        self._set_state(AgentEvent.FAIL, source, reason)
        self._spawn(self._shutdown(), "shutdown")

    @property
    def final(self) -> bool:
        return self.state in FINAL

    # -- transcript and updates --------------------------------------------------------
    def _append_text(self, text: str, kind: str) -> None:
        if not text:
            return
        self._transcript.append(text)
        self._transcript_len += len(text)
        while self._transcript_len > self._max_transcript and len(self._transcript) > 1:
            self._transcript_len -= len(self._transcript.popleft())
        self._last_kind = kind

    def _block(self, kind: str, text: str) -> str:
        """``text`` as the delta appended to the transcript: a new block starts on a new
        line; chunks of the same kind continue the block."""
        if kind == self._last_kind and kind in ("message", "thought"):
            return text
        out = "\n" if self._transcript and not self._transcript[-1].endswith("\n") else ""
        return out + text

    def _record(self, kind: str, delta: str, data: dict[str, Any] | None = None) -> None:
        self._seq += 1
        self.update_count += 1
        turn = self._current_turn
        item = {
            "seq": self._seq,
            "at": time.time(),
            "turn_id": turn.turn_id if turn else None,
            "kind": kind,
            "text": delta,
            "data": data,
        }
        self.updates.append(item)
        self._append_text(delta, kind)
        self._outbox.append(item)
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)

    def _publish(self, method: str, params: dict[str, Any]) -> None:
        """Send a notification after the updates recorded before it (order is kept)."""
        if self._outbox:
            self._flush()
        self._publish_raw(method, params)

    def _flush(self) -> None:
        """One ``agent.update`` per event-loop pass with what arrived meanwhile (the
        newest ``DEFAULT_MAX_BATCH``; older ones are counted as dropped)."""
        self._flush_scheduled = False
        batch, self._outbox = self._outbox, []
        if not batch:
            return
        dropped = max(0, len(batch) - DEFAULT_MAX_BATCH)
        self._publish_raw(
            "agent.update",
            {"id": self.id, "name": self.name, "updates": batch[dropped:], "dropped": dropped},
        )

    # -- lifecycle ---------------------------------------------------------------------
    def _spawn(self, coro: Any, name: str) -> asyncio.Task[Any]:
        task = asyncio.get_running_loop().create_task(coro, name=f"acp:{self.name}:{name}")
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error(
                "agent %s: task %s failed", self.name, task.get_name(), exc_info=task.exception()
            )

    async def start(self) -> None:
        """Spawn the process (raises if it cannot start); the handshake runs in the
        background (``state`` says how it went)."""
        env = {**os.environ, **self.spec.env, **self.worktree_env}
        try:
            self._proc = await asyncio.create_subprocess_exec(
                *self.argv,
                cwd=self.cwd,
                env=env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its own process group: stop() ends its children too
                limit=16 * 1024 * 1024,
            )
        except OSError as exc:
            reason = f"cannot start {self.argv[0]!r}: {exc.strerror or exc}"
            self._set_state(AgentEvent.FAIL, "process", reason)
            raise InvalidArgumentError(
                f"agent {self.spec.name!r}: {reason}", param="agent", argv=self.argv
            ) from None
        self.pid = self._proc.pid
        transport = StdioJsonTransport(self._proc, on_bad_line=self._bad_line)
        self._conn = connect_to_agent(self, transport)
        self._spawn(self._read_stderr(), "stderr")
        self._spawn(self._watch_process(), "process")
        self._spawn(self._handshake(), "handshake")

    async def _handshake(self) -> None:
        timeout = self.spec.init_timeout_s
        try:
            async with asyncio.timeout(timeout):
                init = await self._conn.initialize(
                    protocol_version=PROTOCOL_VERSION,
                    client_capabilities=ClientCapabilities(
                        fs=FileSystemCapabilities(read_text_file=True, write_text_file=True),
                        terminal=True,
                    ),
                    client_info=Implementation(
                        name="orchflow", title="orchflow", version=__version__
                    ),
                )
                self.agent_info = _dump(init.agent_info) if init.agent_info else None
                self.auth_methods, self._caps = acp_auth.methods(init), init.agent_capabilities
                servers, self.mcp_skipped = acp_servers(
                    self._mcp_servers(), init.agent_capabilities, agent=self.name
                )
                self.mcp_servers = [s.name for s in servers]
                caps = init.agent_capabilities
                self.can_load = bool(caps is not None and caps.load_session)
                await self._open_session(servers)
        except TimeoutError:
            self._fail(
                f"the agent did not answer initialize and session/new within {timeout:g} s",
                "acp",
            )
            return
        except RequestError as exc:
            if not await self._login_then_open(exc):
                return
        except ConnectionError:
            await asyncio.sleep(0)  # let the process watcher or the bad line say why
            self._fail(self._gone_reason("during initialize"))
            return
        if self.final:
            return
        source, reason = "acp", self.ready_reason
        if self.how is not None:  # restarted: the process did it, the reason says how
            source, reason = "process", f"{reason} ({self.how})"
        self._set_state(AgentEvent.READY, source, reason)
        self._ready.set()

    async def _open_session(self, servers: list[Any]) -> None:
        """``session/load`` of ``load_session_id`` where the agent offers it (its history
        is replayed as session/update first), else ``session/new``; ``how`` says which."""
        want = self.load_session_id
        if want is not None and self.can_load:
            note = f"[session/load {want}] the conversation so far:\n"
            self._record("session", self._block("session", note), {"load": want})
            try:
                await self._conn.load_session(cwd=self.cwd, session_id=want, mcp_servers=servers)
            except RequestError as exc:
                self.how = f"fresh: {self.spec.name} could not load session {want}: {exc}"
            else:
                self.session_id, self.how = want, "session/load"
                return
        elif want is not None:
            self.how = f"fresh: {self.spec.name} does not offer session/load"
        new = await self._conn.new_session(cwd=self.cwd, mcp_servers=servers)
        self.session_id = new.session_id
        if self.how is not None:
            note = f"[new session {new.session_id}] {self.how}\n"
            self._record("session", self._block("session", note), {"new": new.session_id})

    # -- login (acp_auth.py): authenticate by an env var the agent names, else say how --
    def _login_reason(self, exc: RequestError, when: str, tried: str | None = None) -> str:
        return acp_auth.login_reason(
            label=self.spec.label,
            hint=self.spec.login,
            found=self.auth_methods,
            exc=exc,
            when=when,
            tried=tried,
        )

    async def _login_then_open(self, exc: RequestError) -> bool:
        """After session/new answered ``exc``: on auth_required with an ``env_var`` method
        whose variables are set, ``authenticate`` and open the session again (True);
        otherwise end in error with the reason (False)."""
        env = acp_auth.agent_env(self.spec.env, self.worktree_env)
        if not acp_auth.is_auth_error(exc):
            self._fail(acp_auth.refused_reason(exc, env), "acp")
            return False
        method = acp_auth.env_method(self.auth_methods, env)
        if method is None or self.authenticated is not None:
            self._fail(self._login_reason(exc, "session/new", self.authenticated), "acp")
            return False
        self.authenticated = str(method["id"])
        log.info("agent %s: authenticate with %s", self.name, self.authenticated)
        timeout = self.spec.init_timeout_s
        try:
            async with asyncio.timeout(timeout):
                await self._conn.authenticate(method_id=self.authenticated)
                servers, _ = acp_servers(self._mcp_servers(), self._caps, agent=self.name)
                self.how = None  # a load refused for want of a login is tried again
                await self._open_session(servers)
        except TimeoutError:
            self._fail(f"the agent did not answer authenticate within {timeout:g} s", "acp")
            return False
        except RequestError as again:
            if acp_auth.is_auth_error(again):
                reason = self._login_reason(again, "session/new", self.authenticated)
            else:
                reason = acp_auth.refused_reason(again, env)
            self._fail(reason, "acp")
            return False
        except ConnectionError:
            await asyncio.sleep(0)
            self._fail(self._gone_reason("during authenticate"))
            return False
        return not self.final

    async def _read_stderr(self) -> None:
        assert self._proc is not None and self._proc.stderr is not None
        while True:
            line = await self._proc.stderr.readline()
            if not line:
                return
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                self._stderr.append(text)
                log.debug("agent %s stderr: %s", self.name, text)

    def _gone_reason(self, when: str) -> str:
        code = self._proc.returncode if self._proc else None
        tail = f": {self._stderr[-1]}" if self._stderr else ""
        if code is None:
            return f"the agent closed its stdout {when}{tail}"
        return f"the agent exited with code {code} {when}{tail}"

    async def _watch_process(self) -> None:
        assert self._proc is not None
        code = await self._proc.wait()
        self.exit_code = code
        await asyncio.sleep(0)  # a bad line reported in the same pass wins
        self._cancel_questions()
        if self.final:
            return
        if self._stopping:
            self._set_state(AgentEvent.EXIT, "process", "stopped")
            return
        busy = self.state in (AgentState.STARTING, AgentState.WORKING, AgentState.NEEDS_INPUT)
        if busy or code != 0:
            when = {
                AgentState.STARTING: "before its session opened",
                AgentState.WORKING: "mid-turn",
                AgentState.NEEDS_INPUT: "mid-turn",
            }.get(self.state, "while idle")
            self._fail(self._gone_reason(when))
        else:
            self._set_state(AgentEvent.EXIT, "process", "the agent exited with code 0")
        await self.terminals.release_all()

    def _bad_line(self, line: str) -> None:
        shown = line if len(line) <= 120 else line[:117] + "..."
        log.warning("agent %s wrote a line that is not JSON to stdout", self.name)
        log.debug("agent %s: the line: %r", self.name, shown)
        self._fail(
            f"the agent wrote something that is not a JSON-RPC message to stdout "
            f"(ACP allows only those there): {shown!r}",
            "acp",
        )

    async def stop(self) -> None:
        """Cancel open questions, end the process (its process group) and its terminals."""
        self._stopping = True
        self._cancel_questions()
        if self.session_id and self._conn is not None and not self.final:
            try:
                async with asyncio.timeout(0.5):
                    await self._conn.cancel(session_id=self.session_id)
            except (ConnectionError, OSError, RequestError, TimeoutError) as exc:
                log.info("agent %s: session/cancel before stopping failed: %s", self.name, exc)
        await self._shutdown()
        if not self.final:
            self._set_state(AgentEvent.EXIT, "process", "stopped")

    async def _shutdown(self) -> None:
        proc = self._proc
        self._cancel_questions()
        if self._conn is not None:
            try:
                await self._conn.close()
            except (ConnectionError, OSError, RuntimeError) as exc:  # the process is ended below
                log.info("agent %s: closing the ACP connection: %s", self.name, exc)
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                async with asyncio.timeout(DEFAULT_STOP_S):
                    await proc.wait()
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                await proc.wait()
        await self.terminals.release_all()
        for turn in self.turns:
            if turn.ended_at is None:
                turn.ended_at = time.time()
                turn.error = turn.error or (self.state_reason or "the agent stopped")

    def inherit(self, old: AcpAgent) -> None:
        """Continue ``old``'s record (agent.restart, before ``start``): its transcript,
        updates, turns and usage, with seq and turn numbers going on from its."""
        self.created_at = old.created_at
        self._transcript, self._transcript_len = old._transcript, old._transcript_len
        self._last_kind = old._last_kind
        self.updates = collections.deque([*old.updates, *self.updates], maxlen=self.updates.maxlen)
        self._seq, self.update_count = old._seq, old.update_count
        self.turns = list(old.turns)
        self._turn_seq, self._question_seq = old._turn_seq, old._question_seq
        self.usage = dict(old.usage)
        self.transitions = collections.deque([*old.transitions, *self.transitions], maxlen=100)

    def dormant(self, final: AgentState, reason: str) -> None:
        """Shown without a process, ended (a restarted orchestrator's agent that it does
        not start: ``agent.restart`` can)."""
        event = AgentEvent.FAIL if final is AgentState.ERROR else AgentEvent.EXIT
        self._set_state(event, "process", reason)

    async def close(self) -> None:
        """For the orchestrator's shutdown: stop, and wait for the agent's tasks."""
        await self.stop()
        for task in list(self._tasks):
            task.cancel()

    # -- turns -------------------------------------------------------------------------
    def prompt(self, text: str) -> Turn:
        if self.final:
            raise ConflictError(
                f"agent {self.name} is {self.state.value} ({self.state_reason}): it takes no "
                "prompts; create a new one",
                id=self.id,
                state=self.state.value,
            )
        self._turn_seq += 1
        turn = Turn(turn_id=f"t{self._turn_seq}", text=text, queued_at=time.time())
        self.turns.append(turn)
        self._spawn(self._run_turn(turn), f"turn-{turn.turn_id}")
        return turn

    async def _run_turn(self, turn: Turn) -> None:
        async with self._turn_lock:
            await self._ready_or_final()
            if self.final:
                turn.ended_at, turn.error = time.time(), self.state_reason
                return
            turn.started_at = time.time()
            self._current_turn = turn
            lost, login = False, ""
            self._set_state(AgentEvent.PROMPT, "acp", f"turn {turn.turn_id}")
            self._record("prompt", self._block("prompt", f"> {turn.text}\n"), {"text": turn.text})
            try:
                response = await self._conn.prompt(
                    session_id=self.session_id, prompt=[text_block(turn.text)]
                )
            except RequestError as exc:
                turn.error = f"the agent answered the prompt with an error: {exc}"
                login = self._login_reason(exc, "the prompt") if acp_auth.is_auth_error(exc) else ""
            except ConnectionError:
                turn.error = self.state_reason if self.final else "the connection closed"
                lost = not self.final and not self._stopping
            else:
                turn.stop_reason = response.stop_reason
                if response.usage is not None:
                    turn.usage = _dump(response.usage)
                    self.usage["turns"] = turn.usage
            finally:
                turn.ended_at = time.time()
                self._current_turn = None
            end = turn.stop_reason or f"error: {turn.error}"
            self._record(
                "turn_end",
                self._block("turn_end", f"-- turn {turn.turn_id} ended: {end}\n"),
                turn.to_dict(),
            )
            self._cancel_questions()
            if login:  # no use for turns until the user logs in: say how
                self._fail(login, "acp")
            if lost:  # the agent went away mid-turn: say so with its exit code
                await self._exited(within=DEFAULT_STOP_S)
                self._fail(self._gone_reason("mid-turn"))
            if not self.final:
                reason = (
                    f"turn {turn.turn_id} ended: {turn.stop_reason}"
                    if turn.stop_reason
                    else f"turn {turn.turn_id} failed: {turn.error}"
                )
                self._set_state(AgentEvent.TURN_END, "acp", reason)
            self._publish("agent.turn", {"id": self.id, "name": self.name, **turn.to_dict()})

    async def _exited(self, *, within: float) -> None:
        """Wait (at most ``within`` s) for the process to end, so its exit code is known."""
        if self._proc is None:
            return
        try:
            async with asyncio.timeout(within):
                await self._proc.wait()
        except TimeoutError:
            log.info("agent %s closed its stdout but still runs", self.name)

    async def _ready_or_final(self) -> None:
        waits = [asyncio.ensure_future(e.wait()) for e in (self._ready, self._ended)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waits:
                w.cancel()

    async def cancel(self) -> dict[str, Any]:
        """``session/cancel`` for the running turn; open questions answer ``cancelled``."""
        if self.final:
            raise ConflictError(f"agent {self.name} is {self.state.value}", id=self.id)
        running = self._current_turn
        self._cancel_questions()
        if running is not None and self.session_id is not None:
            await self._conn.cancel(session_id=self.session_id)
        return {
            "id": self.id,
            "turn_id": running.turn_id if running else None,
            "cancelled": running is not None,
        }

    # -- questions (session/request_permission) ----------------------------------------
    def answer(self, request_id: str, option_id: str) -> dict[str, Any]:
        question = self.questions.get(request_id)
        if question is None:
            if self.final:
                raise ConflictError(
                    f"agent {self.name} is {self.state.value}: its questions were cancelled",
                    id=self.id,
                    request_id=request_id,
                )
            open_ids = ", ".join(self.questions) or "none"
            raise NotFoundError(
                f"agent {self.name} has no open question {request_id!r} (open: {open_ids})",
                id=request_id,
            )
        allowed = [o["option_id"] for o in question.options]
        if option_id not in allowed:
            raise InvalidArgumentError(
                f"option_id {option_id!r} is not one of this question's options: "
                f"{', '.join(allowed)}",
                param="option_id",
            )
        self._close_question(question, option_id)
        return {"id": self.id, "request_id": request_id, "option_id": option_id, "answered": True}

    def _close_question(self, question: Question, option_id: str | None) -> None:
        self.questions.pop(question.request_id, None)
        if not question.future.done():
            question.future.set_result(option_id)
        outcome = option_id if option_id is not None else "cancelled"
        self._record(
            "answer",
            self._block("answer", f"[answered] {question.title}: {outcome}\n"),
            {"request_id": question.request_id, "outcome": outcome},
        )
        self._publish(
            "agent.permission_closed",
            {
                "id": self.id,
                "name": self.name,
                "request_id": question.request_id,
                "outcome": outcome,
            },
        )
        if not self.questions and self.state is AgentState.NEEDS_INPUT:
            self._set_state(
                AgentEvent.ANSWERED, "acp", f"answered {question.request_id}: {outcome}"
            )

    def _cancel_questions(self) -> None:
        for question in list(self.questions.values()):
            self._close_question(question, None)

    # -- the SDK's Client protocol: called by the agent --------------------------------
    async def request_permission(
        self,
        session_id: str,
        tool_call: ToolCallUpdate,
        options: list[PermissionOption],
        **kwargs: Any,
    ) -> RequestPermissionResponse:
        self._question_seq += 1
        turn = self._current_turn
        question = Question(
            request_id=f"q{self._question_seq}",
            turn_id=turn.turn_id if turn else None,
            title=tool_call.title or tool_call.tool_call_id,
            tool_call=_dump(tool_call),
            options=[{"option_id": o.option_id, "name": o.name, "kind": o.kind} for o in options],
            asked_at=time.time(),
            future=asyncio.get_running_loop().create_future(),
        )
        if self.final or turn is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        self.questions[question.request_id] = question
        names = " / ".join(o["name"] for o in question.options)
        self._record(
            "permission",
            self._block("permission", f"[needs input] {question.title}: {names}\n"),
            question.to_dict(),
        )
        self._set_state(AgentEvent.ASK, "acp", f"asks: {question.title}")
        self._publish("agent.permission", {"id": self.id, "name": self.name, **question.to_dict()})
        chosen = await question.future
        if chosen is None:
            return RequestPermissionResponse(outcome=DeniedOutcome(outcome="cancelled"))
        return RequestPermissionResponse(
            outcome=AllowedOutcome(outcome="selected", option_id=chosen)
        )

    async def session_update(self, session_id: str, update: Any, **kwargs: Any) -> None:
        if isinstance(update, AgentMessageChunk):
            self._record("message", self._block("message", _content_text(update.content)), None)
        elif isinstance(update, AgentThoughtChunk):
            text = _content_text(update.content)
            start = "(thinking) " if self._last_kind != "thought" else ""
            self._record("thought", self._block("thought", start + text), None)
        elif isinstance(update, UserMessageChunk):
            self._record("user", self._block("user", _content_text(update.content)), None)
        elif isinstance(update, ToolCallStart):
            line = f"[tool {update.tool_call_id}] {update.title}"
            line += f" ({update.kind})" if update.kind else ""
            line += f" {update.status}" if update.status else ""
            self._record("tool_call", self._block("tool_call", line + "\n"), _dump(update))
        elif isinstance(update, ToolCallProgress):
            line = f"[tool {update.tool_call_id}]"
            line += f" {update.title}" if update.title else ""
            line += f" -> {update.status}" if update.status else " updated"
            self._record(
                "tool_call_update", self._block("tool_call_update", line + "\n"), _dump(update)
            )
        elif isinstance(update, AgentPlanUpdate):
            marks = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}
            body = "".join(f"  {marks.get(e.status, '[?]')} {e.content}\n" for e in update.entries)
            self._record("plan", self._block("plan", "[plan]\n" + body), _dump(update))
        elif isinstance(update, UsageUpdate):
            self.usage["context"] = _dump(update)
            line = f"[usage] {update.used}/{update.size} tokens"
            if update.cost is not None:
                line += f", {update.cost.amount} {update.cost.currency}"
            self._record("usage", self._block("usage", line + "\n"), _dump(update))
        else:
            kind = str(getattr(update, "session_update", "other"))
            self._record(kind, "", _dump(update))

    async def read_text_file(
        self,
        session_id: str,
        path: str,
        line: int | None = None,
        limit: int | None = None,
        **kwargs: Any,
    ) -> ReadTextFileResponse:
        target = self._inside_cwd(path, "read")
        fs = self._editor_fs
        answer = await fs.ask("read", target, agent=self.id) if fs else None
        if answer is not None and answer.get("loaded") and "content" in answer:
            text, source = str(answer["content"]), "buffer"
        else:
            text, source = await self._read_disk(path, target), "disk"
        if line is not None or limit is not None:
            lines = text.splitlines(keepends=True)
            start = max((line or 1) - 1, 0)
            end = start + limit if limit is not None else len(lines)
            text = "".join(lines[start:end])
        editor = answer.get("editor") if source == "buffer" and answer else None
        self._record("fs_read", "", {"path": target, "source": source, "editor": editor})
        return ReadTextFileResponse(content=text)

    async def _read_disk(self, path: str, target: str) -> str:
        try:
            if os.path.getsize(target) > MAX_FILE_BYTES:
                raise RequestError.invalid_params({"path": path, "reason": "file too large"})
            return await asyncio.to_thread(Path(target).read_text, "utf-8", "replace")
        except FileNotFoundError:
            raise RequestError.resource_not_found(path) from None
        except IsADirectoryError:
            raise RequestError.invalid_params({"path": path, "reason": "a directory"}) from None

    async def write_text_file(
        self, session_id: str, path: str, content: str, **kwargs: Any
    ) -> WriteTextFileResponse | None:
        target = self._inside_cwd(path, "write")
        fs = self._editor_fs
        answer = await fs.ask("write", target, content, agent=self.id) if fs else None
        if answer is not None and answer.get("loaded"):
            if answer.get("error") or not answer.get("saved"):
                why = answer.get("error") or "the buffer was not saved"
                self._record(
                    "fs_write",
                    self._block("fs_write", f"[write failed] {target} (Neovim buffer): {why}\n"),
                    {"path": target, "source": "buffer", "error": why},
                )
                raise RequestError(-32603, f"Neovim could not write {path}: {why}", {"path": path})
            self._record(
                "fs_write",
                self._block("fs_write", f"[wrote] {target} (Neovim buffer, saved)\n"),
                {"path": target, "source": "buffer", "editor": answer.get("editor")},
            )
            return WriteTextFileResponse()
        await asyncio.to_thread(_write_atomic, target, content)
        self._record(
            "fs_write",
            self._block("fs_write", f"[wrote] {target}\n"),
            {"path": target, "source": "disk"},
        )
        return WriteTextFileResponse()

    def _inside_cwd(self, path: str, what: str) -> str:
        """``path`` resolved (symlinks, ``..``) if it is inside the agent's cwd; else the
        agent gets an error saying so, and the log records the attempt."""
        if not isinstance(path, str) or not os.path.isabs(path):
            raise RequestError.invalid_params(
                {"path": path, "reason": "ACP paths must be absolute"}
            )
        real = os.path.realpath(path)
        if real != self.cwd and not real.startswith(self.cwd + os.sep):
            log.warning(
                "agent %s: refused to %s %s: outside its cwd %s", self.name, what, path, self.cwd
            )
            self._record(
                "fs_refused",
                self._block("fs_refused", f"[refused] {what} {path}: outside {self.cwd}\n"),
                {"path": path, "what": what},
            )
            raise RequestError(
                -32602,
                f"permission denied: {path} is outside the agent's working directory {self.cwd}",
                {"path": path, "cwd": self.cwd},
            )
        return real

    async def create_terminal(
        self,
        session_id: str,
        command: str,
        args: list[str] | None = None,
        env: list[EnvVariable] | None = None,
        cwd: str | None = None,
        output_byte_limit: int | None = None,
        **kwargs: Any,
    ) -> CreateTerminalResponse:
        workdir = self._inside_cwd(cwd, "run a terminal in") if cwd else self.cwd
        try:
            term = await self.terminals.create(
                command,
                args or [],
                {e.name: e.value for e in env or []},
                workdir,
                output_byte_limit,
            )
        except RequestError as exc:  # the user sees why the agent's command did not run
            reason = (exc.data or {}).get("reason") if isinstance(exc.data, dict) else None
            self._record(
                "terminal",
                self._block("terminal", f"[terminal refused] {command}: {reason or exc}\n"),
            )
            raise
        self._record(
            "terminal",
            self._block(
                "terminal", f"[terminal {term.terminal_id}] {term.command} (pane {term.pane_id})\n"
            ),
            term.view(),
        )
        return CreateTerminalResponse(terminal_id=term.terminal_id)

    async def terminal_output(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> TerminalOutputResponse:
        return await self.terminals.output(terminal_id)

    async def wait_for_terminal_exit(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> WaitForTerminalExitResponse:
        return await self.terminals.wait_for_exit(terminal_id)

    async def kill_terminal(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> KillTerminalResponse | None:
        await self.terminals.kill(terminal_id)
        return KillTerminalResponse()

    async def release_terminal(
        self, session_id: str, terminal_id: str, **kwargs: Any
    ) -> ReleaseTerminalResponse | None:
        await self.terminals.release(terminal_id)
        return ReleaseTerminalResponse()

    async def create_elicitation(
        self, message: str, mode: ElicitationMode, **kwargs: Any
    ) -> CreateElicitationResponse:
        raise RequestError.method_not_found("elicitation/create")  # not advertised

    async def complete_elicitation(self, elicitation_id: str, **kwargs: Any) -> None:
        log.debug("agent %s: elicitation %s completed (not used)", self.name, elicitation_id)

    async def ext_method(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        raise RequestError.method_not_found(f"_{method}")

    async def ext_notification(self, method: str, params: dict[str, Any]) -> None:
        log.debug("agent %s: extension notification %s ignored", self.name, method)

    def on_connect(self, conn: Any) -> None:
        pass

    # -- a fresh session on this process (the swarm's agent pool) -------------------------
    async def fresh_session(self) -> str:
        """A session with no turn in it, on this same process and connection: the one
        opened at start if no turn ran in it yet, else a new one (``session/new`` with the
        MCP servers passed at start). The swarm's agent pool (orchestrator/swarm/
        agent_pool.py) calls it before each task, so tasks never share a conversation.
        Waits for the handshake (``init_timeout_s``); ConflictError if the agent ended, a
        turn is queued or running, or the agent refused or did not answer (then it is
        ended: a pool drops it)."""
        from types import SimpleNamespace

        await self._ready_or_final()
        if self.final or self._conn is None:
            raise ConflictError(
                f"agent {self.name} is {self.state.value} ({self.state_reason}): no new session",
                id=self.id,
            )
        if self._turn_lock.locked() or any(t.ended_at is None for t in self.turns):
            raise ConflictError(f"agent {self.name} has a turn queued or running", id=self.id)
        if self.session_id is not None and len(self.turns) == getattr(self, "_session_turns", 0):
            return self.session_id
        passed = [s for s in self._mcp_servers() if s.name in self.mcp_servers]
        caps = SimpleNamespace(mcp_capabilities=SimpleNamespace(http=True))  # as at start
        servers, _ = acp_servers(passed, caps, agent=self.name)
        timeout = self.spec.init_timeout_s
        try:
            async with asyncio.timeout(timeout):
                new = await self._conn.new_session(cwd=self.cwd, mcp_servers=servers)
        except RequestError as exc:
            raise ConflictError(
                f"agent {self.name} refused a new session: {exc}", id=self.id
            ) from None
        except (TimeoutError, ConnectionError) as exc:
            why = (
                f"the agent did not answer session/new within {timeout:g} s"
                if isinstance(exc, TimeoutError)
                else self._gone_reason("during session/new")
            )
            self._fail(why, "acp")
            raise ConflictError(f"agent {self.name}: {why}", id=self.id) from None
        sid = str(new.session_id)
        self.session_id = sid
        self._session_turns = len(self.turns)
        self._record(
            "session", self._block("session", f"[new session {sid}]\n"), {"session_id": sid}
        )
        log.info("agent %s: new session %s", self.name, sid)
        return sid


def _write_atomic(path: str, content: str) -> None:
    directory = os.path.dirname(path)
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.orchflow-{uuid.uuid4().hex[:8]}")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(content)
    try:
        mode = os.stat(path).st_mode & 0o777
    except FileNotFoundError:
        mode = None
    if mode is not None:
        os.chmod(tmp, mode)
    os.replace(tmp, path)
