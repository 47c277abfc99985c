"""Anthropic's Messages API.

``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version`` headers and
``stream: true``. The answer is named server-sent events: ``message_start`` (the model
and input usage), ``content_block_start``, ``content_block_delta`` (``text_delta``
carries the text), ``content_block_stop``, ``message_delta`` (``stop_reason`` and output
usage), ``message_stop``; ``ping`` keeps the stream alive; ``error`` (for example
``overloaded_error``) ends it with a failure.

Tools go in ``tools`` as ``{name, description, input_schema}``. A tool request is a
``tool_use`` content block: ``content_block_start`` carries its ``id`` and ``name``, its
input streams as ``input_json_delta`` pieces (``partial_json``), joined and yielded as
``ToolUse`` at its ``content_block_stop`` (``stop_reason: "tool_use"``). An earlier round
goes back as the assistant message (its text and ``tool_use`` blocks) and one user message
of ``tool_result`` blocks (``tool_use_id``, ``content``, ``is_error``).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from orchestrator.providers import http, sse
from orchestrator.providers.base import (
    Delta,
    Event,
    Final,
    ProviderFailure,
    Request,
    ToolUse,
    scrub,
)
from orchflow_core.errors import BackendError, UnavailableError


class AnthropicProvider(http.HttpProvider):
    kind = "anthropic"

    def body(self, request: Request) -> dict[str, Any]:
        messages: list[dict[str, Any]] = [{"role": "user", "content": request.prompt}]
        for turn in request.turns:
            blocks: list[dict[str, Any]] = []
            if turn.text:
                blocks.append({"type": "text", "text": turn.text})
            for use in turn.uses:
                blocks.append(
                    {"type": "tool_use", "id": use.id, "name": use.name, "input": _input(use)}
                )
            messages.append({"role": "assistant", "content": blocks})
            messages.append(
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": o.id,
                            "content": o.text,
                            "is_error": o.is_error,
                        }
                        for o in turn.outcomes
                    ],
                }
            )
        body: dict[str, Any] = {
            "model": self.cfg.model,
            "max_tokens": self.cfg.max_tokens,
            "messages": messages,
            "stream": True,
        }
        if request.system:
            body["system"] = request.system
        if request.tools:
            body["tools"] = [
                {"name": t.name, "description": t.description, "input_schema": t.schema}
                for t in request.tools
            ]
        return body

    async def stream(self, request: Request) -> AsyncIterator[Event]:
        key = self.cfg.api_key()
        headers = {
            "Accept": "text/event-stream",
            "anthropic-version": self.cfg.anthropic_version,
        }
        if key:
            headers["x-api-key"] = key
        url = f"{self.cfg.base_url}/v1/messages"
        usage: dict[str, Any] = {}
        stop: str | None = None
        model: str | None = None
        blocks: dict[Any, dict[str, Any]] = {}  # tool_use blocks by index, until they stop
        async with http.Exchange(
            self._client, self.cfg, url, headers, self.body(request), secret=key
        ) as ex:
            async for event in sse.events(ex.lines()):
                if event.event == "ping":
                    continue
                try:
                    data = json.loads(event.data)
                except ValueError:
                    raise ex.bad_json(event.data) from None
                if not isinstance(data, dict):
                    raise ex.bad_json(event.data)
                kind = event.event if event.event != "message" else data.get("type", "")
                if kind == "message_start":
                    message = data.get("message") or {}
                    model = message.get("model") or model
                    usage.update(message.get("usage") or {})
                elif kind == "content_block_start":
                    block = data.get("content_block") or {}
                    if block.get("type") == "tool_use":
                        given = block.get("input")
                        blocks[data.get("index")] = {
                            "id": str(block.get("id") or f"toolu_{len(blocks)}"),
                            "name": str(block.get("name") or ""),
                            "json": [json.dumps(given)] if given else [],
                        }
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        yield Delta(str(delta["text"]))
                    elif delta.get("type") == "input_json_delta":
                        open_block = blocks.get(data.get("index"))
                        if open_block is not None:
                            if open_block["json"] and not open_block.get("streamed"):
                                open_block["json"] = []  # the pieces replace a start's {}
                            open_block["streamed"] = True
                            open_block["json"].append(str(delta.get("partial_json") or ""))
                elif kind == "content_block_stop":
                    done = blocks.pop(data.get("index"), None)
                    if done is not None:
                        yield ToolUse(done["id"], done["name"], "".join(done["json"]))
                elif kind == "message_delta":
                    stop = (data.get("delta") or {}).get("stop_reason") or stop
                    usage.update(data.get("usage") or {})
                elif kind == "message_stop":
                    break
                elif kind == "error":
                    err = data.get("error") or {}
                    etype = str(err.get("type", "error"))
                    msg = scrub(str(err.get("message", "")), key)
                    text = f"provider {self.name!r} reported {etype} mid-stream: {msg}"
                    overloaded = etype in ("overloaded_error", "rate_limit_error")
                    raise ProviderFailure(
                        UnavailableError(text, provider=self.name)
                        if overloaded
                        else BackendError(text, provider=self.name),
                        retryable=overloaded,
                    )
        for left in blocks.values():  # a tool_use block the stream did not close
            yield ToolUse(left["id"], left["name"], "".join(left["json"]))
        inp, out = usage.get("input_tokens"), usage.get("output_tokens")
        total = inp + out if isinstance(inp, int) and isinstance(out, int) else None
        yield Final(
            usage={"input_tokens": inp, "output_tokens": out, "total_tokens": total}
            if usage
            else {},
            finish_reason=stop,
            model=model,
        )


def _input(use: ToolUse) -> dict[str, Any]:
    """A ``tool_use`` block's ``input`` as sent back: the model's JSON object (``{}`` when
    it was not one: the API takes an object only, and the result already says so)."""
    try:
        value = json.loads(use.arguments) if use.arguments.strip() else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}
