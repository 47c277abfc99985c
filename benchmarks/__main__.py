"""`make bench`: run every benchmark module (or those named on the command line)."""

from __future__ import annotations

import importlib
import logging
import sys
import time

from benchmarks.common import Row, print_table

# pynvim child sessions closed between runs make asyncio log harmless warnings.
logging.getLogger("asyncio").setLevel(logging.ERROR)

MODULES = [
    "startup",
    "host",
    "mux",
    "runs",
    "orchestrator",
    "workspace",
    "dashboard",
    "coordination",
    "git",
    "worktree",
    "review",
    "rules",
    "acp",
    "mcp",
    "mcp_client",
    "templates",
    "router",
    "testing",
    "swarm",
    "hooks",
    "providers",
    "modules",
    "ray",
    "resume",
    "agents_float",
    "screens",
]


def main(argv: list[str]) -> int:
    names = argv or MODULES
    rows: list[Row] = []
    for name in names:
        t0 = time.perf_counter()
        module = importlib.import_module(f"benchmarks.bench_{name}")
        rows.extend(module.run())
        print(f"# {name}: {time.perf_counter() - t0:.1f} s", file=sys.stderr)
    print_table(rows)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
