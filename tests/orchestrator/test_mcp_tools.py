"""The MCP tool table (orchestrator/mcp/tools.py): one declaration per tool, checked against
the API it calls and the docs generated from it. Pure: no process, no socket."""

from __future__ import annotations

import math
import re

import pytest

from orchestrator.mcp.tools import BY_NAME, MAX_ARGUMENTS_BYTES, TOOLS, check_size, markdown
from orchflow_core.errors import InvalidArgumentError
from tests.harness.editor import ROOT


def api_params(method: str) -> frozenset[str]:
    from orchestrator.methods import _TABLE, CORE_PARAMS

    if method in _TABLE:
        return _TABLE[method][1]
    return CORE_PARAMS[method]


def test_every_argument_is_a_parameter_of_the_method_it_calls() -> None:
    for tool in TOOLS:
        allowed = api_params(tool.method)
        for arg in tool.args:
            if tool.run is None:
                assert (arg.rpc or arg.name) in allowed, (tool.name, arg.name)
        assert set(tool.defaults) <= allowed, tool.name
        for method in tool.also:
            api_params(method)  # exists


def test_doc_mcp_md_lists_exactly_the_generated_tools() -> None:
    text = (ROOT / "doc" / "mcp.md").read_text()
    generated = text.split("<!-- tools: generated -->\n", 1)[1].split("<!-- end tools -->", 1)[0]
    assert generated == markdown(), "regenerate: python -m orchestrator.mcp.tools"


def test_help_names_every_tool() -> None:
    help_text = (ROOT / "doc" / "orchflow.txt").read_text()
    section = help_text.split("*orchflow-mcp*", 1)[1].split("*:Orchflow-agent-new*", 1)[0]
    named = set(re.findall(r"\b[a-z]+(?:_[a-z]+)*\b", section))
    assert {t.name for t in TOOLS} <= named


def test_schemas_are_closed_objects_with_their_required_arguments() -> None:
    schema = BY_NAME["pane_run"].input_schema()
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert schema["required"] == ["pane", "command"]
    assert schema["properties"]["timeout_s"] == {
        "type": "number",
        "description": "how long to wait for the end (default 30)",
        "minimum": 0,
        "maximum": 3600,
    }
    assert "type" not in BY_NAME["memory_store"].input_schema()["properties"]["value"]


@pytest.mark.parametrize(
    ("tool", "arguments", "message"),
    [
        ("pane_output", {"pane": "a", "lines": True}, "'lines' must be an integer, got true"),
        ("pane_output", {"pane": "a", "lines": 1.5}, "'lines' must be an integer, got 1.5"),
        ("pane_output", {"pane": "a", "lines": 0}, "'lines' must be between 1 and 10000, got 0"),
        ("pane_run", {"pane": "a", "command": "x", "timeout_s": math.nan}, "'timeout_s' must be"),
        ("pane_create", {"type": "shel"}, "'type' must be one of shell, dev"),
        ("pane_send", {"pane": 3, "text": "x"}, "'pane' must be a string, got 3"),
        ("pane_send", {"pane": "a"}, "missing required argument 'text' for pane_send"),
        ("agent_list", {"x": 1}, "unknown argument 'x' for agent_list (expected: none)"),
    ],
)
def test_bad_arguments_name_the_argument(tool: str, arguments: dict, message: str) -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        BY_NAME[tool].check(arguments)
    assert message in caught.value.message
    assert caught.value.data.get("param") in arguments or "missing" in caught.value.message


def test_checked_arguments_become_the_api_parameters() -> None:
    assert BY_NAME["pane_create"].check({"command": "htop", "name": "top"}) == {
        "cmd": "htop",
        "name": "top",
    }
    assert BY_NAME["pane_send"].check({"pane": "a", "text": "ls"}) == {
        "pane": "a",
        "text": "ls",
        "enter": True,
    }
    assert BY_NAME["pane_send"].check({"pane": "a", "text": "ls", "enter": False})["enter"] is False
    assert BY_NAME["memory_store"].check({"key": "k", "value": None, "ttl": 1}) is not None


def test_size_cap() -> None:
    check_size({"v": "x" * (MAX_ARGUMENTS_BYTES - 20)})
    with pytest.raises(InvalidArgumentError, match="arguments too large"):
        check_size({"v": "x" * MAX_ARGUMENTS_BYTES})
