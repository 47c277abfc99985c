"""Cron expressions and time zones for the scheduler: checked, then iterated by croniter.

Accepted: five fields (minute hour day-of-month month day-of-week, with the usual ``*``,
lists, ranges, steps and names) or ``@hourly``, ``@daily``, ``@midnight``, ``@weekly``,
``@monthly``, ``@yearly``, ``@annually``. Refused, each with a message naming it:
a field out of range (``61 * * * *``), a wrong number of fields (a seconds or year
field is not supported: a schedule fires at most once a minute), ``@reboot`` (the
orchestrator has no boot event: it starts with Neovim or as a service, so "at boot"
would mean "whenever it happens to start"), a date that never comes (``0 0 30 2 *``),
an unknown time zone.

Times are computed in the schedule's IANA time zone (``zoneinfo``), so "9:00" stays
9:00 local across DST changes. At a DST jump:

- **spring forward** (a local time that does not exist, e.g. 02:30 in Europe/Berlin on
  the last Sunday of March): it fires at the first minute that exists after it (03:00);
- **fall back** (a local time that happens twice): a schedule with a fixed hour fires
  once, at the first occurrence; one whose hour field starts with ``*`` (every hour,
  ``*/2``) fires in both hours, as it is about elapsed time (Vixie cron's rule).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterBadCronError, CroniterBadDateError, CroniterError, croniter

from orchflow_core.errors import InvalidArgumentError

ALIASES = ("@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually")
_ALIAS_EXPR = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
FIELDS = (
    ("minute", "0-59"),
    ("hour", "0-23"),
    ("day-of-month", "1-31"),
    ("month", "1-12 or jan-dec"),
    ("day-of-week", "0-7 or sun-sat"),
)
MAX_SCAN = 1000  # due times counted at most when looking back over missed runs


def check_tz(name: str) -> ZoneInfo:
    """The zone, or InvalidArgumentError naming ``name`` and what would be right."""
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidArgumentError(
            f"unknown time zone {name!r}: give an IANA name such as 'Europe/Berlin',"
            " 'America/New_York' or 'UTC'",
            param="tz",
        ) from None


def local_tz_name() -> str:
    """This machine's IANA zone name ($TZ, else /etc/localtime's target), else "UTC"."""
    tz = os.environ.get("TZ", "").lstrip(":")
    if tz:
        try:
            ZoneInfo(tz)
            return tz
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        return "UTC"
    marker = "zoneinfo/"
    if marker in target:
        name = target.split(marker, 1)[1]
        try:
            ZoneInfo(name)
            return name
        except (ZoneInfoNotFoundError, ValueError):
            return "UTC"
    return "UTC"


def check_cron(expr: str) -> str:
    """The expression, normalised (single spaces), or InvalidArgumentError saying what is
    wrong with it: the field, its value and its range."""
    text = " ".join(expr.split())
    if text.startswith("@"):
        if text == "@reboot":
            raise InvalidArgumentError(
                "cron '@reboot' is not supported: the orchestrator has no boot event (it"
                " starts with Neovim or as a service, not with the machine); give a time,"
                " e.g. '0 9 * * 1-5'",
                param="cron",
            )
        if text not in ALIASES:
            raise InvalidArgumentError(
                f"unknown cron alias {text!r} (expected one of {', '.join(ALIASES)},"
                " or five fields)",
                param="cron",
            )
        return text
    fields = text.split(" ") if text else []
    if len(fields) != len(FIELDS):
        raise InvalidArgumentError(
            f"cron {expr!r} has {len(fields)} fields; expected 5: minute hour day-of-month"
            " month day-of-week (e.g. '*/15 * * * *'; no seconds or year field)",
            param="cron",
        )
    for i, ((what, allowed), value) in enumerate(zip(FIELDS, fields, strict=True)):
        probe = ["*"] * len(FIELDS)
        probe[i] = value
        if not croniter.is_valid(" ".join(probe)):
            raise InvalidArgumentError(
                f"cron {expr!r}: {what} field {value!r} is not valid (allowed: {allowed},"
                " with *, lists a,b, ranges a-b and steps /n)",
                param="cron",
            )
    if not croniter.is_valid(text):
        raise InvalidArgumentError(f"cron {expr!r} is not a valid expression", param="cron")
    try:
        croniter(text, datetime(2026, 1, 1, tzinfo=ZoneInfo("UTC"))).get_next(float)
    except CroniterBadDateError:
        raise InvalidArgumentError(
            f"cron {expr!r} never fires (no such date in any year)", param="cron"
        ) from None
    except CroniterBadCronError as exc:
        raise InvalidArgumentError(f"cron {expr!r}: {exc}", param="cron") from None
    return text


def _hour_is_wild(expr: str) -> bool:
    fields = _ALIAS_EXPR.get(expr, expr).split(" ")
    return fields[1].startswith("*")


def next_times(expr: str, tz: ZoneInfo, after: float, count: int) -> list[datetime]:
    """The next ``count`` due times strictly after ``after`` (a Unix time), in ``tz``,
    with the fall-back rule above applied."""
    start = datetime.fromtimestamp(after, tz)
    it = croniter(expr, start)
    out: list[datetime] = []
    wild = _hour_is_wild(expr)
    seen_wall: datetime | None = None
    guard = 0
    while len(out) < count and guard < count * 4 + 8:
        guard += 1
        try:
            when: datetime = it.get_next(datetime)
        except CroniterError:
            break
        wall = when.replace(tzinfo=None)
        if not wild and seen_wall is not None and wall == seen_wall:
            continue  # the same local time again after falling back: once is enough
        if not wild and when.fold == 1 and _repeated(when):
            # the second occurrence of an ambiguous time: its first occurrence was before
            # ``after`` or is the one we just produced
            first = when.replace(fold=0)
            if first.timestamp() <= after or wall == seen_wall:
                seen_wall = wall
                continue
        seen_wall = wall
        out.append(when)
    return out


def _repeated(when: datetime) -> bool:
    """Whether ``when``'s local wall time happens twice (a fall-back fold)."""
    return when.replace(fold=0).utcoffset() != when.replace(fold=1).utcoffset()


def due_between(expr: str, tz: ZoneInfo, after: float, until: float) -> tuple[list[float], bool]:
    """Due times in ``(after, until]`` as Unix times, oldest first (at most ``MAX_SCAN``;
    the flag says there were more)."""
    out: list[float] = []
    cursor = after
    while len(out) < MAX_SCAN:
        batch = next_times(expr, tz, cursor, 64)
        if not batch:
            return out, False
        for when in batch:
            ts = when.timestamp()
            if ts > until:
                return out, False
            out.append(ts)
            if len(out) >= MAX_SCAN:
                return out, True
        cursor = batch[-1].timestamp()
    return out, True
