"""Search-and-replace preview: per-file unified diffs and line hunks, nothing written.

ripgrep itself computes the new text (``rg --passthru --replace`` on each matching file),
so the preview replaces exactly what the search showed, with ripgrep's case, word and
regex rules. In regex mode the replacement uses ripgrep's syntax: ``$1``, ``${name}``,
``${1}x`` when a word character follows (``$1x`` names a group "1x"), ``$$`` for a
dollar. In literal mode it is inserted as is.

The caller applies the ``hunks`` through Neovim buffers (bottom-up
``nvim_buf_set_lines(buf, start, end, true, lines)``), so unsaved edits and undo stay in
Neovim's hands. Each hunk carries the exact ``old`` lines it replaces, and every hunk has
at least one (a pure insertion is anchored on the unchanged line before or after it), so
the caller can check that the text still is what the preview saw and refuse the file
when it is not: the tree may have changed between the preview and the apply.
"""

from __future__ import annotations

import asyncio
import difflib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from orchflow_core.errors import InvalidArgumentError, TimeoutError_
from orchflow_core.search.options import SearchOptions, check_pattern
from orchflow_core.search.ripgrep import DEFAULT_TIMEOUT, find_rg, search

DEFAULT_MAX_FILES = 500
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True, slots=True)
class Hunk:
    """Replace lines ``[start, end)`` (0-based), which must read ``old``, with ``lines``."""

    start: int
    end: int
    old: tuple[str, ...]
    lines: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "old": list(self.old),
            "lines": list(self.lines),
        }


@dataclass(frozen=True, slots=True)
class FileReplacement:
    path: str
    replacements: int
    diff: str
    hunks: tuple[Hunk, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "replacements": self.replacements,
            "diff": self.diff,
            "hunks": [h.to_dict() for h in self.hunks],
        }


@dataclass(frozen=True, slots=True)
class ReplacePreview:
    files: tuple[FileReplacement, ...]
    replacements: int
    truncated: bool
    errors: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": [f.to_dict() for f in self.files],
            "replacements": self.replacements,
            "truncated": self.truncated,
            "errors": list(self.errors),
        }


async def replace_preview(
    root: str | os.PathLike[str],
    pattern: str,
    replacement: str,
    opts: SearchOptions | None = None,
    *,
    rg_path: str | os.PathLike[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT,  # noqa: ASYNC109 - bounded wait is part of the API
    max_files: int = DEFAULT_MAX_FILES,
    concurrency: int = DEFAULT_CONCURRENCY,
) -> ReplacePreview:
    """What replacing ``pattern`` with ``replacement`` would change, file by file.

    Files beyond ``max_files`` (default 500) are left out and ``truncated`` is set;
    ``timeout`` bounds the whole preview. Files that are not UTF-8 are skipped with an error.
    """
    pattern = check_pattern(pattern)
    if not isinstance(replacement, str) or "\x00" in replacement:
        raise InvalidArgumentError("replacement must be a string without NUL", param="replacement")
    opts = replace(opts or SearchOptions(), context=0)
    rg = find_rg(rg_path)
    root_path = Path(root)
    try:
        async with asyncio.timeout(timeout):
            found = await search(root_path, pattern, opts, rg_path=rg, timeout=timeout)
            counts: dict[str, int] = {}
            for m in found.matches:
                counts[m.path] = counts.get(m.path, 0) + len(m.submatches)
            paths = sorted(counts)[:max_files]
            gate = asyncio.Semaphore(concurrency)
            rg_replacement = replacement.replace("$", "$$") if opts.literal else replacement

            async def one(path: str) -> FileReplacement | str:
                async with gate:
                    return await _file_preview(
                        rg, root_path, path, pattern, rg_replacement, opts, counts[path]
                    )

            results = await asyncio.gather(*(one(p) for p in paths))
    except TimeoutError:
        raise TimeoutError_(
            f"replace preview for {pattern!r} took longer than {timeout:g} s", timeout=timeout
        ) from None
    files = tuple(r for r in results if isinstance(r, FileReplacement))
    errors = list(found.errors) + [r for r in results if isinstance(r, str)]
    return ReplacePreview(
        files=files,
        replacements=sum(f.replacements for f in files),
        truncated=found.truncated or len(counts) > max_files,
        errors=tuple(errors),
    )


async def _file_preview(
    rg: str,
    root: Path,
    path: str,
    pattern: str,
    replacement: str,
    opts: SearchOptions,
    count: int,
) -> FileReplacement | str:
    """One file's preview, or an error string for the summary.

    ripgrep reads the very bytes the diff starts from (on its stdin), so the old lines of
    the hunks and their new text come from one version of the file even while it changes.
    """
    try:
        data = (root / path).read_bytes()
        old = data.decode("utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"{path}: skipped: {exc}"
    flags = _without_globs(opts.rg_flags())
    argv = [rg, "--no-config", "--passthru", "--no-filename", "--no-line-number", "--color=never"]
    argv += [*flags, "--replace", replacement, "--regexp", pattern, "--", "-"]
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=root,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate(data)
    finally:
        if proc.returncode is None:
            proc.kill()
            await asyncio.shield(proc.wait())
    if proc.returncode not in (0, 1):
        return f"{path}: {err.decode('utf-8', 'replace').strip().removeprefix('rg: ')}"
    try:
        new = out.decode("utf-8")
    except UnicodeDecodeError as exc:
        return f"{path}: skipped: {exc}"
    if not old.endswith("\n") and new.endswith("\n"):
        new = new[:-1]  # ripgrep terminates the last line; the file did not
    if new == old:
        return f"{path}: changed since the search, nothing to replace"
    return FileReplacement(path, count, unified_diff(path, old, new), line_hunks(old, new))


def _without_globs(flags: list[str]) -> list[str]:
    """Drop traversal flags: the file's text comes on stdin, so only matching flags matter."""
    out: list[str] = []
    skip = False
    for flag in flags:
        if skip:
            skip = False
        elif flag == "--glob":
            skip = True
        elif flag not in ("--hidden", "--follow"):
            out.append(flag)
    return out


def unified_diff(path: str, old: str, new: str, *, context: int = 3) -> str:
    """``diff -u`` text between two versions of ``path`` (a/ and b/ prefixes, like git)."""
    lines = difflib.unified_diff(
        _lines_keepends(old),
        _lines_keepends(new),
        fromfile=f"a/{path}",
        tofile=f"b/{path}",
        n=context,
    )
    out: list[str] = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def _lines_keepends(text: str) -> list[str]:
    """Lines split on LF only (``str.splitlines`` would also split on FF, VT, U+2028 ...)."""
    parts = text.split("\n")
    lines = [p + "\n" for p in parts[:-1]]
    if parts[-1]:
        lines.append(parts[-1])
    return lines


def buffer_lines(text: str) -> list[str]:
    """``text`` as Neovim buffer lines: split on LF, no terminators, CR of CRLF files dropped."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    if lines and all(line.endswith("\r") for line in lines):
        lines = [line[:-1] for line in lines]
    return lines


def line_hunks(old: str, new: str) -> tuple[Hunk, ...]:
    """The changed line ranges of ``old``, their old text and what replaces each, in file order.

    A pure insertion (a replacement that adds lines) would have no old lines to check,
    so it takes the unchanged line before it (or after it, at the top of the file) along;
    two changes that then share a line become one hunk.
    """
    a, b = buffer_lines(old), buffer_lines(new)
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    spans: list[tuple[int, int, int, int]] = []
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i1 == i2 and a:
            if i1 > 0:
                i1, j1 = i1 - 1, j1 - 1
            else:
                i2, j2 = i2 + 1, j2 + 1
        if spans and i1 < spans[-1][1]:
            i1, _, j1, _ = spans.pop()
        spans.append((i1, i2, j1, j2))
    return tuple(Hunk(i1, i2, tuple(a[i1:i2]), tuple(b[j1:j2])) for i1, i2, j1, j2 in spans)
