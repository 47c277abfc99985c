"""The OpenAI-compatible chat-completions API: OpenAI, Ollama (``/v1``), llama.cpp's
``llama-server``, vLLM, LM Studio and others that speak it.

``POST {base_url}/chat/completions`` with ``stream: true`` and
``stream_options.include_usage``; the answer is server-sent events, each ``data:`` one
``chat.completion.chunk`` JSON object (``choices[0].delta.content``), the last one with
``usage`` and no choices, then ``data: [DONE]``. The key (if ``api_key_env`` names one)
goes in ``Authorization: Bearer``.

Tools go in ``tools`` as ``{"type": "function", "function": {name, description,
parameters}}``. The model's requests stream as ``delta.tool_calls`` pieces, keyed by
``index``: the first piece of a call has its ``id`` and ``function.name``, the following
ones add to ``function.arguments`` (a JSON text); they are joined and yielded as
``ToolUse`` when the stream ends (``finish_reason: "tool_calls"``). An earlier round goes
back as the assistant message with its ``tool_calls`` and one ``{"role": "tool",
"tool_call_id", "content"}`` message per result (a failed tool's text says it failed:
the format has no error flag).
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
from orchflow_core.errors import BackendError


class OpenAIProvider(http.HttpProvider):
    kind = "openai"

    def body(self, request: Request) -> dict[str, Any]:
        messages: list[dict[str, Any]] = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.prompt})
        for turn in request.turns:
            messages.append(
                {
                    "role": "assistant",
                    "content": turn.text or None,
                    "tool_calls": [
                        {
                            "id": use.id,
                            "type": "function",
                            "function": {"name": use.name, "arguments": use.arguments or "{}"},
                        }
                        for use in turn.uses
                    ],
                }
            )
            for outcome in turn.outcomes:
                text = f"error: {outcome.text}" if outcome.is_error else outcome.text
                messages.append({"role": "tool", "tool_call_id": outcome.id, "content": text})
        body: dict[str, Any] = {
            "model": self.cfg.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": self.cfg.max_tokens,
        }
        if request.tools:
            body["tools"] = [
                {
                    "type": "function",
                    "function": {
                        "name": t.name,
                        "description": t.description,
                        "parameters": t.schema,
                    },
                }
                for t in request.tools
            ]
        return body

    async def stream(self, request: Request) -> AsyncIterator[Event]:
        key = self.cfg.api_key()
        headers = {"Accept": "text/event-stream"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = f"{self.cfg.base_url}/chat/completions"
        usage: dict[str, Any] = {}
        finish: str | None = None
        model: str | None = None
        calls: dict[int, dict[str, Any]] = {}
        async with http.Exchange(
            self._client, self.cfg, url, headers, self.body(request), secret=key
        ) as ex:
            async for event in sse.events(ex.lines()):
                if event.data.strip() == "[DONE]":
                    break
                try:
                    chunk = json.loads(event.data)
                except ValueError:
                    raise ex.bad_json(event.data) from None
                if not isinstance(chunk, dict):
                    raise ex.bad_json(event.data)
                if "error" in chunk:
                    err = chunk["error"]
                    msg = err.get("message") if isinstance(err, dict) else str(err)
                    raise ProviderFailure(
                        BackendError(
                            f"provider {self.name!r} reported an error mid-stream: "
                            f"{scrub(str(msg), key)}",
                            provider=self.name,
                        )
                    )
                model = chunk.get("model") or model
                if isinstance(chunk.get("usage"), dict):
                    usage = chunk["usage"]
                for choice in chunk.get("choices") or []:
                    delta = choice.get("delta") or {}
                    text = delta.get("content")
                    if isinstance(text, str) and text:
                        yield Delta(text)
                    for piece in delta.get("tool_calls") or []:
                        _add_piece(calls, piece)
                    finish = choice.get("finish_reason") or finish
        for index in sorted(calls):
            call = calls[index]
            yield ToolUse(call["id"] or f"call_{index}", call["name"], "".join(call["arguments"]))
        yield Final(usage=_usage(usage), finish_reason=finish, model=model)


def _add_piece(calls: dict[int, dict[str, Any]], piece: Any) -> None:
    """One ``delta.tool_calls`` item into the call it belongs to (by ``index``)."""
    if not isinstance(piece, dict):
        return
    index = piece.get("index")
    index = index if isinstance(index, int) else len(calls)
    call = calls.setdefault(index, {"id": "", "name": "", "arguments": []})
    if isinstance(piece.get("id"), str) and piece["id"]:
        call["id"] = piece["id"]
    fn = piece.get("function") or {}
    name = fn.get("name")
    if isinstance(name, str) and name and name != call["name"]:
        call["name"] += name  # sent whole in the first piece by OpenAI; joined if split
    args = fn.get("arguments")
    if isinstance(args, str):
        call["arguments"].append(args)
    elif isinstance(args, dict):  # some local servers send the object itself
        call["arguments"].append(json.dumps(args))


def _usage(raw: dict[str, Any]) -> dict[str, Any]:
    """OpenAI's usage as orchflow reports every provider's: input/output/total tokens."""
    if not raw:
        return {}
    inp, out = raw.get("prompt_tokens"), raw.get("completion_tokens")
    return {
        "input_tokens": inp,
        "output_tokens": out,
        "total_tokens": raw.get("total_tokens"),
    }
