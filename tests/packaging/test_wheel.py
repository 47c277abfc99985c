"""The wheel holds everything orchflow's own packages need: built offline, installed
(not editable) into a fresh venv, run from a directory that is not the checkout.

Third-party dependencies come from the project venv through one ``.pth`` line
(tests/harness/venv.py), so what is proven is that orchflow's OWN files are
complete; ``pip install --no-deps`` keeps the run offline.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import pytest

from orchestrator import discovery
from orchflow_core.rpc.client import RpcClient
from tests.harness.venv import overlay_venv
from tests.orchestrator.server_process import server_env

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("orchflow_core", "orchestrator")
SKIP_DIRS = {".git", ".venv", ".tests", "build", "dist", "__pycache__"}
SKIP_DIRS |= {".mypy_cache", ".pytest_cache", ".ruff_cache"}

PIP = (sys.executable, "-m", "pip", "-q")

pytestmark = pytest.mark.timeout(240)


def tracked_files() -> list[str]:
    out = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", *PACKAGES], check=True, capture_output=True, text=True
    )
    return out.stdout.split()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built from a copy of the checkout (a build writes build/ and *.egg-info in place)."""
    base = tmp_path_factory.mktemp("wheel")
    src = base / "src"
    shutil.copytree(
        ROOT,
        src,
        ignore=lambda _d, names: [
            n for n in names if n in SKIP_DIRS or n.endswith((".egg-info", ".pyc"))
        ],
    )
    out = base / "dist"
    subprocess.run(
        [
            *PIP,
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "-w",
            str(out),
            str(src),
        ],
        check=True,
        cwd=base,
    )
    (built,) = out.glob("orchflow-*.whl")
    return built


@pytest.fixture(scope="module")
def venv_python(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    python = overlay_venv(tmp_path_factory.mktemp("venv") / "venv")
    subprocess.run(
        [*PIP, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
    )
    return python


def test_the_wheel_holds_every_tracked_file_of_the_packages_and_the_license(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [f for f in tracked_files() if f not in names]
    assert missing == [], f"not in the wheel: {missing}"
    assert "orchflow_core/config_schema.json" in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names), sorted(names)


def test_the_wheel_metadata_has_no_libtmux_and_an_orchestrator_extra(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = Parser().parsestr(zf.read(meta_name).decode())
    requires = meta.get_all("Requires-Dist") or []
    assert not [r for r in requires if r.startswith("libtmux")]
    assert "orchestrator" in (meta.get_all("Provides-Extra") or [])
    for name in ("prometheus-client", "uvloop", "croniter"):
        (req,) = [r for r in requires if r.replace("_", "-").startswith(name)]
        assert 'extra == "orchestrator"' in req, req
    assert meta["License-Expression"] == "MIT"


def run_installed(python: Path, code: str, cwd: Path, env: dict[str, str]) -> dict[str, object]:
    out = subprocess.run(
        [str(python), "-I", "-c", code], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


def test_the_installed_core_and_host_boot_path_work_outside_the_checkout(
    venv_python: Path, tmp_path: Path
) -> None:
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    env = server_env(tmp_path / "home", "orchflow-test-unused")
    info = run_installed(
        venv_python,
        "import json, orchflow_core\n"
        "from orchflow_core import host_boot\n"
        "from orchflow_core.core import Core\n"
        "core = Core()\n"  # reads config_schema.json through the package
        "print(json.dumps({'core': orchflow_core.__file__, 'boot': host_boot.__file__,"
        " 'missing': host_boot.missing_modules(), 'extras': host_boot.extras(),"
        " 'log': core.log_file, 'mode': core.config['orchestrator']['mode']}))",
        cwd,
        env,
    )
    venv = venv_python.parent.parent
    for key in ("core", "boot"):
        assert str(info[key]).startswith(str(venv)), info
        assert not str(info[key]).startswith(str(ROOT)), info
    assert info["missing"] == [] and info["extras"]["orchestrator"] == []
    assert set(info["extras"]) == {"orchestrator", "ray"}
    assert str(info["log"]).endswith("/log/host.log") and info["mode"] == "embedded"


@pytest.fixture
def installed_server(venv_python: Path, tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    cwd = tmp_path / "elsewhere"
    cwd.mkdir()
    base = tmp_path / "srv"
    disc = base / "runtime" / "orchestrator.json"
    sock = base / "runtime" / "orchestrator.sock"
    argv = [str(venv_python.parent / "orchflow-orchestrator"), "serve", "--listen", f"unix:{sock}"]
    proc = subprocess.Popen(
        [*argv, "--discovery-file", str(disc)],
        cwd=cwd,
        env=server_env(base, "orchflow-test-wheel-unused"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            assert proc.stderr is not None
            pytest.fail(f"the installed orchestrator did not start: {proc.stderr.read()}")
        assert json.loads(line)["ready"] is True
        yield disc, base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def test_the_installed_orchestrator_serves_and_answers_ping(
    installed_server: tuple[Path, Path], venv_python: Path
) -> None:
    disc, base = installed_server
    info = discovery.read(disc)
    async with await RpcClient.connect(info.url, info.token) as client:
        assert await client.call("system.ping", {}) is not None
        health = await client.call("system.health", {})
    assert health["version"] == "0.1.0"
    log = (base / "log" / "orchestrator.log").read_text()
    assert "orchflow core started" in log
