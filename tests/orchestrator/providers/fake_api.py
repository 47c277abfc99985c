"""A local HTTP server speaking the OpenAI chat-completions and Anthropic Messages wire
formats: a stand-in for paid APIs (OpenAI, Anthropic) and for local model servers
(Ollama, llama.cpp, vLLM), which cannot run here without keys or model weights.

It answers ``POST /v1/chat/completions`` exactly as OpenAI does when streaming (HTTP/1.1
chunked ``text/event-stream``; each ``data:`` line one ``chat.completion.chunk``; a final
chunk with ``usage`` and no choices; ``data: [DONE]``) and ``POST /v1/messages`` as
Anthropic does (``event: message_start`` / ``content_block_start`` /
``content_block_delta`` / ``content_block_stop`` / ``message_delta`` / ``message_stop``
with a ``ping``). Errors use each API's JSON error body. What a request gets is
scripted: ``script(*steps)`` queues behaviours, one per request, then the default
(``ok``). Steps:

    ("ok", ["Hel", "lo"])                  stream these pieces of text
    ("status", 429, {"Retry-After": "2"})  that status with the API's error body
    ("stall", ["first"])                   stream the pieces, then send nothing until
                                           the server closes (a stalled stream)
    ("hold", ["first"])                    as stall (for cancelling mid-stream)
    ("bad_json", [])                       a data line that is not JSON
    ("check_key", "right-key")             401 echoing the wrong key it got (as a careless
                                           server would), else ok
    ("tools", [("notes__add", {"a": 1})], ["Let me check."])
                                           ask for these tools (after the optional text),
                                           as each API streams tool calls: OpenAI's
                                           ``delta.tool_calls`` pieces (arguments split in
                                           two) and ``finish_reason: "tool_calls"``;
                                           Anthropic's ``tool_use`` blocks with
                                           ``input_json_delta`` pieces and ``stop_reason:
                                           "tool_use"``
    ("answer", "It is {result}.")          answer using the tool results the request sent
                                           back (``{result}``: the last one's text,
                                           ``{results}``: all of the last round's, joined
                                           with " | ", ``{errors}``: how many were errors),
                                           read from the request as each API sends them
                                           (OpenAI ``role: "tool"`` messages, Anthropic
                                           ``tool_result`` blocks)

Every request is recorded (path, headers, body) in ``requests``.
"""

from __future__ import annotations

import json
import threading
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

MODEL = "fake-model-1"


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client closing its keep-alive connection (or a cancelled stream) is normal
        import sys

        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class FakeApi:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.steps: deque[tuple[Any, ...]] = deque()
        self.released = threading.Event()
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # as real API servers do: no 40 ms stalls

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                api.handle(self)

        self.server = _Server(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self) -> FakeApi:
        self.thread.start()
        return self

    def close(self) -> None:
        self.released.set()
        self.server.shutdown()
        self.server.server_close()

    def script(self, *steps: tuple[Any, ...]) -> None:
        with self.lock:
            self.steps.extend(steps)

    # -- one request ------------------------------------------------------------------
    def handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length", "0"))
        body = json.loads(h.rfile.read(length) or b"{}")
        self.requests.append({"path": h.path, "headers": dict(h.headers), "body": body})
        with self.lock:
            step = self.steps.popleft() if self.steps else ("ok", ["Hello", ", ", "world"])
        anthropic = h.path == "/v1/messages"
        kind = step[0]
        if kind == "check_key":
            got = h.headers.get("x-api-key") or h.headers.get("Authorization", "")
            got = got.removeprefix("Bearer ")
            if got != step[1]:
                message = f"Incorrect API key provided: {got}. You can find your API key at https://example.invalid."
                return self.error(h, 401, message, anthropic)
            step = ("ok", ["authorised"])
            kind = "ok"
        if kind == "status":
            return self.error(h, step[1], f"fake status {step[1]}", anthropic, step[2])
        calls: list[tuple[str, dict[str, Any]]] = []
        if kind == "tools":
            calls = list(step[1])
            step = ("tools", step[2] if len(step) > 2 else [])
        if kind == "answer":
            results = tool_results(body, anthropic)
            text = step[1].format(
                result=results[-1][0] if results else "(no tool result)",
                results=" | ".join(r for r, _ in results),
                errors=sum(1 for _, e in results if e),
            )
            step, kind = ("ok", [text]), "ok"
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        pieces = step[1]
        try:
            if anthropic:
                self.anthropic_stream(h, pieces, kind, calls)
            else:
                self.openai_stream(h, pieces, kind, calls)
        except (BrokenPipeError, ConnectionResetError):
            return  # the client went away (cancelled): nothing more to send

    def chunk(self, h: BaseHTTPRequestHandler, text: str) -> None:
        data = text.encode()
        h.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        h.wfile.flush()

    def end(self, h: BaseHTTPRequestHandler) -> None:
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()

    def error(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        message: str,
        anthropic: bool,
        headers: dict[str, str] | None = None,
    ) -> None:
        if anthropic:
            etype = {401: "authentication_error", 429: "rate_limit_error"}.get(status, "api_error")
            body = {"type": "error", "error": {"type": etype, "message": message}}
        else:
            body = {"error": {"message": message, "type": "invalid_request_error", "code": None}}
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        h.end_headers()
        h.wfile.write(data)
        h.wfile.flush()

    def wait_released(self) -> None:
        self.released.wait(timeout=60)

    def openai_stream(
        self,
        h: BaseHTTPRequestHandler,
        pieces: list[str],
        kind: str,
        calls: list[tuple[str, dict[str, Any]]],
    ) -> None:
        base = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": MODEL}
        first = {
            **base,
            "choices": [
                {"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}
            ],
        }
        self.chunk(h, f"data: {json.dumps(first)}\n\n")
        for piece in pieces:
            c = {
                **base,
                "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
            }
            self.chunk(h, f"data: {json.dumps(c)}\n\n")
        if kind in ("stall", "hold"):
            return self.wait_released()
        if kind == "bad_json":
            self.chunk(h, 'data: {"id": "chatcmpl-1", "choices": [\n\n')
            return self.end(h)
        for i, (name, arguments) in enumerate(calls):
            text = json.dumps(arguments)
            cut = len(text) // 2
            opening = {
                "index": i,
                "id": f"call_{i}_{len(self.requests)}",
                "type": "function",
                "function": {"name": name, "arguments": ""},
            }
            for tool_call in (
                opening,
                {"index": i, "function": {"arguments": text[:cut]}},
                {"index": i, "function": {"arguments": text[cut:]}},
            ):
                c = {
                    **base,
                    "choices": [
                        {"index": 0, "delta": {"tool_calls": [tool_call]}, "finish_reason": None}
                    ],
                }
                self.chunk(h, f"data: {json.dumps(c)}\n\n")
        reason = "tool_calls" if calls else "stop"
        last = {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}
        self.chunk(h, f"data: {json.dumps(last)}\n\n")
        usage = {
            **base,
            "choices": [],
            "usage": {
                "prompt_tokens": 7,
                "completion_tokens": len(pieces),
                "total_tokens": 7 + len(pieces),
            },
        }
        self.chunk(h, f"data: {json.dumps(usage)}\n\n")
        self.chunk(h, "data: [DONE]\n\n")
        self.end(h)

    def anthropic_stream(
        self,
        h: BaseHTTPRequestHandler,
        pieces: list[str],
        kind: str,
        calls: list[tuple[str, dict[str, Any]]],
    ) -> None:
        def event(name: str, data: dict[str, Any]) -> None:
            self.chunk(h, f"event: {name}\ndata: {json.dumps({'type': name, **data})}\n\n")

        event(
            "message_start",
            {
                "message": {
                    "id": "msg_1",
                    "type": "message",
                    "role": "assistant",
                    "model": MODEL,
                    "content": [],
                    "stop_reason": None,
                    "usage": {"input_tokens": 9, "output_tokens": 1},
                }
            },
        )
        event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
        event("ping", {})
        for piece in pieces:
            event(
                "content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}}
            )
        if kind in ("stall", "hold"):
            return self.wait_released()
        if kind == "bad_json":
            self.chunk(h, "event: content_block_delta\ndata: {not json\n\n")
            return self.end(h)
        event("content_block_stop", {"index": 0})
        for i, (name, arguments) in enumerate(calls, start=1):
            block = {"type": "tool_use", "id": f"toolu_{i}_{len(self.requests)}", "name": name}
            event("content_block_start", {"index": i, "content_block": {**block, "input": {}}})
            text = json.dumps(arguments)
            cut = len(text) // 2
            for part in (text[:cut], text[cut:]):
                delta = {"type": "input_json_delta", "partial_json": part}
                event("content_block_delta", {"index": i, "delta": delta})
            event("content_block_stop", {"index": i})
        event(
            "message_delta",
            {
                "delta": {
                    "stop_reason": "tool_use" if calls else "end_turn",
                    "stop_sequence": None,
                },
                "usage": {"output_tokens": len(pieces)},
            },
        )
        event("message_stop", {})
        self.end(h)


def tool_results(body: dict[str, Any], anthropic: bool) -> list[tuple[str, bool]]:
    """The last round's tool results in a request body: (text, is_error) each."""
    messages = body.get("messages") or []
    if anthropic:
        for message in reversed(messages):
            content = message.get("content")
            if message.get("role") == "user" and isinstance(content, list):
                out = []
                for block in content:
                    if block.get("type") == "tool_result":
                        text = block.get("content")
                        if isinstance(text, list):
                            text = "".join(b.get("text", "") for b in text)
                        out.append((str(text), bool(block.get("is_error"))))
                if out:
                    return out
        return []
    out = []
    for message in reversed(messages):
        if message.get("role") != "tool":
            break
        text = str(message.get("content"))
        out.append((text, text.startswith("error: ")))
    return out[::-1]
