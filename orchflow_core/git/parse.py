"""Pure parsers for git's machine output: ``status --porcelain=v2 -z``, unified diffs
(files and hunks, kept as raw bytes so a patch rebuilt from them is byte-exact: CRLF,
"\\ No newline at end of file", any encoding), ``for-each-ref``, ``worktree list
--porcelain -z`` and ``log -z``. No I/O here."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

# -- status ----------------------------------------------------------------------------------

_XY = {
    "M": "modified",
    "T": "typechange",
    "A": "added",
    "D": "deleted",
    "R": "renamed",
    "C": "copied",
    "U": "unmerged",
}


def _path(raw: bytes) -> str:
    return raw.decode("utf-8", errors="surrogateescape")


def display(path: str) -> str:
    """A path for JSON: undecodable bytes shown as U+FFFD."""
    return path.encode("utf-8", errors="surrogateescape").decode("utf-8", errors="replace")


def parse_status(out: bytes) -> dict[str, Any]:
    """``git status --porcelain=v2 -z --branch`` -> {branch, detached, head, upstream, ahead,
    behind, staged, unstaged, untracked, conflicted} (entries: {path, status, orig_path?})."""
    result: dict[str, Any] = {
        "branch": None,
        "detached": False,
        "head": None,
        "upstream": None,
        "ahead": 0,
        "behind": 0,
        "staged": [],
        "unstaged": [],
        "untracked": [],
        "conflicted": [],
    }
    fields = out.split(b"\0")
    i = 0
    while i < len(fields):
        rec = fields[i]
        i += 1
        if not rec:
            continue
        kind = rec[:1]
        if kind == b"#":
            _status_header(rec.decode(errors="replace"), result)
        elif kind in (b"1", b"2"):
            parts = rec.split(b" ", 8 if kind == b"1" else 9)
            xy = parts[1].decode()
            path = _path(parts[-1])
            orig = None
            if kind == b"2":
                orig = _path(fields[i])
                i += 1
            for side, letter in (("staged", xy[0]), ("unstaged", xy[1])):
                if letter != ".":
                    entry: dict[str, Any] = {"path": display(path), "status": _XY[letter]}
                    if orig is not None and side == "staged":
                        entry["orig_path"] = display(orig)
                    result[side].append(entry)
        elif kind == b"u":
            parts = rec.split(b" ", 10)
            result["conflicted"].append(
                {"path": display(_path(parts[-1])), "status": "unmerged", "xy": parts[1].decode()}
            )
        elif kind == b"?":
            result["untracked"].append({"path": display(_path(rec[2:])), "status": "untracked"})
    return result


def _status_header(line: str, result: dict[str, Any]) -> None:
    key, _, value = line[2:].partition(" ")
    if key == "branch.oid":
        result["head"] = None if value == "(initial)" else value
    elif key == "branch.head":
        if value == "(detached)":
            result["detached"] = True
        else:
            result["branch"] = value
    elif key == "branch.upstream":
        result["upstream"] = value
    elif key == "branch.ab":
        ahead, behind = value.split()
        result["ahead"], result["behind"] = int(ahead), -int(behind)


# -- diff ------------------------------------------------------------------------------------

_HUNK = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)$", re.DOTALL)
_ESC = {b"a": 7, b"b": 8, b"f": 12, b"n": 10, b"r": 13, b"t": 9, b"v": 11, b'"': 34, b"\\": 92}


def unquote(raw: bytes) -> bytes:
    """A path as git prints it: C-quoted ("a\\tb", octal escapes) or as is."""
    raw = raw.rstrip(b"\n")
    if not raw.startswith(b'"'):
        return raw.rstrip(b"\t") if b" " in raw else raw
    out = bytearray()
    i = 1
    while i < len(raw) and raw[i : i + 1] != b'"':
        ch = raw[i : i + 1]
        if ch == b"\\":
            nxt = raw[i + 1 : i + 2]
            if nxt in _ESC:
                out.append(_ESC[nxt])
                i += 2
                continue
            out.append(int(raw[i + 1 : i + 4], 8))
            i += 4
            continue
        out += ch
        i += 1
    return bytes(out)


def _strip_prefix(raw: bytes, prefix: bytes) -> bytes:
    return raw[len(prefix) :] if raw.startswith(prefix) else raw


@dataclass
class Hunk:
    """One ``@@`` hunk: its header numbers and its raw lines (header line included)."""

    path: str
    header: str
    old_start: int
    old_lines: int
    new_start: int
    new_lines: int
    lines: list[bytes]  # each with its "\n"; lines[0] is the @@ line
    id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": display(self.path),
            "header": self.header,
            "old_start": self.old_start,
            "old_lines": self.old_lines,
            "new_start": self.new_start,
            "new_lines": self.new_lines,
            "text": b"".join(self.lines[1:]).decode("utf-8", errors="replace"),
        }


@dataclass
class FileDiff:
    path: str
    old_path: str
    header: list[bytes]  # the lines before the first hunk, each with its "\n"
    hunks: list[Hunk] = field(default_factory=list)
    status: str = "modified"
    binary: bool = False
    submodule: bool = False
    old_mode: str | None = None
    new_mode: str | None = None

    def hunk_refusal(self) -> str | None:
        """Why this file's hunks cannot be staged one by one (None: they can)."""
        if self.status == "unmerged":
            return "it has merge conflicts: resolve them, then stage the file"
        if self.binary:
            return "it is a binary file"
        if self.submodule:
            return "it is a submodule"
        if self.status in ("renamed", "copied"):
            return f"it is {self.status} (from {display(self.old_path)})"
        if self.status == "typechange":
            return "its type changed (file, symlink or submodule)"
        return None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": display(self.path),
            "status": self.status,
            "binary": self.binary,
            "hunks": [h.to_dict() for h in self.hunks],
        }
        if self.old_path != self.path:
            out["old_path"] = display(self.old_path)
        if self.old_mode != self.new_mode and self.old_mode and self.new_mode:
            out["mode"] = {"old": self.old_mode, "new": self.new_mode}
        if self.submodule:
            out["submodule"] = True
        refusal = self.hunk_refusal()
        if refusal:
            out["hunks_refused"] = refusal
        return out


def _lines(out: bytes) -> list[bytes]:
    """Split on "\\n" only (a "\\r" stays in its line), keeping each line's "\\n"."""
    parts = out.split(b"\n")
    lines = [p + b"\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def _git_line_paths(line: bytes) -> tuple[bytes, bytes]:
    rest = line[len(b"diff --git ") :].rstrip(b"\n")
    if rest.startswith(b'"'):
        end = rest.index(b'" ', 1) + 1
        return _strip_prefix(unquote(rest[:end]), b"a/"), _strip_prefix(
            unquote(rest[end + 1 :]), b"b/"
        )
    # "a/P b/P" (same path both sides, unquoted): P has (len - 5) / 2 bytes
    half = (len(rest) - 5) // 2
    return rest[2 : 2 + half], rest[-half:] if half else b""


def hunk_id(path: str, staged: bool, lines: list[bytes]) -> str:
    h = hashlib.sha1(usedforsecurity=False)
    h.update(path.encode("utf-8", errors="surrogateescape") + b"\0")
    h.update(b"staged\0" if staged else b"unstaged\0")
    for line in lines:
        h.update(line)
    return h.hexdigest()[:12]


def parse_diff(out: bytes, *, staged: bool) -> list[FileDiff]:
    """A ``git diff`` (``--no-color --no-ext-diff``, a/ b/ prefixes) as files and hunks."""
    files: list[FileDiff] = []
    cur: FileDiff | None = None
    hunk: Hunk | None = None
    for line in _lines(out):
        if line.startswith(b"diff --git "):
            old, new = _git_line_paths(line)
            cur = FileDiff(path=_path(new), old_path=_path(old), header=[line])
            files.append(cur)
            hunk = None
            continue
        if line.startswith((b"diff --cc ", b"diff --combined ")):
            # an unmerged file: a combined diff, shown but never staged by hunk
            path = _path(unquote(line.split(b" ", 2)[2]))
            cur = FileDiff(path=path, old_path=path, header=[line], status="unmerged")
            files.append(cur)
            hunk = None
            continue
        if line.startswith(b"* Unmerged path "):
            cur = hunk = None
            continue
        if cur is None:
            continue
        if cur.status == "unmerged":
            cur.header.append(line)
            continue
        if line.startswith(b"@@ "):
            m = _HUNK.match(line.rstrip(b"\n"))
            if m is None:
                continue
            hunk = Hunk(
                path=cur.path,
                header=line.rstrip(b"\n").decode("utf-8", errors="replace"),
                old_start=int(m[1]),
                old_lines=int(m[2]) if m[2] is not None else 1,
                new_start=int(m[3]),
                new_lines=int(m[4]) if m[4] is not None else 1,
                lines=[line],
            )
            cur.hunks.append(hunk)
            continue
        if hunk is not None and line[:1] in (b" ", b"+", b"-", b"\\"):
            hunk.lines.append(line)
            if line.startswith((b"+Subproject commit ", b"-Subproject commit ")):
                cur.submodule = True
            continue
        hunk = None
        cur.header.append(line)
        _header_line(cur, line.rstrip(b"\n"))
    for f in files:
        for h in f.hunks:
            h.id = hunk_id(f.path, staged, h.lines)
    return files


def _header_line(cur: FileDiff, line: bytes) -> None:
    if line.startswith(b"new file mode "):
        cur.status, cur.new_mode = "added", line[14:].decode()
    elif line.startswith(b"deleted file mode "):
        cur.status, cur.old_mode = "deleted", line[18:].decode()
    elif line.startswith(b"old mode "):
        cur.old_mode = line[9:].decode()
    elif line.startswith(b"new mode "):
        cur.new_mode = line[9:].decode()
        if cur.old_mode and cur.old_mode[:2] != cur.new_mode[:2]:
            cur.status = "typechange"
    elif line.startswith(b"rename from "):
        cur.status, cur.old_path = "renamed", _path(unquote(line[12:]))
    elif line.startswith(b"rename to "):
        cur.path = _path(unquote(line[10:]))
    elif line.startswith(b"copy from "):
        cur.status, cur.old_path = "copied", _path(unquote(line[10:]))
    elif line.startswith(b"copy to "):
        cur.path = _path(unquote(line[8:]))
    elif line.startswith(b"index ") and line.endswith(b" 160000"):
        cur.submodule = True
    elif line.startswith(b"Binary files ") or line == b"GIT binary patch":
        cur.binary = True
    elif line.startswith(b"--- ") and line != b"--- /dev/null":
        cur.old_path = _path(_strip_prefix(unquote(line[4:]), b"a/"))
    elif line.startswith(b"+++ ") and line != b"+++ /dev/null":
        cur.path = _path(_strip_prefix(unquote(line[4:]), b"b/"))
    if cur.old_mode == "160000" or cur.new_mode == "160000":
        cur.submodule = True


def build_patch(f: FileDiff, hunks: list[Hunk], *, reverse: bool) -> bytes:
    """A patch of ``f`` with only ``hunks``, for ``git apply --cached [--reverse]``.

    A mode change is left out (hunks are content; the mode goes with the whole file).
    Going forward, each hunk's new start is recomputed from the hunks kept before it, so
    the patch is exactly what the index will become; in reverse the new side is the index
    and the original numbers are right as they are.
    """
    header = [line for line in f.header if not line.startswith((b"old mode ", b"new mode "))]
    out = bytearray(b"".join(header))
    chosen = {id(h) for h in hunks}
    skipped = 0  # lines the hunks left out would have added before this point
    for h in sorted(f.hunks, key=lambda h: h.old_start):
        if id(h) not in chosen:
            skipped += h.new_lines - h.old_lines
            continue
        if reverse:
            out += b"".join(h.lines)
            continue
        m = _HUNK.match(h.lines[0].rstrip(b"\n"))
        assert m is not None
        out += b"@@ -%d,%d +%d,%d @@%s\n" % (
            h.old_start,
            h.old_lines,
            h.new_start - skipped,
            h.new_lines,
            m[5],
        )
        out += b"".join(h.lines[1:])
    return bytes(out)


# -- refs, worktrees, log ----------------------------------------------------------------------

BRANCH_FORMAT = "%00".join(
    (
        "%(refname)",
        "%(refname:short)",
        "%(objectname)",
        "%(HEAD)",
        "%(upstream:short)",
        "%(upstream:track,nobracket)",
        "%(committerdate:unix)",
        "%(contents:subject)",
    )
)


def parse_branches(out: bytes) -> list[dict[str, Any]]:
    rows = []
    for line in out.decode("utf-8", errors="replace").splitlines():
        parts = line.split("\0")
        if len(parts) < 8:
            continue
        ref, short, sha, head, upstream, track, date, subject = parts[:8]
        rows.append(
            {
                "name": short,
                "ref": ref,
                "remote": ref.startswith("refs/remotes/"),
                "commit": sha,
                "current": head == "*",
                "upstream": upstream or None,
                "track": track or None,
                "date": int(date) if date.isdigit() else None,
                "subject": subject,
            }
        )
    return rows


def parse_worktrees(out: bytes) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    cur: dict[str, Any] | None = None
    for raw in out.split(b"\0"):
        text = raw.decode("utf-8", errors="replace")
        if not text:
            cur = None
            continue
        key, _, value = text.partition(" ")
        if key == "worktree":
            cur = {
                "path": value,
                "head": None,
                "branch": None,
                "detached": False,
                "bare": False,
                "locked": None,
                "prunable": None,
            }
            rows.append(cur)
        elif cur is None:
            continue
        elif key == "HEAD":
            cur["head"] = value
        elif key == "branch":
            cur["branch"] = value.removeprefix("refs/heads/")
        elif key in ("detached", "bare"):
            cur[key] = True
        elif key in ("locked", "prunable"):
            cur[key] = value or True
    return rows


LOG_FORMAT = "%H%x1f%h%x1f%an%x1f%ae%x1f%at%x1f%D%x1f%s"


def parse_log(out: bytes) -> list[dict[str, Any]]:
    rows = []
    for rec in out.split(b"\0"):
        parts = rec.decode("utf-8", errors="replace").strip("\n").split("\x1f")
        if len(parts) < 7:
            continue
        sha, short, author, email, at, refs, subject = parts[:7]
        rows.append(
            {
                "commit": sha,
                "short": short,
                "author": author,
                "email": email,
                "date": int(at) if at.isdigit() else None,
                "refs": [r for r in refs.split(", ") if r],
                "subject": subject,
            }
        )
    return rows
