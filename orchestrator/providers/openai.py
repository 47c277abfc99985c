"""The OpenAI-compatible chat-completions API: OpenAI, Ollama (``/v1``), llama.cpp's
``llama-server``, vLLM, LM Studio and others that speak it.

``POST {base_url}/chat/completions`` with ``stream: true`` and
``stream_options.include_usage``; the answer is server-sent events, each ``data:`` one
``chat.completion.chunk`` JSON object (``choices[0].delta.content``), the last one with
``usage`` and no choices, then ``data: [DONE]``. The key (if ``api_key_env`` names one)
goes in ``Authorization: Bearer``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from orchestrator.providers import http, sse
from orchestrator.providers.base import Delta, Event, Final, ProviderFailure, Request, scrub
from orchflow_core.errors import BackendError


class OpenAIProvider(http.HttpProvider):
    kind = "openai"

    def body(self, request: Request) -> dict[str, Any]:
        messages = []
        if request.system:
            messages.append({"role": "system", "content": request.system})
        messages.append({"role": "user", "content": request.prompt})
        return {
            "model": self.cfg.model,
            "messages": messages,
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": self.cfg.max_tokens,
        }

    async def stream(self, request: Request) -> AsyncIterator[Event]:
        key = self.cfg.api_key()
        headers = {"Accept": "text/event-stream"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        url = f"{self.cfg.base_url}/chat/completions"
        usage: dict[str, Any] = {}
        finish: str | None = None
        model: str | None = None
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
                    finish = choice.get("finish_reason") or finish
        yield Final(usage=_usage(usage), finish_reason=finish, model=model)


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
