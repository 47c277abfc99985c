"""Bounded waits on things that happen in other tasks or processes."""

from __future__ import annotations

import asyncio
from typing import Any


class Collector:
    """Collects notification params; ``wait_for(n)`` returns once n have arrived."""

    def __init__(self) -> None:
        self.items: list[Any] = []
        self._changed = asyncio.Condition()

    def __call__(self, params: Any) -> None:
        self.items.append(params)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_for(self, count: int, *, within: float = 5.0) -> list[Any]:
        async with asyncio.timeout(within), self._changed:
            await self._changed.wait_for(lambda: len(self.items) >= count)
        return self.items
