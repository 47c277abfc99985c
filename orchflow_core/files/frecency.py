"""Which files a user opens often and lately: a decayed open count per path, in one JSON file.

Each open adds 1 to a score that halves every ``half_life_s`` (a week by default), so
the stored pair (score, time of last update) is enough: no open log to aggregate. The
file is rewritten atomically (temporary file, fsync, ``os.replace``) after each open;
opens come at human speed and the file is small (``max_entries`` paths at most).
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import orjson

from orchflow_core import paths

log = logging.getLogger(__name__)

DEFAULT_HALF_LIFE_S = 7 * 24 * 3600.0
DEFAULT_MAX_ENTRIES = 5000
FORMAT_VERSION = 1


class FrecencyIndex:
    """Decayed open counts keyed by path (as given: use paths relative to the project root)."""

    def __init__(
        self,
        file: Path | None = None,
        *,
        half_life_s: float = DEFAULT_HALF_LIFE_S,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.file = file
        self.half_life_s = half_life_s
        self.max_entries = max_entries
        self._clock = clock
        self._entries: dict[str, tuple[float, float]] = {}  # path -> (score, at)
        if file is not None:
            self._load(file)

    @classmethod
    def for_project(
        cls,
        state_dir: Path,
        project_root: Path,
        *,
        half_life_s: float = DEFAULT_HALF_LIFE_S,
        max_entries: int = DEFAULT_MAX_ENTRIES,
    ) -> FrecencyIndex:
        """The index of one project, in ``state_dir/frecency/files-<hash of the root>.json``."""
        digest = hashlib.sha256(os.fsencode(project_root.resolve())).hexdigest()[:16]
        file = state_dir / "frecency" / f"files-{digest}.json"
        return cls(file, half_life_s=half_life_s, max_entries=max_entries)

    def record_open(self, path: str, *, now: float | None = None) -> float:
        """Count one open of ``path`` now; saves the file. Returns the new score."""
        now = self._clock() if now is None else now
        score = self.score(path, now=now) + 1.0
        self._entries[path] = (score, now)
        if len(self._entries) > self.max_entries:
            self._prune(now, keep=path)
        self.save()
        return score

    def score(self, path: str, *, now: float | None = None) -> float:
        """The decayed score of ``path`` (0.0 if never opened)."""
        entry = self._entries.get(path)
        if entry is None:
            return 0.0
        now = self._clock() if now is None else now
        score, at = entry
        return score * math.pow(0.5, max(0.0, now - at) / self.half_life_s)

    def top(self, n: int, *, now: float | None = None) -> list[tuple[str, float]]:
        """The ``n`` highest-scoring paths, best first."""
        now = self._clock() if now is None else now
        ranked = sorted(((p, self.score(p, now=now)) for p in self._entries), key=lambda e: -e[1])
        return ranked[:n]

    def rename(self, old: str, new: str) -> None:
        """Carry the history of ``old`` (and of paths under it, for a directory) to ``new``."""
        prefix = old.rstrip("/") + "/"
        moved = {
            (new + p[len(old) :] if p != old else new): v
            for p, v in self._entries.items()
            if p == old or p.startswith(prefix)
        }
        if not moved:
            return
        for p in list(self._entries):
            if p == old or p.startswith(prefix):
                del self._entries[p]
        self._entries.update(moved)
        self.save()

    def forget(self, path: str) -> None:
        if self._entries.pop(path, None) is not None:
            self.save()

    def __len__(self) -> int:
        return len(self._entries)

    def save(self) -> None:
        """Write the index atomically; a crash leaves the old file or the new one, never half."""
        if self.file is None:
            return
        paths.ensure_private_dir(self.file.parent)  # parents 0700 too
        data = orjson.dumps(
            {"version": FORMAT_VERSION, "entries": {p: list(v) for p, v in self._entries.items()}}
        )
        fd, tmp = tempfile.mkstemp(dir=self.file.parent, prefix=".frecency-", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, self.file)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _load(self, file: Path) -> None:
        try:
            raw = file.read_bytes()
        except FileNotFoundError:
            return
        try:
            doc = orjson.loads(raw)
            entries = doc["entries"]
            self._entries = {str(p): (float(v[0]), float(v[1])) for p, v in entries.items()}
        except (
            orjson.JSONDecodeError,
            KeyError,
            TypeError,
            ValueError,
            IndexError,
            AttributeError,
        ):
            # A damaged index is not worth stopping the file finder for: start afresh, say so.
            log.warning("frecency file %s is unreadable; starting with an empty index", file)
            self._entries = {}

    def _prune(self, now: float, *, keep: str) -> None:
        """Drop the lowest scores, but never ``keep`` (the file just opened)."""
        best = [p for p, _ in self.top(self.max_entries, now=now) if p != keep]
        self._entries = {p: self._entries[p] for p in [keep, *best[: self.max_entries - 1]]}
