"""Test-only methods for the real Neovim host, registered at the host's start-up.

``use_test_methods(editor)`` points the editor's orchflow at a fresh venv (see
tests/harness/venv.py) whose ``.pth`` file imports this module when the host's Python
starts: the host runs isolated (``python -I``), so PYTHONPATH and sitecustomize would
not reach it. The methods fail in the ways a real handler can (a foreign exception, a
cancelled task, no answer for a while, a module that does not import), so the tests
see what the user would.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param

if TYPE_CHECKING:
    from orchflow_core.core import Core
    from tests.harness.editor import Editor

ROOT = Path(__file__).resolve().parents[2]

# A lazily loaded method family whose module raises ImportError on every import.
METHODS.lazy("test.broken.", "tests.harness.broken_methods")


def use_test_methods(editor: Editor) -> None:
    """The host ``editor`` starts from now on has the test methods (call before its first
    :Orchflow command)."""
    from tests.harness.venv import overlay_venv

    dest = Path(tempfile.mkdtemp(prefix="orchflow-test-hooks-")) / "venv"
    python = overlay_venv(
        dest, extra_pth={"orchflow_test_hooks.pth": f"{ROOT}\nimport tests.harness.host_methods\n"}
    )
    editor.lua("require('orchflow').setup({ python = ... })", str(python))


@METHODS.method("test.raise")
async def raise_foreign(core: Core, params: Params) -> None:
    raise RuntimeError("secret detail from test.raise")


@METHODS.method("test.abort")
async def cancel_itself(core: Core, params: Params) -> None:
    raise asyncio.CancelledError


@METHODS.method("test.sleep")
async def sleep(core: Core, params: Params) -> dict[str, Any]:
    seconds = param(params, "seconds", (int, float))
    await asyncio.sleep(seconds)
    return {"slept": seconds}
