"""Without the `orchestrator` extra: the host still boots, the orchestrator says what to install."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.orchestrator.server_process import server_env

ROOT = Path(__file__).resolve().parents[2]
# sys.modules[name] = None makes `import name` fail and find_spec(name) answer None
EXTRA_MODULES = ("prometheus_client", "uvloop", "croniter", "acp")
HIDE_EXTRA = f"import sys\nfor m in {EXTRA_MODULES!r}: sys.modules[m] = None\n"


def run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(ROOT)!r})\n{code}"],
        cwd=tmp_path,
        env=server_env(tmp_path / "home", "orchflow-test-unused"),
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_host_needs_no_extra(tmp_path: Path) -> None:
    out = run(
        HIDE_EXTRA + "import json\nfrom orchflow_core import host_boot\n"
        "print(json.dumps([host_boot.missing_modules(), host_boot.extras()]))\n",
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    missing, extras = json.loads(out.stdout)
    assert missing == []
    assert extras == {
        "orchestrator": ["prometheus_client", "uvloop", "croniter", "acp"],
        "ray": [],  # the dev extra has it (the tests start a Ray cluster)
    }


def test_the_orchestrator_without_its_extra_says_how_to_install_it(tmp_path: Path) -> None:
    out = run(
        HIDE_EXTRA + "from orchestrator.cli import main\n"
        "sys.exit(main(['serve', '--listen', '127.0.0.1:0']))\n",
        tmp_path,
    )
    assert out.returncode == 1
    assert "orchflow[orchestrator]" in out.stderr and "prometheus-client" in out.stderr


def test_without_the_ray_extra_the_ray_executor_says_how_to_install_it(tmp_path: Path) -> None:
    out = run(
        "import asyncio, json, os, sys\nsys.modules['ray'] = None\n"
        "from orchflow_core import host_boot\n"
        "from orchestrator.executors.ray import RayExecutor\n"
        "from orchflow_core.errors import UnavailableError\n"
        "os.environ['ORCHFLOW_RAY_TOKEN'] = 'x'\n"
        "ex = RayExecutor(address='127.0.0.1:1')\n"
        "try:\n    asyncio.run(ex.connect())\n"
        "except UnavailableError as exc:\n    why = exc.message\n"
        "print(json.dumps([host_boot.extras()['ray'], why, ex.unavailable]))\n",
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    missing, why, unavailable = json.loads(out.stdout)
    assert missing == ["ray"]
    assert unavailable == "ray is not installed (pip install 'orchflow[ray]')"
    assert why == f"unavailable: {unavailable}"
