"""A regex rule's time-boxed trial run, in a child interpreter, before it is accepted.

``catastrophic_reason`` (rules.py) refuses the nested repeats it can see; this catches what
it cannot (overlapping alternatives such as ``(a|a)*$``): the pattern is searched against
hostile inputs, long runs of each character it names and of common ones followed by a
character that makes the match fail, in ``python -I -S`` (standard library only, cwd
``/``). Python's ``re`` holds the GIL for a whole match, so only a child process can be
stopped; it is killed when ``timeout_s`` runs out and the rule is refused.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys

from orchflow_core.errors import InvalidArgumentError, UnavailableError

DEFAULT_TIMEOUT_S = 1.0

_CHILD = r"""
import json, re, sys
pattern = json.loads(sys.stdin.read())
compiled = re.compile(pattern)
chars = {c for c in pattern if c.isprintable()} | set("a0 -/_.x")
for c in sorted(chars):
    for n in (24, 2000):
        compiled.search(c * n + "\x00!")
        compiled.search(c * n)
print("ok")
"""


async def probe_regex(pattern: str, *, timeout_s: float = DEFAULT_TIMEOUT_S) -> None:
    """Return if ``pattern`` searched hostile input within ``timeout_s``; else raise
    InvalidArgumentError (-32602) saying it was refused and why."""
    if not sys.executable:
        raise UnavailableError("checking a regex rule needs a Python executable")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-I",
        "-S",
        "-c",
        _CHILD,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd="/",
    )
    try:
        async with asyncio.timeout(timeout_s):
            out, err = await proc.communicate(json.dumps(pattern).encode())
    except TimeoutError:
        raise InvalidArgumentError(
            f"regex {pattern!r} refused: on a run of {timeout_s:g} s against long repeated"
            " input it did not finish (it backtracks catastrophically, e.g. overlapping"
            " alternatives like (a|a)*); simplify it or use a shell pattern",
            param="pattern",
        ) from None
    finally:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
    if proc.returncode != 0 or out.strip() != b"ok":
        why = err.decode(errors="replace").strip().splitlines()
        raise InvalidArgumentError(
            f"regex {pattern!r} refused: {why[-1] if why else 'its trial run failed'}",
            param="pattern",
        )
