"""Running ``git`` in a repository orchflow may not trust.

A repository's own ``.git/config`` can name programs that git runs on its own: an
fsmonitor hook (``core.fsmonitor``), clean/smudge filters (``filter.<name>.*``, run by
``status`` and ``add``), an external diff or textconv driver, a pager, hooks (also
``post-index-change`` on every index write). A directory you downloaded can carry any of
them. So every git command orchflow runs gets, through ``GIT_CONFIG_COUNT`` (no quoting
to get wrong):

- ``core.fsmonitor=false``, ``core.pager=cat``, ``log.showSignature=false`` (no gpg),
  ``core.hooksPath=/dev/null`` (no hooks; only ``git.commit`` with ``hooks`` runs them, as
  ``git commit`` would), diffs with ``--no-ext-diff --no-textconv``;
- every filter driver defined in the repository's own config (scope ``local`` or
  ``worktree``) replaced by the user's global definition of the same name, or emptied when
  there is none (``Git.untrusted_filters`` lists those; staging a file that uses one is
  refused instead of staging unfiltered content);
- ``--literal-pathspecs`` (a path is a path, never a glob or ``:(magic)``), C locale
  messages, ``GIT_TERMINAL_PROMPT=0``, ``GIT_OPTIONAL_LOCKS=0`` for reads, and none of the
  caller's ``GIT_DIR``/``GIT_WORK_TREE``/``GIT_INDEX_FILE``.

Needs git >= 2.36 (``GIT_CONFIG_COUNT`` came in 2.31, ``worktree list -z`` in 2.36).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from orchflow_core.errors import (
    BackendError,
    InvalidArgumentError,
    TimeoutError_,
    UnavailableError,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0
_TRUSTED_SCOPES = {"system", "global", "command"}
_FILTER_KEYS = ("clean", "smudge", "process")
# Settings every command gets (GIT_CONFIG_COUNT; they win over every config file).
_SAFE: tuple[tuple[str, str], ...] = (
    ("core.fsmonitor", "false"),
    ("core.pager", "cat"),
    ("core.quotePath", "false"),
    ("color.ui", "never"),
    ("log.showSignature", "false"),
    ("diff.noprefix", "false"),
    ("diff.mnemonicPrefix", "false"),
    ("diff.relative", "false"),
    ("apply.whitespace", "nowarn"),
    ("status.relativePaths", "false"),
    ("advice.detachedHead", "false"),
)
# Variables of the caller that would point git somewhere else or run something.
_DROPPED_ENV = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_NAMESPACE",
    "GIT_EXTERNAL_DIFF",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_DIFF_OPTS",
)


class GitCommandError(BackendError):
    """git exited non-zero: ``returncode``, ``stderr`` (its last lines) in ``data``."""

    def __init__(self, message: str, *, returncode: int, stderr: str) -> None:
        super().__init__(message, returncode=returncode, stderr=stderr)
        self.returncode = returncode
        self.stderr = stderr


def git_binary() -> str:
    found = shutil.which("git")
    if found is None:
        raise UnavailableError("git not found on PATH; install git (>= 2.36)")
    return found


def _last_lines(text: str, n: int = 8) -> str:
    return "\n".join(text.strip().splitlines()[-n:])


async def _exec(
    argv: list[str],
    *,
    cwd: Path,
    env: dict[str, str],
    stdin: bytes | None,
    timeout_s: float,
) -> tuple[int, bytes, bytes]:
    proc = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout_s)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    return proc.returncode or 0, out, err


def _env(overrides: list[tuple[str, str]], *, read_only: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED_ENV}
    env.update(
        LC_ALL="C",
        LANGUAGE="C",
        GIT_PAGER="cat",
        PAGER="cat",
        GIT_EDITOR=":",
        GIT_TERMINAL_PROMPT="0",
        GIT_CONFIG_COUNT=str(len(overrides)),
    )
    if read_only:
        env["GIT_OPTIONAL_LOCKS"] = "0"
    for i, (key, value) in enumerate(overrides):
        env[f"GIT_CONFIG_KEY_{i}"] = key
        env[f"GIT_CONFIG_VALUE_{i}"] = value
    return env


@dataclass
class Git:
    """One repository's working tree (``root``) and the safe way to run git in it."""

    root: Path
    git_dir: Path
    binary: str
    filter_overrides: list[tuple[str, str]] = field(default_factory=list)
    untrusted_filters: dict[str, dict[str, str]] = field(default_factory=dict)
    """Filter drivers defined only in the repository's own config: name -> {key: value}."""

    @classmethod
    async def open(cls, cwd: str | Path, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> Git:
        """The repository containing ``cwd``; UnavailableError if there is none."""
        repo, _ = await cls.open_resolving(cwd, timeout_s=timeout_s)
        return repo

    @classmethod
    async def open_resolving(
        cls, cwd: str | Path, *revs: str, timeout_s: float = DEFAULT_TIMEOUT_S
    ) -> tuple[Git, list[str] | None]:
        """``open``, and ``git rev-parse <revs>`` in the same process (rev-parse runs no
        filter or hook): its output lines, or None when one of ``revs`` did not resolve."""
        where = Path(cwd).expanduser()
        if not where.is_dir():
            raise InvalidArgumentError(
                f"cwd {str(cwd)!r} is not a directory; give a directory inside a git repository",
                param="cwd",
            )
        binary = git_binary()
        env = _env(list(_SAFE), read_only=True)
        # the config is read meanwhile (from any directory of the repository it is the
        # same; outside one it is not used)
        (rc, out, err), config = await asyncio.gather(
            _exec(
                [binary, "rev-parse", "--is-bare-repository", "--absolute-git-dir",
                 "--show-toplevel", *revs],
                cwd=where, env=env, stdin=None, timeout_s=timeout_s,
            ),
            _exec(
                [binary, "config", "--list", "--show-scope", "-z"],
                cwd=where, env=env, stdin=None, timeout_s=timeout_s,
            ),
        )  # fmt: skip
        lines = out.decode(errors="surrogateescape").splitlines()
        if lines and lines[0] == "true":
            raise UnavailableError(
                f"git: {where} is a bare repository: it has no working tree", cwd=str(where)
            )
        if len(lines) < 3 or (rc != 0 and not revs):  # (with revs: one did not resolve)
            text = err.decode(errors="replace")
            if "not a git repository" in text:
                raise UnavailableError(
                    f"git: {where} is not in a git repository (run git init there, or open a "
                    "directory inside a repository)",
                    cwd=str(where),
                )
            raise UnavailableError(f"git: {_last_lines(text, 3) or 'rev-parse failed'}")
        repo = cls(root=Path(lines[2]), git_dir=Path(lines[1]), binary=binary)
        repo._load_filters(*config[:2])
        return repo, (lines[3:] if rc == 0 else None)

    def _load_filters(self, rc: int, out: bytes) -> None:
        """From the config (``git config --list --show-scope -z``, which runs nothing):
        neutralise repository-defined filters."""
        if rc != 0:
            return
        fields = out.split(b"\0")
        trusted: dict[str, str] = {}
        local: dict[str, str] = {}
        for scope_b, entry in zip(fields[0::2], fields[1::2], strict=False):
            key_b, _, value_b = entry.partition(b"\n")
            key = key_b.decode(errors="surrogateescape")
            lower = key.lower()
            if not lower.startswith("filter.") or lower.rsplit(".", 1)[-1] not in _FILTER_KEYS:
                continue
            value = value_b.decode(errors="surrogateescape")
            if scope_b.decode() in _TRUSTED_SCOPES:
                trusted[lower] = value
            else:
                local[lower] = value
        for key, value in local.items():
            name = key[len("filter.") : key.rindex(".")]
            self.filter_overrides.append((key, trusted.get(key, "")))
            if key not in trusted:
                self.untrusted_filters.setdefault(name, {})[key.rsplit(".", 1)[-1]] = value

    def env(self, *, hooks: bool = False, read_only: bool = True) -> dict[str, str]:
        overrides = [*_SAFE, *self.filter_overrides]
        if not hooks:
            overrides.append(("core.hooksPath", os.devnull))
        return _env(overrides, read_only=read_only)

    async def run(
        self,
        *args: str,
        stdin: bytes | None = None,
        hooks: bool = False,
        read_only: bool = True,
        ok_codes: tuple[int, ...] = (0,),
        timeout_s: float = DEFAULT_TIMEOUT_S,
        literal: bool = True,
        env: dict[str, str] | None = None,
    ) -> tuple[int, bytes, str]:
        """``git --literal-pathspecs --no-pager <args>`` in the root: (code, stdout, stderr).

        A code outside ``ok_codes`` is GitCommandError; past ``timeout_s`` git is killed
        and TimeoutError_ raised. ``literal=False`` for the few commands that take paths
        but refuse the flag (``check-ignore``). ``env``: variables added to git's own
        (e.g. ``GIT_INDEX_FILE`` for a scratch index).
        """
        flags = ["--literal-pathspecs"] if literal else []
        argv = [self.binary, *flags, "--no-pager", *args]
        try:
            rc, out, err = await _exec(
                argv,
                cwd=self.root,
                env={**self.env(hooks=hooks, read_only=read_only), **(env or {})},
                stdin=stdin,
                timeout_s=timeout_s,
            )
        except TimeoutError:
            raise TimeoutError_(
                f"git {args[0]} took longer than {timeout_s:g} s and was stopped",
                timeout_s=timeout_s,
            ) from None
        text = err.decode(errors="replace")
        if rc not in ok_codes:
            log.info("git %s exited %d: %s", args[0], rc, _last_lines(text, 3))
            raise GitCommandError(
                f"git {args[0]} failed: {_last_lines(text) or f'exit code {rc}'}",
                returncode=rc,
                stderr=_last_lines(text),
            )
        return rc, out, text


MIN_VERSION = (2, 36)  # GIT_CONFIG_COUNT (2.31), worktree list -z (2.36)


@functools.cache
def git_version(binary: str) -> tuple[int, ...]:
    import subprocess

    out = subprocess.run(
        [binary, "version"], capture_output=True, text=True, check=True, timeout=10
    ).stdout  # "git version 2.39.5"
    return tuple(int(p) for p in out.split()[2].split(".")[:3] if p.isdigit())


def feature() -> dict[str, object]:
    """The ``git`` row of ``system.features``: git found and new enough, or why not."""
    import subprocess

    try:
        binary = git_binary()
        version = git_version(binary)
    except UnavailableError as exc:
        return {"status": "unavailable", "reason": exc.message}
    except (OSError, subprocess.SubprocessError, IndexError, ValueError) as exc:
        return {"status": "unavailable", "reason": f"git version failed: {exc}"}
    shown = ".".join(map(str, version))
    if version < MIN_VERSION:
        need = ".".join(map(str, MIN_VERSION))
        return {"status": "unavailable", "reason": f"git {shown} is older than {need}"}
    return {
        "status": "implemented",
        "reason": "the git CLI with repository-named programs disabled",
        "version": shown,
        "hunks": True,
    }
