"""A terminal-transport AI agent's state: hooks first, then screen patterns, then quiet.

The agent is the CLI's own TUI in a tmux pane. Its state lives in the one table
(orchestrator/agents/state.py); what is observed here is where the agent *is* and
``route`` supplies the events on the way. Sources, best first:

- ``hook``: the vendor's hook called ``orchflow-orchestrator hook`` (``agent.hook``); the
  registry maps ``Event`` or ``Event:kind`` (the payload's ``notification_type`` or
  ``type``) to working / needs_input / idle. needs_input carries the question from the
  payload (``message``, or the tool and its command/path).
- ``pattern``: a regex of the registry's ``patterns`` matched the pane's new output as text
  (screen_text.py: cursor moves become spaces and line feeds, as real TUIs draw); the match
  that ends last wins; needs_input's question is the matched line.
- ``quiet``: no pattern matched: output flowing is ``working``, then ``quiet_s`` seconds
  without output is ``idle`` (``starting`` settles to ``idle`` the same way).
- ``process``: the pane was made (``starting``) or its process ended (``exited``).

A hook's state is exact: a pattern or quiescence replaces it only toward a state the
agent's hooks never report (Codex's notify says only "idle", so its ``working`` comes from
patterns or output). Output arrives through the pane's one output pump
(orchflow_core/terminal/watch.py), never by polling capture-pane; an idle agent costs a
parked task and no timer.
"""

from __future__ import annotations

import asyncio
import collections
import json
import logging
import re
import time
from collections.abc import Callable
from typing import Any

from orchestrator.agents.hook_wiring import Wiring
from orchestrator.agents.registry import AgentSpec
from orchestrator.agents.screen_text import ScreenText
from orchestrator.agents.state import FINAL, AgentEvent, AgentState, route, transition
from orchflow_core.mux.stream import OutputSubscription
from orchflow_core.terminal.watch import pump

log = logging.getLogger(__name__)

Publish = Callable[[str, dict[str, Any]], None]  # (method, params)

MAX_QUESTION = 300  # characters of a question kept
_FRAME = " \t│┃║|"  # a dialog's side borders, stripped from a question (Gemini CLI's box)
LOOK_AFTER_S = 1.0  # output stopped this long: is its process still there? (at most quiet_s)
CARRY = 400  # characters of the last (unfinished) line kept for the next chunk's patterns
_STATES = {"working": AgentState.WORKING, "needs_input": AgentState.NEEDS_INPUT}
_STATES["idle"] = AgentState.IDLE
_RANK = {"process": 0, "quiet": 1, "pattern": 2, "hook": 3}  # how exact a source is


def question_of(payload: dict[str, Any]) -> str | None:
    """The question a needs-input hook asks: its message, else the tool and what it would
    do (Claude's PermissionRequest: tool_name + tool_input.command/file_path)."""
    for key in ("message", "question", "title"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_QUESTION]
    tool = payload.get("tool_name")
    if isinstance(tool, str) and tool:
        args = payload.get("tool_input")
        what = ""
        if isinstance(args, dict):
            for key in ("command", "file_path", "path", "url", "description"):
                if isinstance(args.get(key), str):
                    what = args[key]
                    break
            else:
                what = json.dumps(args)[:200]
        return f"{tool}: {what}"[:MAX_QUESTION] if what else f"allow {tool}?"
    return None


class TerminalAiAgent:
    """One terminal-transport AI agent (its pane is core's; its state is here)."""

    def __init__(
        self,
        *,
        pane: str,
        pane_id: str,
        name: str,
        spec: AgentSpec,
        key: str,
        wiring: Wiring,
        publish: Publish,
        created_at: float | None = None,
    ) -> None:
        self.id = pane  # the pane's orchflow id: the agent's id
        self.pane_id = pane_id
        self.name = name
        self.spec = spec
        self.key = key  # the hook id the vendor's hooks report with (--agent)
        self.wiring = wiring
        self.created_at = created_at or time.time()
        self.state = AgentState.STARTING
        self.state_source = "process"
        self.state_reason: str | None = "the TUI is starting"
        self.state_at = self.created_at
        self.question: str | None = None
        self.transitions: collections.deque[dict[str, Any]] = collections.deque(maxlen=100)
        self.hooks_seen = 0
        self.last_hook: dict[str, Any] | None = None
        self._publish = publish
        self._covered = frozenset(_STATES[s] for s in spec.hook_events.values())
        self._patterns = [
            (_STATES[state], re.compile(p, re.MULTILINE))  # ^ and $ at each line
            for state, ps in spec.patterns.items()
            for p in ps
        ]
        self._carry = ""
        self._screen = ScreenText()  # the stream as text (escape sequences as spaces/lines)
        self._quiet: asyncio.TimerHandle | None = None
        # Has its process ended? tmux says nothing when a pane's process exits, so once its
        # output stops for LOOK_AFTER_S the owner looks at the pane (one round trip; its
        # pane.state event then ends the agent). Set by AiAgents; None: nobody looks.
        self.look: Callable[[], None] | None = None
        self._look: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[None] | None = None
        self.transitions.append(self._record())

    @property
    def final(self) -> bool:
        return self.state in FINAL

    def _record(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "source": self.state_source,
            "reason": self.state_reason,
            "at": self.state_at,
            "question": self.question,
        }

    def fields(self) -> dict[str, Any]:
        """What agent.get/agent.list add to the pane's view."""
        return {
            "type": "ai",
            "agent": self.spec.name,
            "transport": "terminal",
            "state": self.state.value,
            "state_source": self.state_source,
            "state_reason": self.state_reason,
            "state_at": self.state_at,
            "state_age_s": round(time.time() - self.state_at, 3),
            "question": self.question,
            "hooks": {**self.wiring.to_dict(), "id": self.key, "seen": self.hooks_seen},
            "last_hook": self.last_hook,
            "quiet_s": self.spec.quiet_s,
            "transitions": list(self.transitions),
        }

    # -- the one way state changes -----------------------------------------------------
    def observe(
        self, target: AgentState, source: str, reason: str, *, question: str | None = None
    ) -> bool:
        """Move to ``target`` (through the table); True if anything changed."""
        if self.final:
            return False
        events = route(self.state, target)
        if not events:
            if target is AgentState.NEEDS_INPUT and question not in (None, self.question):
                events = [AgentEvent.ASK]  # a new question while one is open
            elif _RANK[source] > _RANK[self.state_source]:
                # a more exact source confirms the state (output said working, then the
                # pattern did): the state and its time stay, its source is news
                self.state_source, self.state_reason = source, reason
                self._announce(self._record())
                return True
            else:
                return False
        new = self.state
        for event in events:
            new = transition(new, event)
        self.state, self.state_source, self.state_reason = new, source, reason
        self.question = question if new is AgentState.NEEDS_INPUT else None
        self.state_at = time.time()
        self._announce(self._record())
        if self.final:
            self.close()
        return True

    def _announce(self, record: dict[str, Any]) -> None:
        """Record the change and tell the watchers (agent.state)."""
        self.transitions.append(record)
        if self.state is not AgentState.WORKING or self.state_source == "hook":
            self._cancel_quiet()
        log.info("agent %s: %s (source %s)", self.name, self.state.value, self.state_source)
        self._publish(
            "agent.state",
            {
                "id": self.id,
                "name": self.name,
                "agent": self.spec.name,
                "transport": "terminal",
                "pane_id": self.pane_id,
                **record,
            },
        )

    def _fallback_may(self, target: AgentState) -> bool:
        """A pattern or quiescence may replace the current state (see the module doc)."""
        return self.state_source != "hook" or target not in self._covered

    # -- hooks -----------------------------------------------------------------------------
    def hook(self, event: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Apply one vendor hook event; {state, changed, mapped} (unmapped events change
        nothing and say so)."""
        kinds = [payload.get(k) for k in ("notification_type", "type")]
        names = [f"{event}:{k}" for k in kinds if isinstance(k, str) and k] + [event]
        mapped = next((self.spec.hook_events[n] for n in names if n in self.spec.hook_events), None)
        self.hooks_seen += 1
        self.last_hook = {"event": names[0], "at": time.time(), "mapped": mapped}
        changed = False
        if mapped is not None and not self.final:
            target = _STATES[mapped]
            if target is AgentState.NEEDS_INPUT and self.state is target and self.question:
                # one dialog at a time: Claude's PermissionRequest (the tool and its
                # command) and its Notification (a generic message) ask the same question
                return self._hook_result(names[0], mapped, False)
            question = question_of(payload) if target is AgentState.NEEDS_INPUT else None
            if target is AgentState.NEEDS_INPUT and question is None:
                question = f"{self.spec.label} is waiting for you"
            changed = self.observe(target, "hook", f"hook {names[0]}", question=question)
        return self._hook_result(names[0], mapped, changed)

    def _hook_result(self, event: str, mapped: str | None, changed: bool) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "event": event,
            "mapped": mapped,
            "changed": changed,
            "state": self.state.value,
        }

    # -- output (an OutputSink for core's pump) --------------------------------------------
    def start(self, sub: OutputSubscription) -> None:
        """Follow the pane's output; a TUI that prints nothing settles by quiescence too."""
        self._task = asyncio.get_running_loop().create_task(pump(sub, self))
        if self.state is AgentState.STARTING:
            self._arm_quiet()
        self._publish(
            "agent.state",
            {
                "id": self.id,
                "name": self.name,
                "agent": self.spec.name,
                "transport": "terminal",
                "pane_id": self.pane_id,
                **self._record(),
            },
        )  # the first state, already in transitions

    def data(self, chunk: bytes) -> bool:
        if self.final:
            return False
        if self.look is not None:
            self._arm_look()
        text = self._screen.feed(chunk)
        if not text.strip():
            return True  # cursor moves, a blinking cursor: no activity
        scan = self._carry + text
        self._carry = scan[scan.rfind("\n") + 1 :][-CARRY:]
        best: tuple[int, AgentState, re.Match[str]] | None = None
        for state, pattern in self._patterns:
            for match in pattern.finditer(scan):
                if best is None or match.end() > best[0]:
                    best = (match.end(), state, match)
        if best is not None:
            _, state, match = best
            if self._fallback_may(state):
                line_start = scan.rfind("\n", 0, match.start()) + 1
                line_end = scan.find("\n", match.end())
                line = scan[line_start : line_end if line_end >= 0 else None].strip(_FRAME)
                self.observe(
                    state,
                    "pattern",
                    f"pattern /{match.re.pattern}/",
                    question=line[:MAX_QUESTION] if state is AgentState.NEEDS_INPUT else None,
                )
        elif self._output_means_work():
            self.observe(AgentState.WORKING, "quiet", "output without a pattern")
        if self.state in (AgentState.STARTING, AgentState.WORKING) and self._fallback_may(
            AgentState.IDLE
        ):
            self._arm_quiet()
        return True

    def _output_means_work(self) -> bool:
        """Output no pattern knows: work, unless a hook or a pattern said more exactly
        (an idle prompt redrawn after a hook's Stop, a question a pattern saw)."""
        if not self._fallback_may(AgentState.WORKING):
            return False
        return self.state is AgentState.IDLE or (
            self.state is AgentState.NEEDS_INPUT and self.state_source != "pattern"
        )

    def gap(self, dropped_bytes: int) -> bool:
        self._carry = ""
        self._screen.reset()
        return not self.final

    def end(self, *, pane_gone: bool) -> None:
        self._cancel_quiet()
        if pane_gone:
            self.exited("its pane is gone")

    # -- quiescence ----------------------------------------------------------------------
    def _arm_quiet(self) -> None:
        loop = asyncio.get_running_loop()
        if self._quiet is not None:
            self._quiet.cancel()
        self._quiet = loop.call_later(self.spec.quiet_s, self._on_quiet)

    def _arm_look(self) -> None:
        """Any output (a goodbye, the screen restored) restarts the look's clock."""
        if self._look is not None:
            self._look.cancel()
        loop = asyncio.get_running_loop()
        self._look = loop.call_later(min(LOOK_AFTER_S, self.spec.quiet_s), self._look_now)

    def _cancel_quiet(self) -> None:
        if self._quiet is not None:
            self._quiet.cancel()
            self._quiet = None
        if self._look is not None:
            self._look.cancel()
            self._look = None

    def _look_now(self) -> None:
        self._look = None
        if self.look is not None and not self.final:
            self.look()

    def _on_quiet(self) -> None:
        self._quiet = None
        if self.state in (AgentState.STARTING, AgentState.WORKING) and self._fallback_may(
            AgentState.IDLE
        ):
            self.observe(
                AgentState.IDLE, "quiet", f"no output for {self.spec.quiet_s:g}s (quiescence)"
            )

    # -- the end ---------------------------------------------------------------------------
    def exited(self, reason: str) -> None:
        if not self.final:
            self.observe(AgentState.EXITED, "process", reason)

    def close(self) -> None:
        self._cancel_quiet()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
        self._task = None
