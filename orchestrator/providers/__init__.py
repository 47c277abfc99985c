"""AI model providers behind ``ai.complete``: one interface, four kinds.

- ``openai``: the OpenAI-compatible chat-completions API over HTTP (OpenAI, Ollama,
  llama.cpp's server, vLLM, LM Studio, ...), streamed as server-sent events.
- ``anthropic``: Anthropic's Messages API, streamed as its typed SSE events.
- ``cli``: any command that reads the prompt on stdin and writes the answer to stdout
  (``claude -p``, ``codex exec``, ``gemini -p``); killed with its children on cancel.
- ``acp``: an agent of the agent registry, one ACP session with one turn.

``config.py`` reads the ``[providers.<name>]`` tables (nothing heavy is imported there:
``:checkhealth`` uses it); ``manager.py`` adds timeouts, retries honouring
``Retry-After`` and one circuit breaker per provider; ``orchestrator/api/ai_providers.py``
serves ``ai.complete``, ``ai.cancel`` and ``ai.providers``.
"""
