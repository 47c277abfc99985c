"""An ACP agent's last message: the text of its newest run of ``message`` updates.

``agent.list`` and ``agent.get`` show it (the agents float's "last message" column). It
is read from the agent's recorded updates, newest first: updates of other kinds before the
run (a usage update after the answer, say) are passed over, and the run ends at the first
update of another kind before it (the thought, plan or tool call that preceded the answer).
"""

from __future__ import annotations

from collections.abc import Reversible
from typing import Any

DEFAULT_MAX_CHARS = 500  # the message's last characters kept
DEFAULT_MAX_SCAN = 200  # updates looked at, newest first


def last_message(
    updates: Reversible[dict[str, Any]],
    *,
    max_chars: int = DEFAULT_MAX_CHARS,
    max_scan: int = DEFAULT_MAX_SCAN,
) -> str | None:
    """The newest message's text (its last ``max_chars`` characters, stripped), or None when
    none of the newest ``max_scan`` updates is a message with text."""
    parts: list[str] = []
    size = 0
    for scanned, item in enumerate(reversed(updates)):
        if scanned >= max_scan:
            break
        if item.get("kind") != "message":
            if parts:
                break
            continue
        text = str(item.get("text") or "")
        parts.append(text)
        size += len(text)
        if size >= 2 * max_chars:
            break
    text = "".join(reversed(parts)).strip()
    return text[-max_chars:] if text else None
