"""Anthropic's Messages API.

``POST {base_url}/v1/messages`` with ``x-api-key`` and ``anthropic-version`` headers and
``stream: true``. The answer is named server-sent events: ``message_start`` (the model
and input usage), ``content_block_start``, ``content_block_delta`` (``text_delta``
carries the text), ``content_block_stop``, ``message_delta`` (``stop_reason`` and output
usage), ``message_stop``; ``ping`` keeps the stream alive; ``error`` (for example
``overloaded_error``) ends it with a failure.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from orchestrator.providers import http, sse
from orchestrator.providers.base import Delta, Event, Final, ProviderFailure, Request, scrub
from orchflow_core.errors import BackendError, UnavailableError


class AnthropicProvider(http.HttpProvider):
    kind = "anthropic"

    def body(self, request: Request) -> dict[str, Any]:
        body: dict[str, Any] = {
            "model": self.cfg.model,
            "max_tokens": self.cfg.max_tokens,
            "messages": [{"role": "user", "content": request.prompt}],
            "stream": True,
        }
        if request.system:
            body["system"] = request.system
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
                elif kind == "content_block_delta":
                    delta = data.get("delta") or {}
                    if delta.get("type") == "text_delta" and delta.get("text"):
                        yield Delta(str(delta["text"]))
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
        inp, out = usage.get("input_tokens"), usage.get("output_tokens")
        total = inp + out if isinstance(inp, int) and isinstance(out, int) else None
        yield Final(
            usage={"input_tokens": inp, "output_tokens": out, "total_tokens": total}
            if usage
            else {},
            finish_reason=stop,
            model=model,
        )
