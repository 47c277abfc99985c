"""``orchflow-orchestrator serve|status|stop`` (also ``python -m orchestrator``).

serve   run the orchestrator until SIGTERM/SIGINT/SIGHUP, ``system.shutdown`` or, with
        ``--parent-pid``, the death of that process. Once it listens it writes the
        discovery file and prints one JSON line on stdout:
        ``{"ready": true, "url": ..., "pid": ..., "discovery_file": ...}`` (no token).
        Exit 0 after a graceful stop, 1 if it cannot start (the reason on stderr).
status  read the discovery file, connect, call ``system.health``; print a summary.
        Exit 0 if healthy, 1 otherwise (not running, stale file, degraded: the reason).
mcp     serve orchflow's MCP tools on stdin/stdout, calling the running orchestrator
        (found through the discovery file); exit 1 with how to start one if none runs.
        ``--check`` only says whether that would work.
hook    report a vendor hook event (the JSON on stdin) to the running orchestrator as
        ``agent.hook``; always exits 0, silently (orchestrator/hook_cli.py: stdlib only,
        so it starts fast; failures go to hook.log in the log dir).
stop    ask the server to shut down (``system.shutdown``), or send SIGTERM to the pid in
        the discovery file if it does not answer; wait (bounded) for it to exit.
        Exit 0 once it is gone, 1 if it is still running or was not running.

The token is read from the discovery file only; it never appears in argv or output.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core.errors import OrchflowError

if TYPE_CHECKING:  # argparse and asyncio load on use: ``hook`` runs without them
    import argparse
    from collections.abc import Coroutine

DEFAULT_STATUS_TIMEOUT_S = 3.0
DEFAULT_STOP_TIMEOUT_S = 10.0


def _parser() -> argparse.ArgumentParser:
    import argparse

    parser = argparse.ArgumentParser(
        prog="orchflow-orchestrator",
        description="orchflow's orchestrator: agents, sessions and memory over JSON-RPC.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the orchestrator")
    serve.add_argument(
        "--listen",
        help="127.0.0.1:PORT (0: any free port), [::1]:PORT or unix:/abs/path "
        "(default: unix:<runtime dir>/orchestrator.sock, or 127.0.0.1:0 if that path is too long)",
    )
    serve.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --listen address (the token is still required)",
    )
    serve.add_argument(
        "--allowed-host",
        action="append",
        default=[],
        metavar="NAME",
        help="with --allow-remote: a Host header name clients use (repeatable)",
    )
    _add_discovery(serve)
    serve.add_argument("--state-dir", type=Path, help="where memory.db and orchestrator.db live")
    serve.add_argument("--project-root", type=Path, help="default cwd of agents (default: cwd)")
    serve.add_argument(
        "--parent-pid", type=int, help="sidecar: exit gracefully when this process dies"
    )
    serve.add_argument(
        "--mode",
        choices=("service", "sidecar"),
        help="recorded in the discovery file (default: sidecar with --parent-pid, else service)",
    )
    serve.add_argument(
        "--core-config",
        metavar="JSON",
        help="orchflow_core options as a JSON object, over config.toml as setup() would be "
        '(e.g. \'{"tmux": {"socket": "work"}}\'; the Neovim host passes its effective '
        "tmux, terminal and log options to its sidecar)",
    )
    serve.add_argument(
        "--agent-idle-after",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="an agent quiet this long is idle (default 1.0)",
    )
    status = sub.add_parser("status", help="is an orchestrator running and healthy?")
    _add_discovery(status)
    status.add_argument("--json", action="store_true", help="print system.health as JSON")
    status.add_argument("--timeout", type=float, default=DEFAULT_STATUS_TIMEOUT_S)
    stop = sub.add_parser("stop", help="stop the running orchestrator")
    _add_discovery(stop)
    stop.add_argument("--timeout", type=float, default=DEFAULT_STOP_TIMEOUT_S)
    mcp = sub.add_parser(
        "mcp", help="serve orchflow's tools over MCP on stdio (through the running orchestrator)"
    )
    _add_discovery(mcp)
    mcp.add_argument(
        "--check",
        action="store_true",
        help="only check that the orchestrator answers; print what would be served",
    )
    hook = sub.add_parser(
        "hook",
        help="report an agent CLI's hook event (JSON on stdin) to the orchestrator; exits 0",
    )
    hook.add_argument("event", help="the vendor's event name (Stop, Notification, notify ...)")
    hook.add_argument("--agent", help="the agent's hook id (default: $ORCHFLOW_AGENT)")
    hook.add_argument("--timeout", type=float, help="seconds for the whole exchange (1.5)")
    hook.add_argument("payload", nargs="?", help="the hook JSON, if not on stdin (Codex notify)")
    _add_discovery(hook)
    return parser


def _add_discovery(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--discovery-file",
        type=Path,
        help="discovery file path (default: <runtime dir>/orchestrator.json)",
    )


def main(argv: list[str] | None = None) -> int:
    raw = sys.argv[1:] if argv is None else argv
    if raw[:1] == ["hook"] and not {"-h", "--help"} & set(raw):
        from orchestrator.hook_cli import main as hook_main  # lean: no argparse, no asyncio

        return hook_main(raw)
    import asyncio

    args = _parser().parse_args(argv)
    if args.command == "serve":
        return _serve(args)
    if args.command == "status":
        return asyncio.run(_status(args))
    if args.command == "mcp":
        return _mcp(args)
    return asyncio.run(_stop(args))


def _fail(message: str) -> int:
    print(f"orchflow-orchestrator: {message}", file=sys.stderr)
    return 1


# -- serve ---------------------------------------------------------------------------------


def _run_loop(main: Coroutine[Any, Any, None]) -> None:
    """uvloop where installed: 10-20% more requests per second for the same CPU
    (shared/research/perf.md section 4); plain asyncio otherwise."""
    import asyncio

    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


def _serve(args: argparse.Namespace) -> int:
    import asyncio
    import importlib.util

    if importlib.util.find_spec("prometheus_client") is None:  # /metrics needs it
        return _fail(
            "prometheus-client is missing: the orchestrator needs the `orchestrator` extra. "
            "Fix: pip install 'orchflow[orchestrator]' (or `make install` in the plugin dir)"
        )
    from orchestrator.app import Options, Orchestrator

    options = Options()
    if args.listen:
        options.listen = args.listen
    if args.discovery_file:
        options.discovery_file = args.discovery_file.expanduser().absolute()
    if args.state_dir:
        options.state_dir = args.state_dir.expanduser().absolute()
    if args.project_root:
        root = args.project_root.expanduser().absolute()
        if not root.is_dir():
            return _fail(f"--project-root {root} is not a directory")
        options.project_root = root
    if args.core_config:
        try:
            overrides = json.loads(args.core_config)
        except ValueError as exc:
            return _fail(f"--core-config is not JSON: {exc}")
        if not isinstance(overrides, dict):
            return _fail("--core-config must be a JSON object")
        options.core_overrides = overrides
    options.allow_remote = args.allow_remote
    options.allowed_hosts = tuple(args.allowed_host)
    options.parent_pid = args.parent_pid
    options.idle_after_s = args.agent_idle_after
    options.mode = args.mode or ("sidecar" if args.parent_pid else "service")

    async def run() -> None:
        app = Orchestrator(options)
        ready = asyncio.get_running_loop().create_task(_announce(app))
        try:
            await app.run()
        finally:
            ready.cancel()

    try:
        _run_loop(run())
    except OrchflowError as exc:
        return _fail(exc.message)
    except KeyboardInterrupt:  # a second ^C during shutdown
        return 130
    _exit_despite_stray_threads()
    return 0


def _exit_despite_stray_threads() -> None:
    """Everything is closed; a non-daemon thread left behind (a library's worker) must not
    keep a stopped server alive, which a supervisor would have to SIGKILL."""
    import logging
    import threading

    stray = [
        t.name for t in threading.enumerate() if not t.daemon and t is not threading.main_thread()
    ]
    if stray:
        logging.getLogger("orchestrator.cli").warning(
            "exiting with threads still running: %s", ", ".join(stray)
        )
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)


async def _announce(app: Any) -> None:
    """Print the ready line once the server listens and the discovery file is written."""
    await app.ready.wait()
    line = {
        "ready": True,
        "url": app.server.url,
        "pid": os.getpid(),
        "discovery_file": str(app.discovery_file),
    }
    print(json.dumps(line), flush=True)


# -- mcp -----------------------------------------------------------------------------------


def _mcp(args: argparse.Namespace) -> int:
    import asyncio
    import importlib.util

    if importlib.util.find_spec("mcp") is None:
        return _fail(
            "the MCP SDK (`mcp`) is missing: it comes with the `orchestrator` extra. "
            "Fix: pip install 'orchflow[orchestrator]' (or `make install` in the plugin dir)"
        )
    from orchestrator.mcp import stdio
    from orchflow_core.remote import discovery

    path = args.discovery_file or discovery.default_path()
    if args.check:
        ok, message = asyncio.run(stdio.check(path))
        if not ok:
            return _fail(message)
        print(message)
        return 0
    try:  # uvloop where installed, as for serve: less CPU per call on the extra hop
        import uvloop
    except ImportError:
        return asyncio.run(stdio.serve(path))
    return uvloop.run(stdio.serve(path))


# -- status / stop -------------------------------------------------------------------------


def _discovery_path(args: argparse.Namespace) -> Path:
    from orchestrator import discovery

    return args.discovery_file or discovery.default_path()


async def _health(info: Any, timeout: float) -> dict[str, Any]:  # noqa: ASYNC109
    from orchflow_core.rpc.client import RpcClient

    client = await RpcClient.connect(info.url, info.token, timeout=timeout, call_timeout=timeout)
    async with client:
        result: dict[str, Any] = await client.call("system.health")
        return result


async def _status(args: argparse.Namespace) -> int:
    from orchestrator import discovery

    path = _discovery_path(args)
    try:
        info = discovery.read(path)
    except OrchflowError as exc:
        return _fail(f"not running: {exc.message}")
    if not discovery.pid_alive(info.pid):
        return _fail(f"not running: {path} is stale (pid {info.pid} is gone)")
    try:
        health = await _health(info, args.timeout)
    except OrchflowError as exc:
        return _fail(f"pid {info.pid} does not answer at {info.url}: {exc.message}")
    if args.json:
        print(json.dumps(health, indent=1))
    else:
        memory = health["memory_entries"]
        print(
            f"orchestrator {health['version']} {health['status']} (pid {health['pid']}, "
            f"{health['mode']}) at {info.url}\n"
            f"  uptime {health['uptime_s']:.0f}s, {health['connections']} connection(s), "
            f"{health['agents']} agent(s), "
            f"{'no memory' if memory is None else f'{memory} memory entries'}, "
            f"tmux {health['tmux']}"
        )
        for problem in health["problems"]:
            print(f"  problem: {problem}")
    return 0 if health["status"] == "ok" else 1


async def _stop(args: argparse.Namespace) -> int:
    import asyncio

    from orchestrator import discovery
    from orchflow_core.rpc.client import RpcClient

    path = _discovery_path(args)
    try:
        info = discovery.read(path)
    except OrchflowError as exc:
        return _fail(f"not running: {exc.message}")
    if not discovery.pid_alive(info.pid):
        path.unlink(missing_ok=True)
        return _fail(f"not running: removed stale {path} (pid {info.pid} is gone)")
    how = "system.shutdown"
    try:
        client = await RpcClient.connect(info.url, info.token, timeout=2.0, call_timeout=2.0)
        async with client:
            await client.call("system.shutdown")
    except OrchflowError:
        if not discovery.looks_like_orchestrator(info.pid):
            return _fail(f"pid {info.pid} from {path} is not an orchestrator; not signalling it")
        how = "SIGTERM"
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + args.timeout
    # Another process's exit has no event to wait on here (it is not our child).
    while discovery.pid_alive(info.pid) and time.monotonic() < deadline:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    if discovery.pid_alive(info.pid):
        return _fail(f"pid {info.pid} still running {args.timeout}s after {how}")
    print(f"orchestrator stopped (pid {info.pid}, via {how})")
    return 0
