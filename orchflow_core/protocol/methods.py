"""Host and JSON-RPC methods for rules: ``protocol.check|add|list|remove``.

The orchestrator serves them too (orchestrator/methods.py ``CORE_PARAMS``), over the same
``orchflow.db``: a rule added in one process is obeyed by the other.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import InvalidArgumentError

if TYPE_CHECKING:
    from orchflow_core.core import Core


def _alias(params: Params, name: str, alias: str) -> str | None:
    """``name`` or its spelling in issue 12 (``source`` for origin, ``agent_type`` for
    pane_type); both at once must agree."""
    value: str | None = param(params, name, str, None)
    other: str | None = param(params, alias, str, None)
    if value is not None and other is not None and value != other:
        raise InvalidArgumentError(
            f"{name} {value!r} and {alias} {other!r} disagree: give one", param=alias
        )
    return value if value is not None else other


@METHODS.method("protocol.check")
async def protocol_check(core: Core, params: Params) -> dict[str, Any]:
    """{action: allow|block|confirm|warn, rule?, message?, source?}: what the rules say of
    ``command`` from ``origin`` (default user) in a pane of ``pane_type`` while ``mode``
    is active. Nothing is run."""
    await core.start()
    verdict = await core.rules.check(
        param(params, "command", str),
        origin=_alias(params, "origin", "source") or "user",
        pane_type=_alias(params, "pane_type", "agent_type"),
        mode=param(params, "mode", str, None),
    )
    return verdict.to_dict()


@METHODS.method("protocol.add")
async def protocol_add(core: Core, params: Params) -> dict[str, Any]:
    """The rule as stored: {id, pattern, kind, action, message, scope, source: "user",
    removable: true}. Kept in SQLite; -32602 names a bad field or a regex refused as
    catastrophic; -32006 if the id is taken."""
    await core.start()
    rule: dict[str, Any] = {
        "pattern": param(params, "pattern", str),
        "kind": param(params, "kind", str, "shell"),
        "action": param(params, "action", str),
        "message": param(params, "message", str),
    }
    scope = param(params, "scope", dict, None)
    if scope is not None:
        rule["scope"] = scope
    rule_id = param(params, "id", str, None)
    if rule_id is not None:
        rule["id"] = rule_id
    return await core.rules.add(rule)


@METHODS.method("protocol.list")
async def protocol_list(core: Core, params: Params) -> dict[str, Any]:
    """{rules: [rule + {source, line}], problems: ["file:line: why"], files: {user, project}}"""
    await core.start()
    return await core.rules.list()


@METHODS.method("protocol.remove")
async def protocol_remove(core: Core, params: Params) -> dict[str, Any]:
    """{id, removed}; only rules added with protocol.add (others name their file)."""
    await core.start()
    return await core.rules.remove(param(params, "id", str))
