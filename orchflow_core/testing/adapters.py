"""Test adapters contributed by modules (``contributes.test_adapters`` in a manifest).

An adapter names its framework, the files that mark a root (``detect``), the argv that runs
the suite (``command``, with ``{report}``, ``{root}``, ``{module}`` (its folder) and
optionally ``{filter}``) and the
function of its entry that reads the report: ``parse(api, report, root)`` returning
``[{id, name, file, line, status, message, output}]`` (status: passed | failed | skipped |
error) or ``{"tests": [...], "duration_s": float}``. The program is checked against the
module's ``permissions.exec`` when a run starts, and the report is read through the module's
API (``api.read_text``), so its ``permissions.fs`` must cover orchflow's temp dir (``{tmp}``).
"""

from __future__ import annotations

import shlex
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core.errors import InvalidArgumentError, UnavailableError
from orchflow_core.modules.loader import Adapter
from orchflow_core.modules.manifest import TestAdapter
from orchflow_core.testing import results as R
from orchflow_core.testing.detect import Detected

if TYPE_CHECKING:
    from orchflow_core.core import Core

__all__ = [
    "Adapter",
    "TestAdapter",
    "adapter_command",
    "adapter_results",
    "builtin_exec_check",
    "module_adapters",
]
STATUSES = ("passed", "failed", "skipped", "error", "xfailed", "xpassed")


async def module_adapters(core: Core) -> dict[str, Adapter]:
    """The enabled modules' adapters by framework (the built-in frameworks excluded)."""
    from orchflow_core.modules.registry import modules_of

    ms = await modules_of(core)
    return {fw: a for fw, a in ms.adapters().items() if a.parse is not None}


async def builtin_exec_check(core: Core, suite: Detected) -> None:
    """The built-in frameworks' programs are checked against this module's own manifest
    (``permissions.exec`` of orchflow_core/testing/manifest.json), as a module's would be."""
    from orchflow_core.modules.permissions import Guard
    from orchflow_core.modules.registry import modules_of

    mod = (await modules_of(core)).modules.get("testing")
    if mod is None or mod.manifest is None:
        return
    program = shlex.split(suite.command)[0] if suite.command else suite.framework
    Guard(mod.name, mod.folder, core.project_root, mod.manifest.permissions).check_exec(program)


def adapter_command(
    adapter: Adapter, suite: Detected, report: Path, filt: str | None
) -> tuple[str, str]:
    spec = adapter.spec
    api = adapter.module.api
    assert api is not None
    api.guard.check_exec(spec.command[0])
    if shutil.which(spec.command[0]) is None:
        raise UnavailableError(
            f"{spec.command[0]} is not installed (not on PATH); module"
            f" {adapter.module.name!r} runs {spec.framework} with it",
            framework=spec.framework,
            module=adapter.module.name,
        )
    if filt and not any("{filter}" in a for a in spec.command):
        raise InvalidArgumentError(
            f"{spec.framework} (module {adapter.module.name!r}) takes no filter", param="filter"
        )
    argv = []
    for arg in spec.command:
        if "{filter}" in arg and not filt:
            continue
        argv.append(
            arg.replace("{report}", str(report))
            .replace("{root}", suite.root)
            .replace("{module}", str(adapter.module.folder))
            .replace("{filter}", filt or "")
        )
    return " ".join(shlex.quote(a) for a in argv), (f"all {filt}" if filt else "all")


def adapter_results(adapter: Adapter, report: Path, root: Path) -> R.Results:
    api = adapter.module.api
    assert api is not None and adapter.parse is not None
    data: Any = adapter.parse(api, str(report), str(root))
    tests = data.get("tests", []) if isinstance(data, dict) else data
    res = R.Results()
    if isinstance(data, dict) and data.get("duration_s") is not None:
        res.duration_s = float(data["duration_s"])
    if not isinstance(tests, list):
        raise InvalidArgumentError(
            f"module {adapter.module.name!r}: {adapter.spec.parse}() returned"
            f" {type(tests).__name__}, not a list of tests",
            module=adapter.module.name,
        )
    for i, t in enumerate(tests):
        status = t.get("status") if isinstance(t, dict) else None
        if status not in STATUSES:
            raise InvalidArgumentError(
                f"module {adapter.module.name!r}: test {i} has status {status!r}; expected one"
                f" of {', '.join(STATUSES)}",
                module=adapter.module.name,
            )
        assert isinstance(t, dict)
        res.count(
            R.TestCase(
                str(t.get("id") or t.get("name") or i),
                str(t.get("name") or t.get("id") or i),
                t.get("file"),
                t.get("line"),
                status,
                str(t.get("message") or ""),
                str(t.get("output") or "")[: R.MAX_OUTPUT_CHARS],
            )
        )
    return res
