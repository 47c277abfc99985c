"""Module discovery and validation: 50 user modules (manifest.json with permissions and
contributions, and an entry file) in a temp config dir, plus the built-ins and the Python
entry points of this environment.

- ours: ``discovery.discover`` (built-ins, every installed distribution's entry points, the
  user dir, a trusted project's dir) and every manifest parsed and checked
  (``loader._parse_all``), as ``module.list {reload}`` does before importing entries;
- floor: reading and ``json.loads`` of the same 52 manifest.json files, nothing else.

Medians of ``N`` runs each, alternating.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import Row, median

N = 30
MODULES = 50


def _write(base: Path) -> None:
    for i in range(MODULES):
        d = base / f"mod{i:02d}"
        d.mkdir(parents=True)
        (d / "entry.py").write_text("def register(api):\n    pass\n")
        manifest = {
            "name": f"mod{i:02d}",
            "version": "1.0.0",
            "kind": ("layout", "agent", "tool", "provider")[i % 4],
            "entry": "entry.py",
            "description": f"module {i}",
            "permissions": {"fs": ["{project}", "{tmp}"], "exec": ["git"], "network": False},
            "contributes": {
                "methods": [f"mod{i:02d}.run"],
                "commands": [{"name": f"cmd{i:02d}", "method": f"mod{i:02d}.run"}],
                "config": {"level": {"type": ["number"], "default": 1, "doc": "a level"}},
            },
        }
        (d / "manifest.json").write_text(json.dumps(manifest))


def run() -> list[Row]:
    from orchflow_core.modules import discovery, loader

    home = Path(tempfile.mkdtemp(prefix="orchflow-bench-modules-"))
    saved = os.environ.get("ORCHFLOW_CONFIG")
    os.environ["ORCHFLOW_CONFIG"] = str(home / "config" / "config.toml")
    try:
        _write(home / "config" / "modules")
        project = home / "project"
        project.mkdir()
        files = [f / "manifest.json" for f in discovery.builtin_folders()]
        files += sorted((home / "config" / "modules").glob("*/manifest.json"))
        ours, floor = [], []
        for _ in range(N):
            t0 = time.perf_counter()
            for f in files:
                json.loads(f.read_text(encoding="utf-8"))
            floor.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            found, _ = discovery.discover(project, trusted=True)
            parsed = loader._parse_all(found)
            ours.append(time.perf_counter() - t0)
            bad = [r for _, r in parsed if isinstance(r, str)]
            assert len(parsed) >= MODULES + 2 and not bad, bad
    finally:
        if saved is None:
            os.environ.pop("ORCHFLOW_CONFIG", None)
        else:
            os.environ["ORCHFLOW_CONFIG"] = saved
        shutil.rmtree(home, ignore_errors=True)
    return [
        Row(
            f"module discovery + validation, {MODULES} modules",
            median(ours) * 1000,
            "ms",
            median(floor) * 1000,
            "read + json.loads of the same manifests",
            "<= 50 ms",
        )
    ]


if __name__ == "__main__":
    from benchmarks.common import print_table

    print_table(run())
    sys.exit(0)
