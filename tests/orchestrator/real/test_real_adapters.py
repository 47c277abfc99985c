"""The real ACP adapters (npm, pinned in adapters.txt, installed by .ci/real-agents outside
the checkout) driven by orchflow's ACP client through a real orchestrator: their real
``initialize`` answers, and what orchflow shows when they have no credentials.

No credentials and no network to the vendors exist here; what is checked is exactly what
needs neither: initialize, session/new, ACP's auth_required error and ``authenticate`` by an
environment variable. Each runs with a throwaway HOME and no credential variables. An
adapter that is not installed skips, naming the command that installs it.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from orchflow_core.rpc.client import RpcClient
from tests.harness.tmux import TmuxServer
from tests.orchestrator.acp.conftest import wait_state
from tests.orchestrator.server_process import OrchestratorProcess, server_env

PINS = Path(__file__).with_name("adapters.txt")
AGENTS = Path(os.environ.get("ORCHFLOW_REAL_AGENTS", Path.home() / ".cache/orchflow-ci/agents"))
BIN = AGENTS / "node_modules" / ".bin"
CREDENTIALS = (
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_AUTH_TOKEN",
    "CLAUDE_CODE_OAUTH_TOKEN",
    "OPENAI_API_KEY",
    "CODEX_API_KEY",
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "GOOGLE_CLOUD_PROJECT",
    "IS_SANDBOX",
)
FAKE_KEY = "sk-orchflow-test-not-a-real-key"  # never valid; only authenticate sees it
WITHIN = 60.0  # generous for a loaded machine; the adapters answer in about 3 s


def pinned(package: str) -> str:
    for line in PINS.read_text().splitlines():
        if line.startswith(package + "@"):
            return line.rsplit("@", 1)[1]
    raise AssertionError(f"{package} is not pinned in {PINS}")


def need(binary: str) -> str:
    path = BIN / binary
    if not path.exists():
        pytest.skip(f"{binary} is not installed in {AGENTS}: run .ci/real-agents")
    return str(path)


def toml_env(home: Path, **extra: str) -> str:
    env = {
        "HOME": str(home),
        "XDG_CONFIG_HOME": str(home / ".config"),
        "XDG_DATA_HOME": str(home / ".local/share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        **extra,
    }
    return "{ " + ", ".join(f"{k} = {json.dumps(v)}" for k, v in env.items()) + " }"


@pytest.fixture
async def real_orch(
    tmp_path: Path, private_tmux: TmuxServer
) -> AsyncIterator[tuple[OrchestratorProcess, Path]]:
    home = tmp_path / "agent-home"  # the adapters' throwaway HOME
    home.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    (work / "README.md").write_text("a project\n")
    claude, codex = BIN / "claude-agent-acp", BIN / "codex-acp"
    gemini = BIN / "gemini"
    config_text = (
        f"[agents.claude]\nacp = [{json.dumps(str(claude))}]\ninit_timeout_s = {WITHIN}\n"
        f"env = {toml_env(home / 'claude')}\n\n"
        f'[agents.claude-root]\nacp = [{json.dumps(str(claude))}]\ntransport = "acp"\n'
        f"init_timeout_s = {WITHIN}\nenv = {toml_env(home / 'claude-root', IS_SANDBOX='yes')}\n\n"
        f"[agents.codex]\nacp = [{json.dumps(str(codex))}]\ninit_timeout_s = {WITHIN}\n"
        f"env = {toml_env(home / 'codex')}\n\n"
        f'[agents.codex-key]\nacp = [{json.dumps(str(codex))}]\ntransport = "acp"\n'
        f"init_timeout_s = {WITHIN}\n"
        f"env = {toml_env(home / 'codex-key', OPENAI_API_KEY=FAKE_KEY)}\n\n"
        f"[agents.gemini]\nacp = {json.dumps([str(gemini), '--experimental-acp'])}\n"
        f"init_timeout_s = {WITHIN}\nenv = {toml_env(home / 'gemini')}\n"
    )
    base = tmp_path / "orch"
    config = base / "config" / "orchflow" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(config_text)
    env = server_env(base, private_tmux.socket)
    for name in CREDENTIALS:
        env.pop(name, None)
    server = await OrchestratorProcess.start(base, private_tmux.socket, project_root=work, env=env)
    try:
        yield server, work
    finally:
        await server.stop()


async def create(client: RpcClient, agent: str, work: Path) -> dict[str, Any]:
    made: dict[str, Any] = await client.call(
        "agent.create", {"type": "ai", "agent": agent, "transport": "acp", "cwd": str(work)}
    )
    return made


async def test_codex_acp_without_credentials_says_how_to_log_in(
    real_orch: tuple[OrchestratorProcess, Path],
) -> None:
    need("codex-acp")
    server, work = real_orch
    async with await server.client() as client:
        made = await create(client, "codex", work)
        got = await wait_state(client, made["id"], {"error", "idle"}, within=WITHIN)
    assert got["state"] == "error" and got["state_source"] == "acp"
    assert got["agent_info"] == {
        "name": "codex-acp",
        "title": "Codex",
        "version": pinned("@zed-industries/codex-acp"),
    }
    methods = {m["id"]: m for m in got["auth_methods"]}
    assert set(methods) == {"chatgpt", "codex-api-key", "openai-api-key"}
    assert methods["openai-api-key"]["type"] == "env_var"
    assert methods["openai-api-key"]["vars"] == ["OPENAI_API_KEY"]
    reason = got["state_reason"]
    assert reason.startswith("needs login: Codex CLI answered session/new with ")
    assert "'Authentication required'" in reason and "run `codex login` once" in reason
    assert "Use OPENAI_API_KEY (set OPENAI_API_KEY)" in reason
    assert "Login with ChatGPT" in reason and got["authenticated"] is None


async def test_codex_acp_with_an_api_key_variable_is_authenticated_by_orchflow(
    real_orch: tuple[OrchestratorProcess, Path],
) -> None:
    """codex-acp refuses session/new until ``authenticate`` even with OPENAI_API_KEY set;
    orchflow authenticates with the env_var method and the session opens (no network is
    needed until a prompt)."""
    need("codex-acp")
    server, work = real_orch
    async with await server.client() as client:
        made = await create(client, "codex-key", work)
        got = await wait_state(client, made["id"], {"error", "idle"}, within=WITHIN)
        assert got["state"] == "idle", got["state_reason"]
        assert got["authenticated"] == "openai-api-key" and got["acp_session_id"]
        assert FAKE_KEY not in json.dumps(got)  # names only, never the value
        await client.call("agent.stop", {"id": made["id"]})
    log_text = "".join(p.read_text() for p in (server.base / "log").rglob("*.log"))
    assert FAKE_KEY not in log_text


async def test_gemini_acp_without_a_key_says_which_variable(
    real_orch: tuple[OrchestratorProcess, Path],
) -> None:
    need("gemini")
    server, work = real_orch
    async with await server.client() as client:
        made = await create(client, "gemini", work)
        got = await wait_state(client, made["id"], {"error", "idle"}, within=WITHIN)
    assert got["state"] == "error"
    assert got["agent_info"]["name"] == "gemini-cli"
    assert got["agent_info"]["version"] == pinned("@google/gemini-cli")
    assert [m["id"] for m in got["auth_methods"]] == [
        "oauth-personal",
        "gemini-api-key",
        "vertex-ai",
        "gateway",
    ]
    reason = got["state_reason"]
    assert "needs login: Gemini CLI answered session/new with " in reason
    assert "Gemini API key is missing or not configured." in reason
    assert "or set GEMINI_API_KEY" in reason and "Log in with Google" in reason


async def test_claude_agent_acp_opens_a_session_and_the_first_prompt_needs_login(
    real_orch: tuple[OrchestratorProcess, Path],
) -> None:
    need("claude-agent-acp")
    server, work = real_orch
    async with await server.client() as client:
        made = await create(client, "claude", work)
        got = await wait_state(client, made["id"], {"error", "idle"}, within=WITHIN)
        assert got["state"] == "idle", got["state_reason"]
        assert got["agent_info"]["version"] == pinned("@zed-industries/claude-agent-acp")
        assert got["auth_methods"] == []  # none offered to a client without terminal auth
        turn = await client.call("agent.prompt", {"id": made["id"], "text": "say hi"})
        got = await wait_state(client, made["id"], {"error"}, within=WITHIN)
        turns = await client.call("agent.turns", {"id": made["id"]})
    reason = got["state_reason"]
    assert reason.startswith("needs login: Claude Code answered the prompt with ")
    assert "'Authentication required'" in reason
    assert "run `claude` in a terminal once and log in with /login" in reason
    ended = next(t for t in turns if t["turn_id"] == turn["turn_id"])
    assert "Authentication required" in ended["error"]


@pytest.mark.skipif(os.geteuid() != 0, reason="the root-only refusal of Claude Code")
async def test_claude_agent_acp_as_root_with_is_sandbox_not_1_names_the_fix(
    real_orch: tuple[OrchestratorProcess, Path],
) -> None:
    need("claude-agent-acp")
    server, work = real_orch
    async with await server.client() as client:
        made = await create(client, "claude-root", work)
        got = await wait_state(client, made["id"], {"error", "idle"}, within=WITHIN)
    assert got["state"] == "error"
    assert "Query closed before response received" in got["state_reason"]
    assert "(it is 'yes' here)" in got["state_reason"]
    assert 'set env = {IS_SANDBOX = "1"}' in got["state_reason"]
