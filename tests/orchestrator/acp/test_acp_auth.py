"""acp_auth.py on the real adapters' answers (recorded 2026-11-30 from codex-acp 0.16.0 and
Gemini CLI 0.61.0, parsed by the ACP SDK's own schema): which env_var method orchflow may
authenticate with, and the login reason a user sees. No processes: the real adapters run in
tests/orchestrator/real."""

from __future__ import annotations

from typing import Any

from acp import RequestError
from acp.schema import InitializeResponse

from orchestrator.agents import acp_auth

CODEX_INIT = {
    "protocolVersion": 1,
    "authMethods": [
        {
            "id": "chatgpt",
            "name": "Login with ChatGPT",
            "description": "Use your ChatGPT login with Codex CLI (requires a paid ChatGPT "
            "subscription)",
        },
        {
            "type": "env_var",
            "id": "codex-api-key",
            "name": "Use CODEX_API_KEY",
            "description": "Requires setting the `CODEX_API_KEY` environment variable.",
            "vars": [{"name": "CODEX_API_KEY"}],
        },
        {
            "type": "env_var",
            "id": "openai-api-key",
            "name": "Use OPENAI_API_KEY",
            "description": "Requires setting the `OPENAI_API_KEY` environment variable.",
            "vars": [{"name": "OPENAI_API_KEY"}],
        },
    ],
    "agentInfo": {"name": "codex-acp", "title": "Codex", "version": "0.16.0"},
}


def codex_methods() -> list[dict[str, Any]]:
    return acp_auth.methods(InitializeResponse.model_validate(CODEX_INIT))


def chosen(env: dict[str, str]) -> object:
    method = acp_auth.env_method(codex_methods(), env)
    return method["id"] if method else None


def test_the_env_var_method_whose_variable_is_set_is_chosen() -> None:
    assert [m["type"] for m in codex_methods()] == ["agent", "env_var", "env_var"]
    assert chosen({"OPENAI_API_KEY": "x"}) == "openai-api-key"
    assert chosen({"CODEX_API_KEY": "x", "OPENAI_API_KEY": "y"}) == "codex-api-key"
    assert chosen({"OPENAI_API_KEY": ""}) is None  # set but empty
    assert chosen({}) is None


def test_the_login_reason_names_the_hint_and_every_way_offered() -> None:
    reason = acp_auth.login_reason(
        label="Codex CLI",
        hint="run `codex login` once",
        found=codex_methods(),
        exc=RequestError.auth_required(),
        when="session/new",
    )
    assert reason == (
        "needs login: Codex CLI answered session/new with 'Authentication required'; to log "
        "in: run `codex login` once; it offers: Login with ChatGPT (Use your ChatGPT login "
        "with Codex CLI (requires a paid ChatGPT subscription)); Use CODEX_API_KEY (set "
        "CODEX_API_KEY); Use OPENAI_API_KEY (set OPENAI_API_KEY); then create the agent again"
    )


def test_gemini_auth_required_with_its_own_message_is_a_login_error() -> None:
    gemini = RequestError(-32000, "Gemini API key is missing or not configured.")
    assert acp_auth.is_auth_error(gemini)
    assert not acp_auth.is_auth_error(RequestError.internal_error())
    closed = RequestError(
        -32603, "Internal error", {"details": "Query closed before response received"}
    )
    text = acp_auth.refused_reason(closed, {})
    assert text == (
        "the agent refused to start a session: Internal error (Query closed before "
        "response received)"
    )
