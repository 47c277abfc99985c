# ruff: noqa: E501
"""Module folders written by the tests: manifests and entries, and a tiny test framework."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from orchflow_core import paths


def user_modules() -> Path:
    return paths.config_file().parent / "modules"


def module(base: Path, name: str, code: str = "", **manifest: Any) -> Path:
    folder = base / name
    folder.mkdir(parents=True, exist_ok=True)
    data = {"name": name, "version": "1.0.0", "kind": "tool", "entry": "entry.py", **manifest}
    (folder / "manifest.json").write_text(json.dumps(data), encoding="utf-8")
    (folder / "entry.py").write_text(code or "def register(api):\n    pass\n", encoding="utf-8")
    return folder


# A test framework small enough to read: `checks_*.py` files' `check_*` functions, a JSON
# report, and its own summary line ("tinytest: 2 passed, 1 failed").
TINYTEST = """import importlib.util, json, pathlib, sys, traceback
args = sys.argv[1:]
report = args[args.index("--report") + 1]
only = next((a.split("=", 1)[1] for a in args if a.startswith("--only=")), None)
results = []
for f in sorted(pathlib.Path(".").glob("checks_*.py")):
    spec = importlib.util.spec_from_file_location(f.stem, f)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in sorted(n for n in dir(mod) if n.startswith("check_")):
        if only and only not in name:
            continue
        fn = getattr(mod, name)
        try:
            fn()
            results.append({"file": f.name, "name": name, "line": fn.__code__.co_firstlineno, "ok": True})
        except AssertionError as exc:
            results.append({"file": f.name, "name": name, "line": traceback.extract_tb(exc.__traceback__)[-1].lineno, "ok": False, "why": str(exc)})
pathlib.Path(report).write_text(json.dumps(results))
passed = sum(r["ok"] for r in results)
print(f"tinytest: {passed} passed, {len(results) - passed} failed")
sys.exit(0 if passed == len(results) else 1)
"""

TINY_ENTRY = """import json

def register(api):
    pass

def parse(api, report, root):
    tests = []
    for r in json.loads(api.read_text(report)):
        tests.append({
            "id": r["file"] + "::" + r["name"], "name": r["name"], "file": r["file"],
            "line": r["line"], "status": "passed" if r["ok"] else "failed",
            "message": r.get("why", ""),
        })
    return tests
"""


def tiny_module(
    base: Path,
    *,
    fs: list[str] | None = None,
    exec_: list[str] | None = None,
    name: str = "tinytest",
) -> Path:
    folder = module(
        base,
        name,
        TINY_ENTRY,
        permissions={
            "fs": ["{tmp}"] if fs is None else fs,
            "exec": ["python3"] if exec_ is None else exec_,
        },
        contributes={
            "test_adapters": [
                {
                    "framework": name,
                    "detect": ["tinytest.toml"],
                    "command": [
                        "python3",
                        "{module}/tinytest.py",
                        "--report",
                        "{report}",
                        "--only={filter}",
                    ],
                    "parse": "parse",
                    "extensions": [".py"],
                }
            ]
        },
    )
    (folder / "tinytest.py").write_text(TINYTEST, encoding="utf-8")
    return folder


TINY_PROJECT = {
    "tinytest.toml": "",
    "checks_math.py": "def check_add():\n    assert 1 + 1 == 2\n\n\ndef check_sub():\n"
    "    assert 2 - 1 == 0, 'two minus one'\n\n\ndef check_größe():\n    assert 'ß'.upper() == 'SS'\n",
}
