"""In-process event bus: pane created/closed, output, command finished ...

Subscribers are plain callables run on the core loop's thread, in the order
they subscribed. They must be quick (hand work to a queue or a task); one that
raises is logged and does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    data: dict[str, Any] = field(default_factory=dict)


Subscriber = Callable[[Event], None]


class EventBus:
    def __init__(self) -> None:
        self._subs: dict[int, tuple[frozenset[str] | None, Subscriber]] = {}
        self._next = 0

    def subscribe(self, fn: Subscriber, kinds: Iterable[str] | None = None) -> Callable[[], None]:
        """Call ``fn`` for each event (of ``kinds`` only, if given); returns an unsubscribe."""
        self._next += 1
        key = self._next
        self._subs[key] = (frozenset(kinds) if kinds is not None else None, fn)
        return lambda: self._subs.pop(key, None) and None

    def publish(self, kind: str, **data: Any) -> None:
        event = Event(kind, data)
        for kinds, fn in list(self._subs.values()):
            if kinds is None or kind in kinds:
                try:
                    fn(event)
                except Exception:
                    log.exception("event subscriber failed on %s", kind)
