"""Test-only methods for the real Neovim host, registered at the host's start-up.

``use_test_methods(editor)`` puts ``host_hooks/`` on the editor's PYTHONPATH; Lua passes
PYTHONPATH on to the host it starts, whose Python then imports ``host_hooks/
sitecustomize.py`` and so this module. The methods fail in the ways a real handler
can (a foreign exception, a cancelled task, no answer for a while, a module that does
not import), so the tests see what the user would.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param

if TYPE_CHECKING:
    from orchflow_core.core import Core
    from tests.harness.editor import Editor

HOOKS = Path(__file__).resolve().parent / "host_hooks"

# A lazily loaded method family whose module raises ImportError on every import.
METHODS.lazy("test.broken.", "tests.harness.broken_methods")


def use_test_methods(editor: Editor) -> None:
    """The host ``editor`` starts from now on has the test methods (call before its first
    :Orchflow command)."""
    editor.lua(
        "local old = vim.env.PYTHONPATH"
        " vim.env.PYTHONPATH = (old and old ~= '') and (... .. ':' .. old) or ...",
        str(HOOKS),
    )


@METHODS.method("test.raise")
async def raise_foreign(core: Core, params: Params) -> None:
    raise RuntimeError("secret detail from test.raise")


@METHODS.method("test.cancel")
async def cancel_itself(core: Core, params: Params) -> None:
    raise asyncio.CancelledError


@METHODS.method("test.sleep")
async def sleep(core: Core, params: Params) -> dict[str, Any]:
    seconds = param(params, "seconds", (int, float))
    await asyncio.sleep(seconds)
    return {"slept": seconds}
