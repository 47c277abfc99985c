"""RuleBook: every rule in effect for one process, and the one check every command crosses.

Sources, in order (rules.py says how they combine):

1. the rules that ship (``DEFAULT_RULES``), less those named in ``protocol.disable``;
2. ``[[rules]]`` in config.toml (or ``setup({ rules = {...} })``);
3. ``rules.toml`` next to config.toml (the user's config dir);
3b. rules that enabled modules contribute (``contributes.rules``, source ``module <name>``);
4. rules added with ``protocol.add``, kept in SQLite (``protocol_rules``, shared by the
   Neovim host and the orchestrator: one adds, both obey);
5. the project's ``.orchflow/rules.toml`` (read as data; it can add rules, never remove or
   weaken one: the strictest matching rule wins).

A file is read again when it changes (its size, mtime or inode), the SQLite rules when
their generation counter moved. A rule file with a syntax error or a bad rule is reported
by ``problems`` (file and line) and the rest of it, and every other source, still loads.

``enforce`` is what ``TerminalManager.send``/``run`` call: ``block`` raises
``PermissionDeniedError``; ``confirm`` raises it too, with a one-time ``confirm`` token when
the origin is ``user`` (Neovim asks, then sends the same command again with the token), or
says the origin cannot be asked; ``warn`` publishes ``rule.warned`` and lets it run.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import sqlite3
import time
import tomllib
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core.errors import InvalidArgumentError, NotFoundError, PermissionDeniedError
from orchflow_core.protocol.rules import (
    DEFAULT_RULES,
    MODE_RULES,
    ORIGINS,
    Rule,
    RuleError,
    RuleSet,
    Verdict,
    rule_from_dict,
)

if TYPE_CHECKING:
    from orchflow_core.events import EventBus
    from orchflow_core.store.database import Database

log = logging.getLogger(__name__)

PROJECT_RULES = Path(".orchflow") / "rules.toml"
CONFIRM_TTL_S = 300.0
MAX_TOKENS = 64
MAX_USER_RULES = 1000

DbGetter = Callable[[], Awaitable["Database"]]
# name given (or None: the active one) -> (mode, rule ids it turns on) or None (no mode)
ModeSource = Callable[[str | None], Awaitable[tuple[str, frozenset[str]] | None]]
ModuleRules = Callable[[], Awaitable[tuple[int, list[tuple[str, dict[str, Any]]]]]]


@dataclass(frozen=True, slots=True)
class _Stamp:
    size: int
    mtime_ns: int
    inode: int


def _stamp(path: Path) -> _Stamp | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return _Stamp(st.st_size, st.st_mtime_ns, st.st_ino)


def read_rules_file(path: Path, *, root: str | None) -> tuple[list[Rule], list[str]]:
    """The rules of a TOML rules file and the problems found (``file:line: why``).

    Each ``[[rules]]`` block is read on its own, so a syntax error costs only its block:
    the problem names the file and the line, and the other blocks still load.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return [], []
    except (OSError, UnicodeDecodeError) as exc:
        return [], [f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}"]
    lines = text.splitlines(keepends=True)
    starts = [i for i, line in enumerate(lines) if re.match(r"^\s*\[\[\s*rules\s*\]\]", line)]
    rules: list[Rule] = []
    problems: list[str] = []
    header = "".join(lines[: starts[0]] if starts else lines)
    try:
        top = tomllib.loads(header)
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}:{_error_line(exc, 0)}: invalid TOML: {_bare(exc)}")
    else:
        if top:
            problems.append(
                f"{path}:1: unexpected {', '.join(sorted(top))}: a rules file holds only"
                " [[rules]] tables"
            )
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        block = "".join(lines[start:end])
        try:
            data = tomllib.loads(block)
        except tomllib.TOMLDecodeError as exc:
            problems.append(f"{path}:{_error_line(exc, start)}: invalid TOML: {_bare(exc)}")
            continue
        for entry in data.get("rules", []):
            try:
                rules.append(rule_from_dict(entry, source=str(path), line=start + 1, root=root))
            except RuleError as exc:
                problems.append(f"{path}:{start + 1}: {exc}")
        extra = sorted(set(data) - {"rules"})
        if extra:
            problems.append(f"{path}:{start + 1}: unexpected {extra[0]!r} in a [[rules]] block")
    return rules, problems


def _error_line(exc: tomllib.TOMLDecodeError, offset: int) -> int:
    found = re.search(r"at line (\d+)", str(exc))
    return offset + (int(found.group(1)) if found else 1)


def _bare(exc: tomllib.TOMLDecodeError) -> str:
    return re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))


def _digest(what: str, pane: str, text: str) -> str:
    return hashlib.sha256(f"{what}\0{pane}\0{text}".encode()).hexdigest()


class RuleBook:
    def __init__(
        self,
        *,
        config: dict[str, Any],
        config_dir: Path,
        project_root: Callable[[], Path],
        db: DbGetter,
        events: EventBus,
        modes: ModeSource | None = None,
        module_rules: ModuleRules | None = None,
    ) -> None:
        self._modes = modes
        self._module_rules = module_rules
        self._module_list: list[tuple[str, dict[str, Any]]] = []
        self._config = config
        self._config_dir = config_dir
        self._project_root = project_root
        self._db = db
        self.events = events
        self._set: RuleSet | None = None
        self._key: tuple[Any, ...] | None = None
        self.problems: list[str] = []
        self._tokens: OrderedDict[str, tuple[str, float]] = OrderedDict()

    def set_config(self, config: dict[str, Any]) -> None:
        """New effective config (setup() again): its rules count from the next check."""
        self._config, self._key = config, None

    # -- loading -------------------------------------------------------------------------
    def _files(self) -> tuple[Path, Path]:
        return self._config_dir / "rules.toml", self._project_root() / PROJECT_RULES

    async def _generation(self) -> int:
        """The stored rules' generation: kept in memory until anything is committed to the
        database (Database.memo), so a check does not pay a worker-thread hop for it."""
        db = await self._db()

        async def read() -> int:
            row = await db.fetchone("SELECT value FROM protocol_meta WHERE key = 'generation'")
            return int(row[0]) if row is not None else 0

        return await db.memo("protocol_meta.generation", read)

    async def ruleset(self) -> RuleSet:
        """The rules in effect now (re-read what changed since the last call)."""
        user_file, project_file = self._files()
        generation = -1
        if self._module_rules is not None:
            generation, self._module_list = await self._module_rules()
        key = (
            generation,
            id(self._config),
            str(project_file),
            _stamp(user_file),
            _stamp(project_file),
            await self._generation(),
        )
        if self._set is None or key != self._key:
            self._set = await self._load(user_file, project_file)
            self._key = key
        return self._set

    async def _load(self, user_file: Path, project_file: Path) -> RuleSet:
        root = str(self._project_root())
        rules: list[Rule] = []
        problems: list[str] = []
        disabled = set(self._config.get("protocol", {}).get("disable") or [])
        known = {d["id"] for d in (*DEFAULT_RULES, *MODE_RULES)}
        for name in sorted(disabled - known):
            problems.append(
                f"protocol.disable: {name!r} is not a rule that ships ({', '.join(sorted(known))})"
            )
        for data in (*DEFAULT_RULES, *MODE_RULES):
            if data["id"] not in disabled:
                rules.append(rule_from_dict(data, source="default", root=root))
        for n, data in enumerate(self._config.get("rules") or []):
            try:
                rules.append(rule_from_dict(data, source="config", root=root))
            except RuleError as exc:
                problems.append(f"config rules[{n + 1}]: {exc}")
        for module, data in self._module_list:
            try:
                rules.append(rule_from_dict(data, source=f"module {module}", root=root))
            except RuleError as exc:
                problems.append(f"module {module} rules: {exc}")
        for path in (user_file,):
            found, bad = read_rules_file(path, root=root)
            rules += found
            problems += bad
        for row in await self._stored():
            try:
                rule = rule_from_dict(_row_dict(row), source="user", root=root)
            except RuleError as exc:  # e.g. a newer orchflow wrote a field we do not know
                problems.append(f"stored rule {row['id']}: {exc}")
                continue
            rule.removable = True
            rules.append(rule)
        found, bad = read_rules_file(project_file, root=root)
        rules += found
        problems += bad
        kept, dropped = _unique(rules)
        for rule in dropped:
            where = f"{rule.source}:{rule.line}" if rule.line else rule.source
            problems.append(
                f"{where}: rule id {rule.id!r} is taken by an earlier rule; this one is left out"
                " (give it another id)"
            )
        for problem in problems:
            log.warning("rules: %s", problem)
        self.problems = problems
        return RuleSet(kept)

    async def _stored(self) -> list[sqlite3.Row]:
        db = await self._db()
        return await db.fetchall("SELECT * FROM protocol_rules ORDER BY created_at, id")

    # -- the API ---------------------------------------------------------------------------
    async def check(
        self,
        command: str,
        *,
        origin: str = "user",
        pane_type: str | None = None,
        mode: str | None = None,
    ) -> Verdict:
        """``mode``: answer as if that mode were active; None: the project's active mode
        (its scoped rules and the rule ids it names are in force)."""
        _check_origin(origin)
        rules = await self.ruleset()
        turned_on: frozenset[str] = frozenset()
        if self._modes is not None:
            active = await self._modes(mode)
            if active is not None:
                mode, turned_on = active
        return rules.check(
            command, origin=origin, pane_type=pane_type, mode=mode, turned_on=turned_on
        )

    async def enforce(
        self,
        command: str,
        *,
        origin: str,
        what: str,
        pane: str,
        pane_name: str,
        pane_type: str | None = None,
        mode: str | None = None,
        confirm: str | None = None,
    ) -> Verdict:
        """Raise PermissionDeniedError if ``command`` may not go to ``pane`` (``what``: the
        operation, e.g. "run" or "send"); publish ``rule.warned`` for a warning."""
        verdict = await self.check(command, origin=origin, pane_type=pane_type, mode=mode)
        rule = verdict.rule
        if rule is None:
            return verdict
        data: dict[str, Any] = {
            "rule": rule.id,
            "action": rule.action,
            "source": rule.source,
            "origin": origin,
            "command": command,
            "pane": pane,
        }
        log.info("rule %s (%s) on a command from %s to %s", rule.id, rule.action, origin, pane_name)
        log.debug("rule %s matched %r", rule.id, command)
        if verdict.action == "block":
            raise PermissionDeniedError(
                f"blocked by rule {rule.id}: {rule.message} ({command!r} was not sent to"
                f" {pane_name})",
                **data,
            )
        if verdict.action == "confirm":
            digest = _digest(what, pane, command)
            if confirm is not None and self._take_token(confirm, digest):
                return verdict
            if origin != "user":
                raise PermissionDeniedError(
                    f"rule {rule.id} needs a confirmation ({rule.message}) and a command from"
                    f" {'an' if origin[0] in 'aeiou' else 'a'} {origin} cannot be asked: refused",
                    **data,
                )
            if confirm is not None:
                raise PermissionDeniedError(
                    f"the confirmation given does not fit {command!r} (unknown, used or"
                    " expired, or for another command): confirm again",
                    **data,
                )
            data["confirm"] = self._issue_token(digest)
            raise PermissionDeniedError(
                f"rule {rule.id} asks for confirmation: {rule.message}", **data
            )
        self.events.publish(
            "rule.warned",
            rule=rule.id,
            message=rule.message,
            source=rule.source,
            origin=origin,
            command=command,
            pane=pane,
            pane_name=pane_name,
        )
        return verdict

    def _issue_token(self, digest: str) -> str:
        now = time.monotonic()
        for token, (_, expires) in list(self._tokens.items()):
            if expires < now:
                del self._tokens[token]
        while len(self._tokens) >= MAX_TOKENS:
            self._tokens.popitem(last=False)
        token = secrets.token_urlsafe(24)
        self._tokens[token] = (digest, now + CONFIRM_TTL_S)
        return token

    def _take_token(self, token: str, digest: str) -> bool:
        """True once for a live token issued for exactly this command (used up even when
        it does not fit: a token is never tried twice)."""
        entry = self._tokens.pop(token, None) if isinstance(token, str) else None
        if entry is None:
            return False
        want, expires = entry
        return expires >= time.monotonic() and hmac.compare_digest(want, digest)

    async def list(self) -> dict[str, Any]:
        rules = await self.ruleset()
        user_file, project_file = self._files()
        return {
            "rules": [r.to_dict() for r in rules.rules],
            "problems": list(self.problems),
            "files": {"user": str(user_file), "project": str(project_file)},
        }

    async def add(self, data: dict[str, Any]) -> dict[str, Any]:
        """Check, compile and store a rule (``protocol.add``); a regex is also run against
        hostile input in a child process, time-boxed, before it is accepted."""
        from orchflow_core.protocol.probe import probe_regex

        try:
            rule = rule_from_dict(data, source="user", root=str(self._project_root()))
        except RuleError as exc:
            raise InvalidArgumentError(str(exc), param=exc.field or "rule") from None
        if rule.kind == "regex":
            await probe_regex(rule.pattern)
        current = await self.ruleset()
        clash = next((r for r in current.rules if r.id == rule.id), None)
        if clash is not None:
            from orchflow_core.errors import ConflictError

            raise ConflictError(
                f"a rule {rule.id!r} exists already (from {clash.source}); give another id",
                id=rule.id,
            )
        stored = sum(1 for r in current.rules if r.removable)
        if stored >= MAX_USER_RULES:
            raise InvalidArgumentError(
                f"{MAX_USER_RULES} rules are stored already; remove some first", param="pattern"
            )
        row = rule.to_dict()
        now = time.time()

        def write(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO protocol_rules(id, pattern, kind, action, message, origins,"
                " pane_types, modes, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    rule.id,
                    rule.pattern,
                    rule.kind,
                    rule.action,
                    rule.message,
                    "\n".join(rule.origins),
                    "\n".join(rule.pane_types),
                    "\n".join(rule.modes),
                    now,
                ),
            )
            _bump(conn)

        await (await self._db()).transaction(write)
        self._key = None
        row["removable"] = True
        return row

    async def remove(self, rule_id: str) -> dict[str, Any]:
        current = await self.ruleset()
        rule = next((r for r in current.rules if r.id == rule_id), None)
        if rule is None:
            known = ", ".join(r.id for r in current.rules) or "none"
            raise NotFoundError(f"no rule {rule_id!r} (rules: {known})", id=rule_id)
        if not rule.removable:
            where = {
                "default": "it ships with orchflow; turn it off with protocol.disable in"
                " config.toml",
                "config": "it is in your config (config.toml or setup()); remove it there",
            }.get(rule.source, f"it is in {rule.source}, line {rule.line}; edit that file")
            raise InvalidArgumentError(
                f"rule {rule_id!r} cannot be removed here: {where}", param="id", id=rule_id
            )

        def delete(conn: sqlite3.Connection) -> int:
            n = conn.execute("DELETE FROM protocol_rules WHERE id = ?", (rule_id,)).rowcount
            _bump(conn)
            return n

        removed = await (await self._db()).transaction(delete)
        self._key = None
        return {"id": rule_id, "removed": bool(removed)}


def _bump(conn: sqlite3.Connection) -> None:
    conn.execute(
        "INSERT INTO protocol_meta(key, value) VALUES ('generation', 1)"
        " ON CONFLICT(key) DO UPDATE SET value = value + 1"
    )


def _row_dict(row: sqlite3.Row) -> dict[str, Any]:
    def split(text: str | None) -> list[str]:
        return [v for v in (text or "").split("\n") if v]

    return {
        "id": row["id"],
        "pattern": row["pattern"],
        "kind": row["kind"],
        "action": row["action"],
        "message": row["message"],
        "origins": split(row["origins"]),
        "pane_types": split(row["pane_types"]),
        "modes": split(row["modes"]),
    }


def _unique(rules: list[Rule]) -> tuple[list[Rule], list[Rule]]:
    """(the first rule of each id in order, the later ones with a taken id): a project file
    cannot replace a shipped or a user's rule by reusing its id."""
    seen: set[str] = set()
    kept, dropped = [], []
    for rule in rules:
        if rule.id in seen:
            dropped.append(rule)
        else:
            seen.add(rule.id)
            kept.append(rule)
    return kept, dropped


def _check_origin(origin: object) -> None:
    if origin not in ORIGINS:
        raise InvalidArgumentError(
            f"origin must be one of {', '.join(ORIGINS)}, got {origin!r}", param="origin"
        )


def config_dir() -> Path:
    from orchflow_core import paths

    return paths.config_file().parent


__all__ = ["PROJECT_RULES", "RuleBook", "config_dir", "read_rules_file"]
