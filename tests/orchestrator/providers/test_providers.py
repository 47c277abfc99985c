"""Providers in-process against the fake API (fake_api.py: a stand-in for paid APIs that
speaks their wire formats), a real CLI script, and the scripted ACP agent."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from orchestrator.coordination.breakers import BreakerRegistry
from orchestrator.providers.config import parse_one
from orchestrator.providers.manager import ProviderManager
from orchflow_core.errors import (
    BackendError,
    ConfigError,
    InvalidArgumentError,
    PermissionDeniedError,
    TimeoutError_,
    UnavailableError,
)
from tests.orchestrator.providers.fake_api import MODEL, FakeApi

WRONG_KEY = "sk-test-WRONG-0123456789abcdefXYZ"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Sleeps:
    """The manager's sleep: records what it was asked to wait, waits no time."""

    def __init__(self) -> None:
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)


def manager(
    tmp_path: Path, providers: dict[str, Any], *, clock: Clock | None = None, **ai: Any
) -> tuple[ProviderManager, BreakerRegistry, Sleeps]:
    breakers = BreakerRegistry({}, clock=clock or Clock())
    sleeps = Sleeps()
    mgr = ProviderManager(
        {"providers": providers, "ai": ai},
        breakers=breakers,
        project_root=tmp_path,
        sleep=sleeps,
    )
    return mgr, breakers, sleeps


def openai(api: FakeApi, **extra: Any) -> dict[str, Any]:
    return {"kind": "openai", "base_url": f"{api.url}/v1", "model": MODEL, **extra}


def anthropic(api: FakeApi, **extra: Any) -> dict[str, Any]:
    return {"kind": "anthropic", "base_url": api.url, "model": MODEL, **extra}


async def test_openai_streams_deltas_and_reports_usage(api: FakeApi, tmp_path: Path) -> None:
    mgr, _, _ = manager(tmp_path, {"local": openai(api)})
    seen: list[str] = []
    done = await mgr.complete("say hello", system="be brief", on_delta=seen.append)
    assert seen == ["Hello", ", ", "world"]
    assert done.text == "Hello, world"
    assert (done.provider, done.model, done.finish_reason) == ("local", MODEL, "stop")
    assert done.usage == {"input_tokens": 7, "output_tokens": 3, "total_tokens": 10}
    sent = api.requests[0]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["stream"] is True
    assert sent["body"]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "say hello"},
    ]
    assert "Authorization" not in sent["headers"]  # no api_key_env: no key sent


async def test_anthropic_streams_its_events(
    api: FakeApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_ANTHROPIC_KEY", "right-key")
    api.script(("check_key", "right-key"))
    mgr, _, _ = manager(tmp_path, {"claude": anthropic(api, api_key_env="FAKE_ANTHROPIC_KEY")})
    seen: list[str] = []
    done = await mgr.complete("hi", system="sys", preamble="mode", on_delta=seen.append)
    assert seen == ["authorised"] and done.text == "authorised"
    assert done.finish_reason == "end_turn"
    assert done.usage == {"input_tokens": 9, "output_tokens": 1, "total_tokens": 10}
    sent = api.requests[0]
    assert sent["path"] == "/v1/messages"
    assert sent["headers"]["x-api-key"] == "right-key"
    assert sent["headers"]["anthropic-version"] == "2023-06-01"
    assert sent["body"]["system"] == "mode\n\nsys"  # the mode's preamble first
    assert sent["body"]["messages"] == [{"role": "user", "content": "hi"}]


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_429_is_retried_after_the_servers_retry_after(
    api: FakeApi, tmp_path: Path, kind: str
) -> None:
    api.script(("status", 429, {"Retry-After": "2"}), ("status", 503, {"Retry-After": "1"}))
    cfg = openai(api) if kind == "openai" else anthropic(api, api_key_env="UNSET_OK")
    if kind == "anthropic":
        os.environ["UNSET_OK"] = "k-0000"
    mgr, breakers, sleeps = manager(tmp_path, {"p": cfg})
    done = await mgr.complete("x")
    assert done.text == "Hello, world" and done.attempts == 3
    assert sleeps.asked == [2.0, 1.0]  # exactly what the server asked for
    assert len(api.requests) == 3
    assert breakers["provider.p"].snapshot()["state"] == "closed"


async def test_retry_after_longer_than_allowed_fails_at_once(api: FakeApi, tmp_path: Path) -> None:
    api.script(("status", 429, {"Retry-After": "3600"}))
    mgr, _, sleeps = manager(tmp_path, {"p": openai(api, max_retry_wait_s=10)})
    with pytest.raises(UnavailableError) as err:
        await mgr.complete("x")
    assert "is rate limiting (HTTP 429: fake status 429)" in err.value.message
    assert "retry after 3600 s" in err.value.message
    assert sleeps.asked == [] and len(api.requests) == 1


async def test_500s_open_the_breaker_which_half_opens_after_its_cool_down(
    api: FakeApi, tmp_path: Path
) -> None:
    clock = Clock()
    api.script(*[("status", 500, {})] * 3)
    cfg = openai(api, max_retries=0, breaker_failures=3, breaker_cooldown_s=30)
    mgr, breakers, _ = manager(tmp_path, {"p": cfg}, clock=clock)
    for _ in range(3):
        with pytest.raises(BackendError, match=r"failed \(HTTP 500: fake status 500\)"):
            await mgr.complete("x")
    assert breakers["provider.p"].snapshot()["state"] == "open"
    with pytest.raises(UnavailableError, match=r"circuit breaker 'provider.p' is open") as err:
        await mgr.complete("x")
    assert "tries again in 30.0 s" in err.value.message
    assert len(api.requests) == 3  # refused without calling the server
    view = mgr.views()[0]["breaker"]
    assert view["state"] == "open" and "HTTP 500" in view["last_failure"]
    clock.now += 30
    assert mgr.views()[0]["breaker"]["state"] == "half_open"
    done = await mgr.complete("x")  # the trial call works: closed again
    assert done.text == "Hello, world"
    assert breakers["provider.p"].snapshot()["state"] == "closed"


async def test_a_stalled_stream_ends_with_the_stall_timeout(api: FakeApi, tmp_path: Path) -> None:
    api.script(("stall", ["first"]))
    mgr, _, _ = manager(tmp_path, {"p": openai(api, stall_timeout_s=0.3)})
    seen: list[str] = []
    with pytest.raises(TimeoutError_) as err:
        await mgr.complete("x", on_delta=seen.append)
    assert "the stream stalled: nothing for 0.3 s (stall_timeout_s)" in err.value.message
    assert seen == ["first"]
    assert err.value.data["partial_text"] == "first"
    assert len(api.requests) == 1  # text had streamed: not tried again


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_invalid_json_in_the_stream_is_named(api: FakeApi, tmp_path: Path, kind: str) -> None:
    api.script(("bad_json", ["ok"]))
    os.environ["UNSET_OK"] = "k-0000"
    cfg = openai(api) if kind == "openai" else anthropic(api, api_key_env="UNSET_OK")
    mgr, _, _ = manager(tmp_path, {"p": cfg})
    with pytest.raises(BackendError, match=r"sent something that is not JSON in its stream"):
        await mgr.complete("x")


@pytest.mark.parametrize("kind", ["openai", "anthropic"])
async def test_a_wrong_key_is_a_clear_error_that_never_echoes_the_key(
    api: FakeApi,
    tmp_path: Path,
    kind: str,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level("DEBUG")
    monkeypatch.setenv("FAKE_KEY", WRONG_KEY)
    api.script(("check_key", "right-key"))
    cfg = (openai if kind == "openai" else anthropic)(api, api_key_env="FAKE_KEY")
    mgr, breakers, _ = manager(tmp_path, {"p": cfg})
    with pytest.raises(PermissionDeniedError) as err:
        await mgr.complete("x")
    msg = err.value.message
    assert "refused the key in $FAKE_KEY (HTTP 401: Incorrect API key provided: [redacted]" in msg
    assert WRONG_KEY not in str(err.value.to_dict()) and WRONG_KEY[:12] not in msg
    assert WRONG_KEY not in caplog.text and WRONG_KEY[:12] not in caplog.text
    assert WRONG_KEY not in str(mgr.views())
    assert mgr.views()[0]["api_key_set"] is True
    assert breakers["provider.p"].snapshot()["failures"] == 0  # the service is up
    assert len(api.requests) == 1  # not retried


async def test_an_unset_key_variable_is_unavailable_before_any_request(
    api: FakeApi, tmp_path: Path
) -> None:
    mgr, _, _ = manager(tmp_path, {"p": openai(api, api_key_env="ORCHFLOW_NO_SUCH_VAR")})
    with pytest.raises(UnavailableError, match=r"ORCHFLOW_NO_SUCH_VAR .api_key_env. is not set"):
        await mgr.complete("x")
    assert api.requests == []
    assert mgr.views()[0]["status"] == "unavailable"


async def test_cancelling_mid_stream_closes_the_request(api: FakeApi, tmp_path: Path) -> None:
    api.script(("hold", ["first"]))
    mgr, breakers, _ = manager(tmp_path, {"p": openai(api)})
    got_first = asyncio.Event()
    task = asyncio.ensure_future(mgr.complete("x", on_delta=lambda t: got_first.set()))
    await got_first.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    snap = breakers["provider.p"].snapshot()
    assert snap["state"] == "closed" and snap["failures"] == 0


def test_config_names_every_bad_field() -> None:
    with pytest.raises(ConfigError, match=r"providers.x.kind must be one of openai, anthropic"):
        parse_one("x", {"kind": "gpt"})
    with pytest.raises(ConfigError) as err:
        parse_one("x", {"kind": "openai", "model": "m", "api_key": "sk-secret-value"})
    assert "providers.x.api_key is not a field of a openai provider" in err.value.message
    assert "api_key_env" in err.value.message and "sk-secret-value" not in err.value.message
    with pytest.raises(ConfigError, match=r"providers.x.stall_timeout_s must be between"):
        parse_one("x", {"kind": "openai", "model": "m", "stall_timeout_s": -1})
    with pytest.raises(ConfigError, match=r"providers.x.model is missing"):
        parse_one("x", {"kind": "anthropic"})
    with pytest.raises(ConfigError, match=r"providers.x.command must be a non-empty list"):
        parse_one("x", {"kind": "cli", "command": "claude -p"})
    with pytest.raises(ConfigError, match=r"providers.x.api_key_env must be the NAME"):
        parse_one("x", {"kind": "openai", "model": "m", "api_key_env": "sk-abc-123"})
    with pytest.raises(ConfigError, match=r"providers.x.base_url must not carry credentials"):
        parse_one("x", {"kind": "openai", "model": "m", "base_url": "https://u:sk-1@h/v1"})
    with pytest.raises(ConfigError, match=r"providers.Bad! is not a valid provider name"):
        parse_one("Bad!", {"kind": "cli", "command": ["x"]})


async def test_a_bad_table_is_reported_by_every_call(tmp_path: Path) -> None:
    mgr, _, _ = manager(tmp_path, {"x": {"kind": "openai", "model": "m", "retries": 3}})
    assert mgr.error is not None and "providers.x.retries" in mgr.error
    with pytest.raises(ConfigError, match=r"providers\.x\.retries"):
        await mgr.complete("x")


async def test_provider_choice_and_its_errors(api: FakeApi, tmp_path: Path) -> None:
    two = {"a": openai(api), "b": openai(api)}
    mgr, _, _ = manager(tmp_path, two)
    with pytest.raises(InvalidArgumentError, match="no provider given and no default"):
        await mgr.complete("x")
    with pytest.raises(Exception, match=r"no provider 'c' \(configured: a, b\)"):
        await mgr.complete("x", provider="c")
    mgr, _, _ = manager(tmp_path, two, default_provider="b")
    assert (await mgr.complete("x")).provider == "b"
    with pytest.raises(InvalidArgumentError, match="prompt is empty"):
        await mgr.complete("  ")


# -- the CLI provider: a real script ---------------------------------------------------
CLI_SCRIPT = """
import os, subprocess, sys, time
prompt = sys.stdin.read()
mode = sys.argv[1]
if mode == "echo":
    for word in ["you", " said: ", prompt.upper()]:
        sys.stdout.write(word); sys.stdout.flush(); time.sleep(0.01)
elif mode == "fail":
    print("partial"); sys.stderr.write("model overloaded\\n"); sys.exit(4)
elif mode == "hang":
    child = subprocess.Popen(["sleep", "600"])
    open(sys.argv[2], "w").write(str(child.pid))
    sys.stdout.write("thinking"); sys.stdout.flush()
    time.sleep(600)
"""


def cli(tmp_path: Path, *args: str, **extra: Any) -> dict[str, Any]:
    script = tmp_path / "fake_cli.py"
    script.write_text(CLI_SCRIPT)
    return {"kind": "cli", "command": [sys.executable, str(script), *args], **extra}


async def test_cli_provider_streams_stdout(tmp_path: Path) -> None:
    mgr, _, _ = manager(tmp_path, {"c": cli(tmp_path, "echo")})
    seen: list[str] = []
    done = await mgr.complete("hi there", system="sys", on_delta=seen.append)
    assert done.text == "you said: SYS\n\nHI THERE"
    assert "".join(seen) == done.text and len(seen) >= 2


async def test_cli_provider_failure_names_exit_code_and_stderr(tmp_path: Path) -> None:
    mgr, _, _ = manager(tmp_path, {"c": cli(tmp_path, "fail")})
    with pytest.raises(BackendError, match=r"exited with code 4: model overloaded"):
        await mgr.complete("x")


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie waits for its parent (init here) to reap it: as good as gone
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


async def _gone(pid: int) -> None:
    async with asyncio.timeout(10):
        while _alive(pid):  # noqa: ASYNC110 - a foreign pid has no event to wait on
            await asyncio.sleep(0.05)


async def test_cancelling_a_cli_completion_kills_it_and_its_children(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    mgr, _, _ = manager(tmp_path, {"c": cli(tmp_path, "hang", str(pidfile))})
    got = asyncio.Event()
    task = asyncio.ensure_future(mgr.complete("x", on_delta=lambda t: got.set()))
    await got.wait()
    child = int(pidfile.read_text())
    assert _alive(child)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await _gone(child)


async def test_cli_stall_timeout_stops_the_command(tmp_path: Path) -> None:
    pidfile = tmp_path / "child.pid"
    mgr, _, _ = manager(
        tmp_path, {"c": cli(tmp_path, "hang", str(pidfile), stall_timeout_s=0.3, max_retries=0)}
    )
    with pytest.raises(TimeoutError_, match=r"wrote nothing for 0.3 s \(stall_timeout_s\)"):
        await mgr.complete("x")
    child = int(pidfile.read_text())
    await _gone(child)


async def test_a_missing_cli_command_is_unavailable(tmp_path: Path) -> None:
    mgr, _, _ = manager(tmp_path, {"c": {"kind": "cli", "command": ["orchflow-no-such-cli"]}})
    with pytest.raises(UnavailableError, match="'orchflow-no-such-cli' is not on PATH"):
        await mgr.complete("x")


def test_retry_after_reads_seconds_and_http_dates() -> None:
    from orchestrator.providers.http import retry_after

    assert retry_after("2") == 2.0
    assert retry_after("0.5") == 0.5
    assert retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412480.0) == 30.0
    assert retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now=1445412600.0) == 0.0  # past
    assert retry_after("soon") is None and retry_after(None) is None


def test_secret_named_values_are_redacted_for_display() -> None:
    from orchflow_core.config import redacted

    shown = redacted(
        {
            "providers": {"x": {"kind": "openai", "api_key": "sk-live-1", "api_key_env": "K"}},
            "tmux": {"socket": "s"},
        }
    )
    assert shown["providers"]["x"] == {
        "kind": "openai",
        "api_key": "[redacted]",
        "api_key_env": "K",
    }
    assert shown["tmux"] == {"socket": "s"}
