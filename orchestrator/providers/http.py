"""One streamed HTTP request to a model API, with its failures sorted for the manager.

The client is httpx2 (the maintained httpx line the MCP SDK already depends on: no new
dependency). Timeouts: ``connect_timeout_s`` for the TCP/TLS connect (httpx's own),
``first_byte_timeout_s`` until the response headers, ``stall_timeout_s`` between two
lines of the body (``lines()`` applies the first-byte limit to the first line too). The
total limit is the manager's.

Status codes: 401/403 is a refused key (PermissionDeniedError; not retried, not a breaker
failure); 429 and 503 are retried after ``Retry-After`` (seconds or an HTTP date); other
5xx are retried with backoff; other 4xx are the caller's or the config's mistake
(InvalidArgumentError, not retried). Bodies are read for their error message (at most
``MAX_ERROR_BODY`` bytes) and scrubbed of the key before they reach a message or a log.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx2 as httpx

from orchestrator.providers.base import ProviderFailure, scrub
from orchestrator.providers.config import ProviderConfig
from orchflow_core.errors import (
    BackendError,
    InvalidArgumentError,
    PermissionDeniedError,
    TimeoutError_,
    UnavailableError,
)

log = logging.getLogger(__name__)

MAX_ERROR_BODY = 4096
# httpx logs each request at INFO (the URL only); keep its debug chatter (and anything
# it might print about headers) out of orchflow's log.
for _name in ("httpx2", "httpcore2"):
    logging.getLogger(_name).setLevel(logging.WARNING)


def retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def make_client(cfg: ProviderConfig) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        connect=cfg.connect_timeout_s, read=None, write=cfg.stall_timeout_s, pool=None
    )
    return httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=True)


def _error_message(body: bytes) -> str:
    """The server's own error message from a JSON error body (OpenAI and Anthropic both
    use ``{"error": {"message": ...}}``), else the body's first line."""
    text = body[:MAX_ERROR_BODY].decode("utf-8", "replace")
    try:
        data = json.loads(text)
    except ValueError:
        return text.strip().splitlines()[0][:300] if text.strip() else "(no body)"
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, dict) and isinstance(err.get("message"), str):
        return str(err["message"])[:300]
    if isinstance(err, str):
        return err[:300]
    return text.strip()[:300]


class Exchange:
    """``async with Exchange(...) as ex: async for line in ex.lines(): ...``"""

    def __init__(
        self,
        client: httpx.AsyncClient,
        cfg: ProviderConfig,
        url: str,
        headers: dict[str, str],
        body: dict[str, Any],
        *,
        secret: str | None,
    ) -> None:
        self._client = client
        self._cfg = cfg
        self._url = url
        self._headers = headers
        self._body = body
        self._secret = secret
        self._response: httpx.Response | None = None

    def _fail(
        self,
        error: Any,
        *,
        retryable: bool = False,
        after: float | None = None,
        breaker: bool = True,
    ) -> ProviderFailure:
        return ProviderFailure(error, retryable=retryable, retry_after=after, breaker=breaker)

    def _where(self) -> str:
        return f"provider {self._cfg.name!r} ({self._url})"

    async def __aenter__(self) -> Exchange:
        cfg = self._cfg
        request = self._client.build_request(
            "POST", self._url, headers=self._headers, json=self._body
        )
        try:
            async with asyncio.timeout(cfg.first_byte_timeout_s):
                response = await self._client.send(request, stream=True)
        except TimeoutError:
            raise self._fail(
                TimeoutError_(
                    f"{self._where()} sent no answer within {cfg.first_byte_timeout_s:g} s "
                    "(first_byte_timeout_s)",
                    provider=cfg.name,
                ),
                retryable=True,
            ) from None
        except httpx.ConnectTimeout:
            raise self._fail(
                TimeoutError_(
                    f"{self._where()}: connecting took over {cfg.connect_timeout_s:g} s "
                    "(connect_timeout_s)",
                    provider=cfg.name,
                ),
                retryable=True,
            ) from None
        except httpx.HTTPError as exc:
            why = scrub(str(exc) or type(exc).__name__, self._secret)
            raise self._fail(
                UnavailableError(f"{self._where()} cannot be reached: {why}", provider=cfg.name),
                retryable=True,
            ) from None
        self._response = response
        if response.status_code >= 400:
            await self._raise_status(response)
        return self

    async def _raise_status(self, response: httpx.Response) -> None:
        cfg, status = self._cfg, response.status_code
        try:
            async with asyncio.timeout(cfg.stall_timeout_s):
                body = b""
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) >= MAX_ERROR_BODY:
                        break
        except (TimeoutError, httpx.HTTPError):
            body = b""
        finally:
            await response.aclose()
        message = scrub(_error_message(body), self._secret)
        said = f"HTTP {status}: {message}"
        if status in (401, 403):
            key = (
                f"the key in ${cfg.api_key_env}"
                if cfg.api_key_env
                else "no key (set api_key_env to the variable that holds one)"
            )
            raise self._fail(
                PermissionDeniedError(
                    f"{self._where()} refused {key} ({said}); check the key and that it may "
                    f"use model {cfg.model!r}",
                    provider=cfg.name,
                    status=status,
                ),
                breaker=False,
            )
        if status in (429, 503):
            after = retry_after(response.headers.get("retry-after"))
            wait = f"; the server asks to retry after {after:g} s" if after is not None else ""
            what = "is rate limiting" if status == 429 else "is overloaded"
            raise self._fail(
                UnavailableError(
                    f"{self._where()} {what} ({said}){wait}",
                    provider=cfg.name,
                    status=status,
                    retry_after_s=after,
                ),
                retryable=True,
                after=after,
            )
        if status >= 500:
            raise self._fail(
                BackendError(f"{self._where()} failed ({said})", provider=cfg.name, status=status),
                retryable=True,
            )
        raise self._fail(
            InvalidArgumentError(
                f"{self._where()} refused the request ({said}); check model {cfg.model!r} and "
                "base_url",
                provider=cfg.name,
                status=status,
            ),
            breaker=False,
        )

    async def __aexit__(self, *exc: object) -> None:
        if self._response is not None:
            await self._response.aclose()

    async def lines(self) -> AsyncIterator[str]:
        """The body's lines, each within ``stall_timeout_s`` of the one before (the first
        within ``first_byte_timeout_s``)."""
        assert self._response is not None
        cfg = self._cfg
        it = self._response.aiter_lines().__aiter__()
        first = True
        while True:
            limit = cfg.first_byte_timeout_s if first else cfg.stall_timeout_s
            try:
                async with asyncio.timeout(limit):
                    line = await it.__anext__()
            except StopAsyncIteration:
                return
            except TimeoutError:
                what = "first_byte_timeout_s" if first else "stall_timeout_s"
                raise self._fail(
                    TimeoutError_(
                        f"{self._where()}: the stream stalled: nothing for {limit:g} s ({what})",
                        provider=cfg.name,
                    ),
                    retryable=first,
                ) from None
            except httpx.HTTPError as exc:
                why = scrub(str(exc) or type(exc).__name__, self._secret)
                raise self._fail(
                    BackendError(f"{self._where()}: the stream broke: {why}", provider=cfg.name),
                    retryable=first,
                ) from None
            first = False
            yield line

    def bad_json(self, data: str) -> ProviderFailure:
        shown = scrub(data[:120], self._secret)
        log.warning("provider %s sent a chunk that is not JSON", self._cfg.name)
        return self._fail(
            BackendError(
                f"{self._where()} sent something that is not JSON in its stream: {shown!r}",
                provider=self._cfg.name,
            )
        )


class HttpProvider:
    """What the HTTP providers (openai.py, anthropic.py) share: their config, model and one
    pooled client, closed with them."""

    kind = "http"
    supports_tools = True

    def __init__(self, cfg: ProviderConfig) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.model = cfg.model
        self._client = make_client(cfg)

    def unavailable(self) -> str | None:
        return self.cfg.unavailable()

    async def aclose(self) -> None:
        await self._client.aclose()
