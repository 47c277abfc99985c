"""``orchflow-orchestrator hook <event> [--agent ID] [PAYLOAD]``: a vendor hook's report.

An agent CLI in a tmux pane (Claude Code, Codex, Gemini CLI, aider) runs this from the
hooks orchflow wired for it (orchestrator/agents/hook_wiring.py). It reads the vendor's
hook JSON from stdin (or, as Codex's ``notify`` passes it, from a last argument), finds the
orchestrator through its discovery file and calls ``agent.hook {agent, event, payload}``
over one short WebSocket exchange, bounded by ``--timeout`` (default 1.5 s in all).

It ALWAYS exits 0 and prints nothing: malformed JSON, an unknown agent, no orchestrator,
an orchestrator that hangs or refuses; the vendor CLI must never be disturbed by it. The
reason goes to one line of ``hook.log`` in orchflow's log dir.

Lean on purpose: it runs once per hook event (Claude runs it around every tool call), so
it imports the standard library only — no asyncio, no websockets, nothing of the
orchestrator — and speaks the one WebSocket exchange it needs itself (RFC 6455: a masked
text frame out, text frames in). ``python -X importtime`` shows what it costs.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import socket
import struct
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT_S = 1.5  # the whole exchange: connect, handshake, call, answer
DEFAULT_STDIN_WAIT_S = 0.5  # a hook's JSON is written at once; a pipe left open is not waited on
MAX_PAYLOAD = 1 << 20  # bytes of hook JSON read; more is cut (and logged)
LOG_MAX_BYTES = 1 << 20  # hook.log is rotated once (hook.log.1) past this
LOG_NAME = "hook.log"
USAGE = (
    "usage: orchflow-orchestrator hook EVENT [--agent ID] [--discovery-file PATH] "
    "[--timeout S] [PAYLOAD]"
)


class HookFailed(Exception):
    """Why the report did not reach the orchestrator (logged, never shown)."""


# -- arguments ------------------------------------------------------------------------------


def _parse(argv: list[str]) -> dict[str, Any]:
    """EVENT, --agent, --discovery-file, --timeout and an optional JSON payload argument;
    argparse costs more than this whole exchange, so the few options are read by hand."""
    opts: dict[str, Any] = {
        "event": None,
        "agent": None,
        "discovery_file": None,
        "timeout": DEFAULT_TIMEOUT_S,
        "payload_arg": None,
    }
    names = {"--agent": "agent", "--discovery-file": "discovery_file", "--timeout": "timeout"}
    rest = list(argv)
    while rest:
        arg = rest.pop(0)
        key = names.get(arg.split("=", 1)[0])
        if key is not None:
            if "=" in arg:
                value = arg.split("=", 1)[1]
            elif rest:
                value = rest.pop(0)
            else:
                raise HookFailed(f"{arg} needs a value; {USAGE}")
            if key == "timeout":
                try:
                    opts[key] = max(0.05, min(float(value), 30.0))
                except ValueError:
                    raise HookFailed(f"--timeout {value!r} is not a number of seconds") from None
            else:
                opts[key] = value
        elif opts["event"] is None:
            opts["event"] = arg
        elif opts["payload_arg"] is None:
            opts["payload_arg"] = arg  # Codex notify: the JSON is the last argument
        else:
            raise HookFailed(f"unexpected argument {arg[:60]!r}; {USAGE}")
    if not opts["event"]:
        raise HookFailed(f"no event given; {USAGE}")
    opts["agent"] = opts["agent"] or os.environ.get("ORCHFLOW_AGENT") or None
    return opts


def _read_stdin(*, wait_s: float = DEFAULT_STDIN_WAIT_S) -> bytes:
    """The hook JSON on stdin; nothing if stdin is a terminal (aider's notification command
    may inherit the pane's tty: reading it would steal the user's keys) or closed."""
    try:
        fd = sys.stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return b""
    if os.isatty(fd):
        return b""
    data = bytearray()
    deadline = time.monotonic() + wait_s
    while len(data) <= MAX_PAYLOAD:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            break
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        data += chunk
    return bytes(data)


def _payload(opts: dict[str, Any], stdin: bytes) -> tuple[Any, str | None]:
    """(payload, problem): the hook JSON as an object; malformed JSON is still reported
    (payload {"raw": first 2000 chars}) so the event's state change is not lost, and
    logged."""
    raw = opts["payload_arg"].encode() if opts["payload_arg"] is not None else stdin
    if len(raw) > MAX_PAYLOAD:
        raw = raw[:MAX_PAYLOAD]
    if not raw.strip():
        return {}, None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        text = raw.decode("utf-8", "replace")
        return {"raw": text[:2000]}, f"malformed hook JSON ({exc}); reported without it"
    if not isinstance(value, dict):
        return {"value": value}, None
    return value, None


# -- discovery ------------------------------------------------------------------------------


def _discovery_path(given: str | None) -> Path:
    if given:
        return Path(given).expanduser()
    runtime = os.environ.get("ORCHFLOW_RUNTIME_DIR")
    if runtime:
        return Path(runtime) / "orchestrator.json"
    from orchflow_core import paths  # the platform's runtime dir (platformdirs)

    return paths.runtime_dir() / "orchestrator.json"


def _discovery(path: Path) -> tuple[str, str]:
    """(url, token) from the discovery file, with the same privacy checks as every reader."""
    try:
        st = path.stat()
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HookFailed(f"no orchestrator running: no discovery file at {path}") from None
    except OSError as exc:
        raise HookFailed(f"cannot read {path}: {exc.strerror}") from None
    if st.st_mode & 0o077 or st.st_uid != os.getuid():
        raise HookFailed(f"{path} is readable by others or not ours; refusing its token")
    try:
        data = json.loads(text)
        url, token, pid = str(data["url"]), str(data["token"]), int(data["pid"])
    except (ValueError, KeyError, TypeError):
        raise HookFailed(f"{path} is not a valid discovery file") from None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        raise HookFailed(f"no orchestrator running: {path} is stale (pid {pid} is gone)") from None
    except PermissionError:
        pass
    return url, token


# -- one WebSocket exchange -----------------------------------------------------------------


def _connect(url: str, deadline: float) -> tuple[socket.socket, str]:
    """A connected socket and the Host header the server accepts for it."""
    left = max(0.01, deadline - time.monotonic())
    if url.startswith("unix:") or url.startswith("/"):
        path = url.removeprefix("unix:")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(left)
        try:
            sock.connect(path)
        except OSError as exc:
            sock.close()
            raise HookFailed(f"no orchestrator answers at {url}: {exc}") from None
        return sock, "localhost"
    if not url.startswith("ws://"):
        raise HookFailed(f"unsupported orchestrator URL {url!r} (ws:// or unix: expected)")
    hostport = url[len("ws://") :].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    try:
        sock = socket.create_connection((host.strip("[]"), int(port)), timeout=left)
    except (OSError, ValueError) as exc:
        raise HookFailed(f"no orchestrator answers at {url}: {exc}") from None
    return sock, hostport


def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    out = bytearray()
    while len(out) < n:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        chunk = sock.recv(n - len(out))
        if not chunk:
            raise HookFailed("the orchestrator closed the connection")
        out += chunk
    return bytes(out)


def _send_frame(sock: socket.socket, opcode: int, data: bytes) -> None:
    head = bytearray([0x80 | opcode])
    n = len(data)
    if n < 126:
        head.append(0x80 | n)
    elif n < 1 << 16:
        head.append(0x80 | 126)
        head += struct.pack("!H", n)
    else:
        head.append(0x80 | 127)
        head += struct.pack("!Q", n)
    mask = os.urandom(4)
    head += mask
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    sock.sendall(bytes(head) + body)


def _recv_frame(sock: socket.socket, deadline: float) -> tuple[int, bytes]:
    b0, b1 = _recv_exact(sock, 2, deadline)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", _recv_exact(sock, 2, deadline))[0]
    elif n == 127:
        n = struct.unpack("!Q", _recv_exact(sock, 8, deadline))[0]
    if n > 1 << 24:
        raise HookFailed(f"an answer of {n} bytes is not an agent.hook answer")
    mask = _recv_exact(sock, 4, deadline) if b1 & 0x80 else b""
    data = _recv_exact(sock, n, deadline)
    if mask:
        data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    return b0 & 0x0F, data


def call(url: str, token: str, method: str, params: dict[str, Any], *, timeout: float) -> Any:
    """One JSON-RPC call over a fresh WebSocket; the result, or HookFailed."""
    deadline = time.monotonic() + timeout
    sock, host = _connect(url, deadline)
    try:
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                f"GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {token}\r\n\r\n"
            ).encode()
        )
        head = bytearray()
        while b"\r\n\r\n" not in head:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = sock.recv(4096)
            if not chunk:
                raise HookFailed("the orchestrator closed the connection during the handshake")
            head += chunk
            if len(head) > 65536:
                raise HookFailed("the orchestrator's handshake answer is too long")
        status = head.split(b"\r\n", 1)[0].decode("latin-1")
        if " 101 " not in status + " ":
            raise HookFailed(f"the orchestrator refused the connection: {status}")
        body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
        _send_frame(sock, 0x1, body.encode())
        while True:
            opcode, data = _recv_frame(sock, deadline)
            if opcode == 0x8:
                raise HookFailed("the orchestrator closed the connection before answering")
            if opcode == 0x9:  # ping: answer, keep reading
                _send_frame(sock, 0xA, data)
                continue
            if opcode != 0x1:
                continue
            message = json.loads(data)
            if message.get("id") != 1:
                continue  # a notification
            if "error" in message:
                err = message["error"]
                raise HookFailed(f"agent.hook refused: {err.get('message')} ({err.get('code')})")
            return message.get("result")
    except TimeoutError:
        raise HookFailed(f"the orchestrator did not answer within {timeout}s") from None
    except OSError as exc:
        raise HookFailed(f"talking to the orchestrator failed: {exc}") from None
    finally:
        with contextlib.suppress(OSError):  # a polite close; the socket goes either way
            _send_frame(sock, 0x8, struct.pack("!H", 1000))
        sock.close()


# -- log ------------------------------------------------------------------------------------


def log_path() -> Path:
    override = os.environ.get("ORCHFLOW_LOG_DIR")
    if override:
        return Path(override) / LOG_NAME
    from orchflow_core import paths

    return paths.log_dir() / LOG_NAME


def _log(line: str) -> None:
    """One line in hook.log (append: several hooks may write at once); never raises."""
    try:
        path = log_path()
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(FileNotFoundError):  # no log yet: nothing to rotate
            if path.stat().st_size > LOG_MAX_BYTES:
                os.replace(path, path.with_name(LOG_NAME + ".1"))
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime())
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{stamp} pid {os.getpid()} {line}\n".encode("utf-8", "replace"))
        finally:
            os.close(fd)
    except Exception:  # noqa: S110 - nowhere left to report to; the vendor CLI must go on
        pass


def run(argv: list[str]) -> str | None:
    """Report one hook event; None if it arrived, else why not (for the log)."""
    opts = _parse(argv)
    payload, problem = _payload(opts, b"" if opts["payload_arg"] is not None else _read_stdin())
    if problem:
        _log(f"hook {opts['event']} agent {opts['agent']}: {problem}")
    if not opts["agent"]:
        raise HookFailed("no agent given (--agent ID or ORCHFLOW_AGENT)")
    url, token = _discovery(_discovery_path(opts["discovery_file"]))
    params = {"agent": opts["agent"], "event": opts["event"], "payload": payload}
    call(url, token, "agent.hook", params, timeout=opts["timeout"])
    return None


def main(argv: list[str] | None = None) -> int:
    """Always 0, always silent; a failure is one line in hook.log."""
    args = sys.argv[1:] if argv is None else argv
    if args and args[0] == "hook":
        args = args[1:]
    try:
        run(args)
    except HookFailed as exc:
        _log(f"hook {' '.join(a for a in args[:3] if not a.startswith('{'))}: {exc}")
    except BaseException as exc:  # exit 0 whatever happened (the log has it)
        _log(f"hook {' '.join(args[:3])}: unexpected {type(exc).__name__}: {exc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
