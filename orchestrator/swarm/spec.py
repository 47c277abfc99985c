"""A swarm as submitted: checked whole, and its strategy turned into plain dependencies,
before anything starts.

``swarm.submit {name?, tasks: [{id, command | prompt, agent_type?, agent?, cwd?, deps?,
timeout_s?, retries?, locks?: [{resource, mode}], host?}], strategy?, max_parallel?,
inputs?}``

Strategies (each becomes dependencies; the runner knows only those):

- ``parallel`` (default): the declared ``deps`` alone.
- ``sequential``: each task also depends on the one before it in the list.
- ``pipeline``: sequential, and each task's ``{input}`` is the output file of the one
  before it (chained outputs).
- ``map``: ``inputs`` is a list of texts; each task without ``deps`` is a template run once
  per input as ``<id>-<n>`` (n from 1) with ``{input}`` the input (shell-quoted in a
  command). A task with ``deps`` is not expanded; a dep on a template means all its runs
  (map, then reduce, in one swarm).
- ``reduce``: the last task depends on every other one; its ``{inputs}`` are their output
  files.

In every strategy ``{inputs}`` in a task with deps is the output files of its deps
(shell-quoted, space-separated), and ``{input}`` the first of them (or the map input).
A task's output file holds what its terminal kept of its output (orchestrator/executors).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from orchestrator.coordination.locks import LockManager
from orchflow_core.errors import InvalidArgumentError

STRATEGIES = ("parallel", "sequential", "map", "reduce", "pipeline")
MAX_TASKS = 1000
MAX_PARALLEL = 64
DEFAULT_MAX_PARALLEL = 8
MAX_RETRIES = 10
MAX_TIMEOUT_S = 24 * 3600.0
MAX_LOCKS = 16
MAX_NAME = 128
TASK_KEYS = frozenset(
    {"id", "command", "prompt", "agent_type", "agent", "cwd", "deps", "timeout_s", "retries"}
    | {"locks", "host"}
)
CwdCheck = Callable[[str | None], str]  # a task's cwd, absolute; InvalidArgumentError if bad
_ID = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass(slots=True)
class TaskSpec:
    id: str
    command: str | None = None
    prompt: str | None = None
    agent: str | None = None
    cwd: str | None = None
    deps: list[str] = field(default_factory=list)
    timeout_s: float | None = None
    retries: int = 0
    locks: list[tuple[str, str]] = field(default_factory=list)
    host: str | None = None
    input: str | None = None  # map: this run's input
    inputs_from: list[str] = field(default_factory=list)  # whose output files are {inputs}

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "command": self.command,
            "prompt": self.prompt,
            "agent": self.agent,
            "cwd": self.cwd,
            "deps": self.deps,
            "timeout_s": self.timeout_s,
            "retries": self.retries,
            "locks": [{"resource": r, "mode": m} for r, m in self.locks],
            "host": self.host,
            "input": self.input,
            "inputs_from": self.inputs_from,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TaskSpec:
        return cls(
            id=d["id"],
            command=d.get("command"),
            prompt=d.get("prompt"),
            agent=d.get("agent"),
            cwd=d.get("cwd"),
            deps=list(d.get("deps") or []),
            timeout_s=d.get("timeout_s"),
            retries=int(d.get("retries") or 0),
            locks=[(x["resource"], x["mode"]) for x in d.get("locks") or []],
            host=d.get("host"),
            input=d.get("input"),
            inputs_from=list(d.get("inputs_from") or []),
        )


@dataclass(slots=True)
class SwarmSpec:
    name: str
    strategy: str
    max_parallel: int
    tasks: list[TaskSpec]


def _bad(message: str, where: str) -> InvalidArgumentError:
    return InvalidArgumentError(message, param=where)


def _text(raw: dict[str, Any], key: str, where: str) -> str | None:
    value = raw.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or "\x00" in value:
        raise _bad(f"{where}.{key} must be non-empty text without NUL, got {value!r}", where)
    return value


def _number(raw: dict[str, Any], key: str, where: str, high: float) -> float | None:
    value = raw.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= high:
        raise _bad(
            f"{where}.{key} must be a number of seconds > 0 and <= {high:g}, got {value!r}", where
        )
    return float(value)


def _task(raw: Any, i: int, *, resolve_cwd: CwdCheck | None) -> TaskSpec:
    where = f"tasks[{i}]"
    if not isinstance(raw, dict):
        raise _bad(f"{where} must be an object {{id, command | prompt, ...}}, got {raw!r}", where)
    unknown = sorted(set(raw) - TASK_KEYS)
    if unknown:
        raise _bad(
            f"{where}: unknown field {unknown[0]!r} (expected: {', '.join(sorted(TASK_KEYS))})",
            f"{where}.{unknown[0]}",
        )
    tid = raw.get("id")
    if not isinstance(tid, str) or not _ID.match(tid):
        raise _bad(
            f"{where}.id must be 1-64 letters, digits, '.', '-' or '_', got {tid!r}", f"{where}.id"
        )
    where = f"task {tid!r}"
    command, prompt = _text(raw, "command", where), _text(raw, "prompt", where)
    if (command is None) == (prompt is None):
        raise _bad(
            f"{where} needs exactly one of command (a shell command line) or prompt (text for"
            f" an AI agent), got {'both' if command else 'neither'}",
            where,
        )
    agent = _text(raw, "agent", where)
    agent_type = _text(raw, "agent_type", where)
    if prompt is not None and agent is None:
        raise _bad(f"{where}: a prompt task needs agent (a name from agent.registry)", where)
    if command is not None and (agent is not None or agent_type is not None):
        raise _bad(f"{where}: agent and agent_type go with prompt, not command", where)
    if agent_type not in (None, "ai"):
        raise _bad(f"{where}.agent_type must be 'ai' (an AI agent), got {agent_type!r}", where)
    deps = raw.get("deps") or []
    if not isinstance(deps, list) or not all(isinstance(d, str) for d in deps):
        raise _bad(f"{where}.deps must be a list of task ids, got {deps!r}", where)
    retries = raw.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise _bad(f"{where}.retries must be an integer 0..{MAX_RETRIES}, got {retries!r}", where)
    locks_raw = raw.get("locks") or []
    if not isinstance(locks_raw, list) or len(locks_raw) > MAX_LOCKS:
        raise _bad(f"{where}.locks must be a list of at most {MAX_LOCKS} {{resource, mode}}", where)
    locks: list[tuple[str, str]] = []
    for lock in locks_raw:
        if not isinstance(lock, dict) or set(lock) - {"resource", "mode"}:
            raise _bad(f"{where}.locks: each lock is {{resource, mode}}, got {lock!r}", where)
        resource = LockManager.check_resource(str(lock.get("resource", "")))
        mode = LockManager.check_mode(str(lock.get("mode", "exclusive"))).value
        locks.append((resource, mode))
    return TaskSpec(
        id=tid,
        command=command,
        prompt=prompt,
        agent=agent,
        cwd=_cwd(_text(raw, "cwd", where), resolve_cwd, where),
        deps=list(dict.fromkeys(deps)),
        timeout_s=_number(raw, "timeout_s", where, MAX_TIMEOUT_S),
        retries=retries,
        locks=locks,
        host=_text(raw, "host", where),
    )


def _cwd(cwd: str | None, resolve: CwdCheck | None, where: str) -> str | None:
    if resolve is None:
        return cwd
    try:
        return resolve(cwd)
    except InvalidArgumentError as exc:
        raise _bad(f"{where}: {exc.message}", f"{where}.cwd") from None


def parse(params: dict[str, Any], *, resolve_cwd: CwdCheck | None = None) -> SwarmSpec:
    """The checked swarm with its strategy expanded; InvalidArgumentError naming the bad
    value otherwise (nothing is started or stored by this)."""
    strategy = params.get("strategy") or "parallel"
    if strategy not in STRATEGIES:
        raise _bad(f"strategy must be one of {', '.join(STRATEGIES)}, got {strategy!r}", "strategy")
    name = params.get("name") or ""
    if not isinstance(name, str) or len(name) > MAX_NAME or "\x00" in name:
        raise _bad(f"name must be text of at most {MAX_NAME} characters, got {name!r}", "name")
    raw_tasks = params.get("tasks")
    if not isinstance(raw_tasks, list) or not raw_tasks:
        raise _bad("tasks must be a non-empty list of {id, command | prompt, ...}", "tasks")
    if len(raw_tasks) > MAX_TASKS:
        raise _bad(
            f"a swarm has at most {MAX_TASKS} tasks, got {len(raw_tasks)}; split it into"
            " several swarms",
            "tasks",
        )
    tasks = [_task(t, i, resolve_cwd=resolve_cwd) for i, t in enumerate(raw_tasks)]
    seen: set[str] = set()
    for t in tasks:
        if t.id in seen:
            raise _bad(f"task id {t.id!r} is used twice", "tasks")
        seen.add(t.id)
    inputs = params.get("inputs")
    if strategy == "map":
        if (
            not isinstance(inputs, list)
            or not inputs
            or not all(isinstance(x, str) for x in inputs)
        ):
            raise _bad("strategy map needs inputs: a non-empty list of texts", "inputs")
        tasks = _map(tasks, inputs)
    elif inputs is not None:
        raise _bad(f"inputs go with strategy map, not {strategy!r}", "inputs")
    if strategy in ("sequential", "pipeline"):
        for before, t in itertools.pairwise(tasks):
            if before.id not in t.deps:
                t.deps.append(before.id)
            if strategy == "pipeline":
                t.inputs_from = [before.id]
    elif strategy == "reduce":
        if len(tasks) < 2:
            raise _bad(
                "strategy reduce needs at least two tasks (inputs, then the reducer)", "tasks"
            )
        last = tasks[-1]
        last.deps = list(dict.fromkeys([*last.deps, *(t.id for t in tasks[:-1])]))
    for t in tasks:
        if not t.inputs_from:
            t.inputs_from = list(t.deps)
    if len(tasks) > MAX_TASKS:
        raise _bad(
            f"a swarm has at most {MAX_TASKS} tasks; map made {len(tasks)} of these inputs",
            "inputs",
        )
    _check_graph(tasks)
    max_parallel = params.get("max_parallel", DEFAULT_MAX_PARALLEL)
    if max_parallel is None:
        max_parallel = DEFAULT_MAX_PARALLEL
    if (
        isinstance(max_parallel, bool)
        or not isinstance(max_parallel, int)
        or not (1 <= max_parallel <= MAX_PARALLEL)
    ):
        raise _bad(
            f"max_parallel must be an integer 1..{MAX_PARALLEL} (tasks running at once),"
            f" got {max_parallel!r}",
            "max_parallel",
        )
    return SwarmSpec(name=name, strategy=strategy, max_parallel=max_parallel, tasks=tasks)


def _map(tasks: list[TaskSpec], inputs: list[str]) -> list[TaskSpec]:
    import shlex

    out: list[TaskSpec] = []
    runs: dict[str, list[str]] = {}
    for t in tasks:
        if t.deps:
            continue
        runs[t.id] = []
        for n, item in enumerate(inputs, 1):
            copy = TaskSpec.from_dict(t.to_dict())
            copy.id = f"{t.id}-{n}"
            copy.input = item
            if copy.command is not None:
                copy.command = copy.command.replace("{input}", shlex.quote(item))
            if copy.prompt is not None:
                copy.prompt = copy.prompt.replace("{input}", item)
            runs[t.id].append(copy.id)
            out.append(copy)
    for t in tasks:
        if t.deps:
            t.deps = [d for dep in t.deps for d in runs.get(dep, [dep])]
            out.append(t)
    return out


def _check_graph(tasks: list[TaskSpec]) -> None:
    ids = {t.id for t in tasks}
    for t in tasks:
        for d in t.deps:
            if d not in ids:
                raise _bad(
                    f"task {t.id!r} depends on unknown task {d!r} (tasks: "
                    f"{', '.join(sorted(ids)[:20])}{' ...' if len(ids) > 20 else ''})",
                    "tasks",
                )
            if d == t.id:
                raise _bad(f"task {t.id!r} depends on itself", "tasks")
    deps = {t.id: t.deps for t in tasks}
    color: dict[str, int] = {}  # 1: on the path, 2: done
    for root in deps:
        if color.get(root):
            continue
        path: list[str] = []
        stack: list[tuple[str, int]] = [(root, 0)]
        while stack:
            node, i = stack.pop()
            if i == 0:
                color[node] = 1
                path.append(node)
            if i < len(deps[node]):
                stack.append((node, i + 1))
                nxt = deps[node][i]
                if color.get(nxt) == 1:
                    cycle = [*path[path.index(nxt) :], nxt]
                    raise _bad(
                        "dependency cycle: " + " -> ".join(cycle) + " (each needs the next"
                        " to finish first)",
                        "tasks",
                    )
                if not color.get(nxt):
                    stack.append((nxt, 0))
            else:
                color[node] = 2
                path.pop()
