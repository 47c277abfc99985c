"""The matching half of scrollback search, run in a child interpreter (scrollback.py).

Python's ``re`` holds the GIL for the whole of one match, so a pattern that backtracks
exponentially (``(a+)+$`` against ``aaaa…a!``) would freeze the core's asyncio loop
even from a worker thread (measured: a 5 s match in ``asyncio.to_thread`` stopped the
loop for 5 s). A child process leaves the loop free and can be killed when its time
is up. This file is the child's whole program: it runs as ``python -I -S <this file>``
(no site-packages, no user paths, cwd ``/``), so it imports the standard library only.

    stdin   one JSON object: {"pattern": str, "flags": int, "max_results": int,
                              "panes": [[pane_id, [line, ...]], ...]}
    stdout  a JSON list of [pane_index, line_no] for the matching lines, in order,
            at most max_results of them
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any


def find(
    pattern: str, flags: int, panes: list[tuple[str, list[str]]], max_results: int
) -> list[list[int]]:
    """``[pane_index, line_no]`` of the first ``max_results`` lines that ``pattern`` matches."""
    compiled = re.compile(pattern, flags)
    hits: list[list[int]] = []
    for index, (_pane_id, lines) in enumerate(panes):
        for line_no, line in enumerate(lines):
            if compiled.search(line):
                hits.append([index, line_no])
                if len(hits) >= max_results:
                    return hits
    return hits


def main() -> None:
    request: dict[str, Any] = json.loads(sys.stdin.buffer.read())
    hits = find(request["pattern"], request["flags"], request["panes"], request["max_results"])
    sys.stdout.write(json.dumps(hits))


if __name__ == "__main__":
    main()
