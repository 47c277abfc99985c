"""A method module that cannot be imported (see host_methods.py)."""

from __future__ import annotations

from typing import Any

from orchflow_core.api import METHODS


@METHODS.method("test.broken.first")
async def first(core: Any, params: Any) -> None:
    """Registered before the import fails: must not be left behind half-loaded."""


import orchflow_test_dependency_that_is_not_installed  # noqa: E402, F401
