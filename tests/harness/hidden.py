"""A PATH with some programs hidden, for tests that want a machine without them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path


def path_without(names: tuple[str, ...], scratch: Path) -> str:
    """PATH with ``names`` hidden: a directory holding one of them is replaced by a copy of
    links to its other entries (a machine may have a real claude installed, npm -g)."""
    out = []
    for i, directory in enumerate(os.environ["PATH"].split(os.pathsep)):
        if not any(shutil.which(n, path=directory) for n in names):
            out.append(directory)
            continue
        shadow = scratch / f"path-{i}"
        shadow.mkdir()
        for entry in os.listdir(directory):
            if entry not in names:
                (shadow / entry).symlink_to(os.path.join(directory, entry))
        out.append(str(shadow))
    return os.pathsep.join(out)
