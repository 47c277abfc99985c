"""Rules (the Protocol System): what a rule is, the ones that ship, and how a set of them
decides about one command.

A rule = a pattern on the command or prompt text (``kind`` ``shell``: shellmatch.py; or
``regex``: Python ``re``, searched anywhere in the text), an ``action`` (``block``,
``confirm``, ``warn``), a ``message`` and a ``scope``: the ``origins`` it applies to
(user, agent, swarm, schedule, mcp; default all), the ``pane_types`` (default all) and the
``modes`` (default: whatever mode, or none; a rule that names modes applies only while one
of them is given). When several rules match, the strictest action wins (block, then
confirm, then warn); among equals the first in order (defaults, the user's config, the
user's rules.toml, rules added with ``protocol.add``, the project's ``.orchflow/rules.toml``).

Rule files are TOML, read as data (nothing in them runs)::

    [[rules]]
    id = "no-drop-db"             # optional; default: derived from the pattern
    pattern = "psql * -c *DROP*"
    kind = "shell"                # or "regex" (default "shell")
    action = "confirm"            # block | confirm | warn
    message = "dropping a database"
    origins = ["agent", "user"]   # optional scope
    pane_types = ["shell"]
    modes = ["tdd"]

A regex that can backtrack exponentially (a quantified group that itself holds an unbounded
quantifier, ``(a+)+``) is refused: it would freeze the process that checks commands.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from orchflow_core.protocol.shellmatch import (
    ShellPattern,
    ShellPatternError,
    SimpleCommand,
    parse_command_line,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_RULES",
    "KINDS",
    "MODE_RULES",
    "ORIGINS",
    "Rule",
    "RuleError",
    "RuleSet",
    "Verdict",
    "catastrophic_reason",
    "rule_from_dict",
]

ORIGINS = ("user", "agent", "swarm", "schedule", "mcp")
ACTIONS = ("block", "confirm", "warn")
KINDS = ("shell", "regex")
_STRICTNESS = {"block": 3, "confirm": 2, "warn": 1}
_FIELDS = ("id", "pattern", "kind", "action", "message", "origins", "pane_types", "modes")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
MAX_PATTERN = 2000


class RuleError(ValueError):
    """A rule that cannot be used: the message names the field and what would be right."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


@dataclass(slots=True)
class Rule:
    id: str
    pattern: str
    kind: str
    action: str
    message: str
    origins: tuple[str, ...] = ()
    pane_types: tuple[str, ...] = ()
    modes: tuple[str, ...] = ()
    source: str = "default"  # "default", "config", "user", or the file it came from
    line: int | None = None  # its line in that file, when known
    removable: bool = False  # added with protocol.add (protocol.remove takes it away)
    _shell: ShellPattern | None = field(default=None, repr=False, compare=False)
    _regex: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def compile(self, root: str | None) -> None:
        if self.kind == "shell":
            self._shell = ShellPattern.compile(self.pattern, root=root)
        else:
            self._regex = re.compile(self.pattern)

    def applies(
        self,
        origin: str,
        pane_type: str | None,
        mode: str | None,
        turned_on: frozenset[str] = frozenset(),
    ) -> bool:
        """``turned_on``: rule ids the active mode names (in force whatever their modes)."""
        if self.origins and origin not in self.origins:
            return False
        if self.pane_types and pane_type not in self.pane_types:
            return False
        return not self.modes or mode in self.modes or self.id in turned_on

    def matches(self, text: str, commands: list[SimpleCommand]) -> bool:
        if self._shell is not None:
            return self._shell.match_commands(commands)
        assert self._regex is not None, "compile() first"
        return self._regex.search(text) is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "pattern": self.pattern,
            "kind": self.kind,
            "action": self.action,
            "message": self.message,
            "scope": {
                "origins": list(self.origins),
                "pane_types": list(self.pane_types),
                "modes": list(self.modes),
            },
            "source": self.source,
            "line": self.line,
            "removable": self.removable,
        }


@dataclass(frozen=True, slots=True)
class Verdict:
    action: str  # allow | block | confirm | warn
    rule: Rule | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"action": self.action}
        if self.rule is not None:
            out["rule"] = self.rule.id
            out["message"] = self.rule.message
            out["source"] = self.rule.source
        return out


ALLOW = Verdict("allow")

_SHELLS = "sh|bash|zsh|dash|ksh|fish"
DEFAULT_RULES: tuple[dict[str, Any], ...] = (
    {
        "id": "no-force-push-main",
        "pattern": "git push -f|--force|--force-with-lease|--force-if-includes"
        " main|master|*:main|*:master|*:refs/heads/main|*:refs/heads/master",
        "action": "block",
        "message": "no force-push to main or master: push a branch and open a review",
    },
    {
        "id": "no-force-push-main-refspec",
        "pattern": "git push +main|+master|+*:main|+*:master|+*:refs/heads/main"
        "|+*:refs/heads/master",
        "action": "block",
        "message": "no force-push (+refspec) to main or master: push a branch and open a review",
    },
    {
        "id": "no-rm-rf-root",
        "pattern": "rm -r|-R|--recursive -f|--force"
        " /|/[*]|/.|~|~/|~/[*]|$HOME|$HOME/|$HOME/[*]|${HOME}|${HOME}/|{root}|{root}/|{root}/[*]",
        "action": "block",
        "message": "no rm -rf of /, your home or the project root",
    },
    {
        "id": "no-curl-pipe-shell",
        "pattern": f"curl|wget | {_SHELLS}|sudo",
        "action": "block",
        "message": "no piping a download into a shell: download it, read it, then run it",
    },
)

# Rules that ship for the modes (orchflow_core/modes/builtin): in force only while a mode
# names them (by ``modes`` here, or by id in the mode file's ``rules``).
MODE_RULES: tuple[dict[str, Any], ...] = (
    {
        "id": "no-verify-commit",
        "pattern": "git commit -n|--no-verify",
        "action": "block",
        "message": "while test-driven or refactoring, commits run their hooks: no --no-verify",
        "modes": ["tdd", "refactor"],
    },
    {
        "id": "no-commit-while-reviewing",
        "pattern": "git commit|push|merge|rebase|cherry-pick|am",
        "action": "confirm",
        "message": "a review reads and comments; changing history waits until the mode is off",
        "modes": ["review"],
    },
    {
        "id": "keep-evidence-reset",
        "pattern": "git reset --hard",
        "action": "confirm",
        "message": "while debugging, a hard reset throws away the state that shows the bug",
        "modes": ["debug"],
    },
    {
        "id": "keep-evidence-clean",
        "pattern": "git clean -f|--force",
        "action": "confirm",
        "message": "while debugging, git clean deletes files that may show the bug",
        "modes": ["debug"],
    },
    {
        "id": "no-world-writable",
        "pattern": "chmod 777|666|a+w|o+w|a+rwx|o+rwx|ugo+rwx",
        "action": "block",
        "message": "security mode: nothing world-writable",
        "modes": ["security"],
    },
    {
        "id": "confirm-network-transfer",
        "pattern": "curl|wget|scp|rsync|nc|ncat",
        "action": "confirm",
        "message": "security mode: a network transfer is confirmed first",
        "modes": ["security"],
    },
)


def _strings(value: Any, name: str, allowed: Iterable[str] | None = None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        raise RuleError(f"{name} must be a list of strings, got {value!r}", field=name)
    if allowed is not None:
        allowed = tuple(allowed)
        bad = [v for v in value if v not in allowed]
        if bad:
            raise RuleError(f"{name}: {bad[0]!r} is not one of {', '.join(allowed)}", field=name)
    return tuple(value)


def _derived_id(pattern: str) -> str:
    return "rule-" + hashlib.sha256(pattern.encode()).hexdigest()[:8]


def rule_from_dict(
    data: Mapping[str, Any],
    *,
    source: str,
    line: int | None = None,
    root: str | None = None,
) -> Rule:
    """A checked and compiled rule; RuleError names the bad field and what is allowed."""
    if not isinstance(data, Mapping):
        raise RuleError(f"a rule must be a table, got {type(data).__name__}")
    unknown = sorted(set(data) - set(_FIELDS) - {"scope"})
    if unknown:
        raise RuleError(
            f"unknown field {unknown[0]!r} (a rule has: {', '.join(_FIELDS)})", field=unknown[0]
        )
    scope = data.get("scope") or {}
    if not isinstance(scope, Mapping):
        raise RuleError(f"scope must be a table, got {scope!r}", field="scope")
    bad_scope = sorted(set(scope) - {"origins", "pane_types", "modes"})
    if bad_scope:
        raise RuleError(
            f"unknown scope field {bad_scope[0]!r} (expected origins, pane_types, modes)",
            field="scope",
        )
    pattern = data.get("pattern")
    if not isinstance(pattern, str) or not pattern.strip():
        raise RuleError(f"pattern must be non-empty text, got {pattern!r}", field="pattern")
    if len(pattern) > MAX_PATTERN:
        raise RuleError(f"pattern is longer than {MAX_PATTERN} characters", field="pattern")
    kind = data.get("kind", "shell")
    if kind not in KINDS:
        raise RuleError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}", field="kind")
    action = data.get("action")
    if action not in ACTIONS:
        raise RuleError(
            f"action must be one of {', '.join(ACTIONS)}, got {action!r}", field="action"
        )
    message = data.get("message")
    if not isinstance(message, str) or not message.strip():
        raise RuleError(
            f"message must be non-empty text (what the user is told), got {message!r}",
            field="message",
        )
    rule_id = data.get("id") or _derived_id(pattern)
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise RuleError(f"id {rule_id!r}: use 1-64 letters, digits, '-', '_' or '.'", field="id")
    rule = Rule(
        id=rule_id,
        pattern=pattern,
        kind=kind,
        action=action,
        message=message.strip(),
        origins=_strings(scope.get("origins", data.get("origins")), "origins", ORIGINS),
        pane_types=_strings(scope.get("pane_types", data.get("pane_types")), "pane_types"),
        modes=_strings(scope.get("modes", data.get("modes")), "modes"),
        source=source,
        line=line,
    )
    if kind == "regex":
        why = catastrophic_reason(pattern)
        if why is not None:
            raise RuleError(f"regex {pattern!r} refused: {why}", field="pattern")
    try:
        rule.compile(root)
    except re.error as exc:
        raise RuleError(f"regex {pattern!r} is invalid: {exc}", field="pattern") from None
    except ShellPatternError as exc:
        raise RuleError(f"shell pattern: {exc}", field="pattern") from None
    return rule


def catastrophic_reason(pattern: str) -> str | None:
    """Why ``pattern`` can backtrack exponentially, or None.

    Static: a repeat (``*``, ``+``, ``{n,}``, ``{n,m}`` with m > 1) over something that
    itself holds an unbounded repeat, e.g. ``(a+)+``, ``(a*)*``, ``(\\w+\\s?)*``. Also
    back-references, which ``re`` may backtrack on without bound. A pattern that does not
    compile is left to ``re.compile`` to name.
    """
    from re import _parser as sre_parse  # type: ignore[attr-defined]  # re's own parser

    try:
        tree = sre_parse.parse(pattern)
    except re.error:
        return None
    repeats = {sre_parse.MAX_REPEAT, sre_parse.MIN_REPEAT}
    unbounded = sre_parse.MAXREPEAT

    def walk(items: Any, inside_repeat: bool) -> str | None:
        for op, av in items:
            if op in repeats:
                _low, high, sub = av
                if inside_repeat and high == unbounded:
                    return (
                        "a repeated group holds an unbounded repeat (like (a+)+), which can"
                        " take exponential time; write it with one repeat (a+)"
                    )
                found = walk(sub, inside_repeat or high > 1)
                if found:
                    return found
            elif op is sre_parse.GROUPREF or op is sre_parse.GROUPREF_EXISTS:
                return "back-references can take exponential time; use a plain pattern"
            elif op is sre_parse.SUBPATTERN:
                found = walk(av[-1], inside_repeat)
                if found:
                    return found
            elif op is sre_parse.BRANCH:
                for branch in av[1]:
                    found = walk(branch, inside_repeat)
                    if found:
                        return found
            elif op in (sre_parse.ASSERT, sre_parse.ASSERT_NOT):
                found = walk(av[1], inside_repeat)
                if found:
                    return found
        return None

    return walk(tree, False)


class RuleSet:
    """Rules in order, checked against one command (``check``).

    Built once per change of the rules: shell rules are indexed by the program names their
    first command names (a rule for ``git`` is not tried on ``ls``; a program given as a
    glob is tried on all), and the regexes are joined into one that must match before any
    is tried alone. So a check costs one parse of the command and a few dictionary
    lookups, whatever the number of rules (benchmarks/bench_rules.py).
    """

    def __init__(self, rules: Iterable[Rule]) -> None:
        self.rules: list[Rule] = list(rules)
        self._by_program: dict[str, list[int]] = {}
        self._any_program: list[int] = []
        self._regexes: list[int] = []
        for k, rule in enumerate(self.rules):
            if rule._shell is not None:
                names = rule._shell.parts[0].programs
                if any(set(n) & set("*?[") for n in names):
                    self._any_program.append(k)
                else:
                    for name in names:
                        self._by_program.setdefault(name, []).append(k)
            else:
                self._regexes.append(k)
        self._any_shell = bool(self._by_program or self._any_program)
        self._joined: re.Pattern[str] | None = None
        if len(self._regexes) > 1:
            try:
                self._joined = re.compile(
                    "|".join(f"(?:{self.rules[k].pattern})" for k in self._regexes)
                )
            except re.error:  # inline flags or names that cannot share one pattern
                self._joined = None

    def __len__(self) -> int:
        return len(self.rules)

    def _candidates(self, text: str, commands: list[SimpleCommand]) -> list[int]:
        found: set[int] = set(self._any_program)
        for cmd in commands:
            found.update(self._by_program.get(cmd.program, ()))
        if self._regexes and (self._joined is None or self._joined.search(text)):
            found.update(self._regexes)
        return sorted(found)

    def check(
        self,
        text: str,
        *,
        origin: str = "user",
        pane_type: str | None = None,
        mode: str | None = None,
        turned_on: frozenset[str] = frozenset(),
    ) -> Verdict:
        """The strictest matching rule's action, or allow."""
        commands = parse_command_line(text) if self._any_shell else []
        best: Verdict = ALLOW
        for k in self._candidates(text, commands):
            rule = self.rules[k]
            if not rule.applies(origin, pane_type, mode, turned_on):
                continue
            if best.rule is not None and _STRICTNESS[rule.action] <= _STRICTNESS[best.action]:
                continue
            if rule.matches(text, commands):
                best = Verdict(rule.action, rule)
                if rule.action == "block":
                    break
        return best
