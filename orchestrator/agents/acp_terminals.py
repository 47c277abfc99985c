"""ACP ``terminal/*`` as real tmux panes, through the TerminalManager API only.

``terminal/create`` makes a pane (type ``acp-terminal``, named ``<agent>-term-<n>``, in the
agent's tmux session) running the command in the requested cwd with its environment: the
user sees it in ``:Orchflow pane list`` and can attach to it while it runs. The pane keeps
its output and exit code after the command ends (the manager's ``remain-on-exit``).

- ``terminal/output``: the pane's text (``TerminalManager.capture``: what the user sees,
  scrollback included), cut from the start to ``outputByteLimit`` at a character
  boundary, with ``exitStatus`` once the command ended.
- ``terminal/wait_for_exit``: the pane's exit code. The manager has no "pane died" event,
  so this checks the pane's state (one tmux control-mode round trip) every
  ``DEFAULT_EXIT_POLL_S``; the agent's request is what waits, never the editor.
- ``terminal/kill``: the pane is closed (tmux sends SIGHUP); its last text is kept so
  ``terminal/output`` still answers, with ``signal: "SIGHUP"``.
- ``terminal/release``: kills it if it still runs and closes its pane.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shlex
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from acp import RequestError
from acp.schema import TerminalExitStatus, TerminalOutputResponse, WaitForTerminalExitResponse

from orchflow_core.errors import NotFoundError, OrchflowError
from orchflow_core.terminal.manager import MAX_CAPTURE_LINES, TerminalManager

if TYPE_CHECKING:
    from orchestrator.agents.acp_client import AcpAgent

log = logging.getLogger(__name__)

TerminalsGetter = Callable[[], Awaitable[TerminalManager]]
DEFAULT_EXIT_POLL_S = 0.05
DEFAULT_OUTPUT_LIMIT = 1024 * 1024
PANE_TYPE = "acp-terminal"
UNKNOWN_CODE_CHECKS = 20  # a dead pane without an exit code yet: asked again this often


@dataclass
class AcpTerminal:
    terminal_id: str
    ref: str  # the pane's orchflow id
    pane_id: str
    pane_name: str
    command: str
    cwd: str
    output_limit: int
    exit_code: int | None = None
    signal: str | None = None
    ended: bool = False
    released: bool = False
    last_text: str = ""
    unknown_code_checks: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "terminal_id": self.terminal_id,
            "pane": self.ref,
            "pane_id": self.pane_id,
            "pane_name": self.pane_name,
            "command": self.command,
            "cwd": self.cwd,
            "exit_code": self.exit_code,
            "signal": self.signal,
            "ended": self.ended,
            "released": self.released,
        }

    def status(self) -> TerminalExitStatus | None:
        if not self.ended:
            return None
        return TerminalExitStatus(exit_code=self.exit_code, signal=self.signal)


def _cut(text: str, limit: int) -> tuple[str, bool]:
    """The end of ``text`` within ``limit`` UTF-8 bytes, cut at a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text, False
    return data[len(data) - limit :].decode("utf-8", "ignore"), True


class AcpTerminals:
    def __init__(self, agent: AcpAgent, terminals: TerminalsGetter) -> None:
        self._agent = agent
        self._terminals = terminals
        self._by_id: dict[str, AcpTerminal] = {}
        self._seq = 0

    def views(self) -> list[dict[str, Any]]:
        return [t.view() for t in self._by_id.values()]

    def _get(self, terminal_id: str) -> AcpTerminal:
        term = self._by_id.get(terminal_id)
        if term is None or term.released:
            raise RequestError.invalid_params(
                {"terminalId": terminal_id, "reason": "no such terminal (or it was released)"}
            )
        return term

    async def create(
        self,
        command: str,
        args: list[str],
        env: dict[str, str],
        cwd: str,
        output_limit: int | None,
    ) -> AcpTerminal:
        if not command.strip():
            raise RequestError.invalid_params({"command": command, "reason": "empty command"})
        # A command with no args may be a shell line ("npm test"); with args it is a program.
        line = shlex.join([command, *args]) if args else command
        # In a subshell: an `exit` in the line ends it, not the pane's wrapper, which then
        # still reports the exit code (tmux 3.3a may not know a dead pane's status yet).
        script = f"(\n{line}\n)"
        self._seq += 1
        name = f"{self._agent.name}-term-{self._seq}"
        try:
            tm = await self._terminals()
            await tm.refresh()
            pane = await tm.new_pane(
                pane_type=PANE_TYPE,
                command=script,
                name=name,
                cwd=cwd,
                session=self._agent.session,
                env=env or None,
                meta={"acp_terminal": self._agent.id, "agent_name": self._agent.name},
                origin="agent",  # the rules' choke point: an agent's command, never asked
            )
        except OrchflowError as exc:
            raise RequestError.internal_error(
                {"reason": f"cannot open a terminal pane: {exc.message}"}
            ) from None
        term = AcpTerminal(
            terminal_id=f"term-{self._seq}",
            ref=pane["id"],
            pane_id=pane["pane_id"],
            pane_name=name,
            command=line,
            cwd=cwd,
            output_limit=output_limit if output_limit is not None else DEFAULT_OUTPUT_LIMIT,
        )
        self._by_id[term.terminal_id] = term
        log.info(
            "agent %s: terminal %s in pane %s", self._agent.name, term.terminal_id, term.pane_id
        )
        log.debug(
            "agent %s: terminal %s runs %r",
            self._agent.name,
            term.terminal_id,
            line,
        )
        return term

    async def _refresh(self, term: AcpTerminal) -> None:
        """Take the pane's state: exited (with its code) or gone."""
        if term.ended:
            return
        tm = await self._terminals()
        try:
            pane = await tm.get(term.ref)
        except NotFoundError:
            pane = {"state": "closed", "exit_code": None}
        if pane["state"] == "exited":
            if pane["exit_code"] is None and term.unknown_code_checks < UNKNOWN_CODE_CHECKS:
                term.unknown_code_checks += 1  # tmux may learn it at the next SIGCHLD
                return
            term.last_text = await self._capture(term)
            term.exit_code, term.ended = pane["exit_code"], True
        elif pane["state"] == "closed":
            term.ended, term.signal = True, term.signal or "SIGHUP"

    async def _capture(self, term: AcpTerminal) -> str:
        tm = await self._terminals()
        try:
            text = await tm.capture(term.ref, lines=MAX_CAPTURE_LINES)
        except NotFoundError:
            return term.last_text
        return text.rstrip("\n")

    async def output(self, terminal_id: str) -> TerminalOutputResponse:
        term = self._get(terminal_id)
        await self._refresh(term)
        text = term.last_text if term.ended else await self._capture(term)
        out, truncated = _cut(text, term.output_limit)
        return TerminalOutputResponse(output=out, truncated=truncated, exit_status=term.status())

    async def wait_for_exit(self, terminal_id: str) -> WaitForTerminalExitResponse:
        term = self._get(terminal_id)
        while True:
            await self._refresh(term)
            if term.ended:
                return WaitForTerminalExitResponse(exit_code=term.exit_code, signal=term.signal)
            await asyncio.sleep(DEFAULT_EXIT_POLL_S)

    async def kill(self, terminal_id: str) -> None:
        term = self._get(terminal_id)
        await self._close(term)

    async def _close(self, term: AcpTerminal) -> None:
        await self._refresh(term)
        if not term.ended:
            term.last_text = await self._capture(term)
            term.ended, term.signal = True, "SIGHUP"
        tm = await self._terminals()
        with contextlib.suppress(NotFoundError):
            await tm.close_pane(term.ref)

    async def release(self, terminal_id: str) -> None:
        term = self._get(terminal_id)
        await self._close(term)
        term.released = True

    async def release_all(self) -> None:
        for term in list(self._by_id.values()):
            if not term.released:
                try:
                    await self._close(term)
                except OrchflowError as exc:
                    log.warning(
                        "agent %s: closing terminal %s failed: %s",
                        self._agent.name,
                        term.terminal_id,
                        exc.message,
                    )
                term.released = True
