"""Permission checks made when a module acts: reading or writing a file, running a program,
opening a network connection.

A module declares ``permissions`` in its manifest: ``fs`` (roots it may read and write under;
placeholders ``{module}``, ``{project}``, ``{state}``, ``{tmp}``, ``{home}``), ``exec``
(program names or absolute paths, ``fnmatch`` patterns allowed: ``python3*``) and ``network``
(host names, ``*`` for any). Its own folder is always readable. A refusal is a
PermissionDeniedError naming the module, the permission and the value.
"""

from __future__ import annotations

import fnmatch
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

from orchflow_core import paths
from orchflow_core.errors import PermissionDeniedError
from orchflow_core.modules.manifest import Permissions


@dataclass(frozen=True, slots=True)
class Guard:
    module: str
    folder: Path
    project: Path
    permissions: Permissions

    def roots(self) -> list[Path]:
        subst = {
            "{module}": str(self.folder),
            "{project}": str(self.project),
            "{state}": str(paths.state_dir()),
            "{tmp}": tempfile.gettempdir(),
            "{home}": str(Path.home()),
        }
        out = []
        for root in self.permissions.fs:
            head, _, rest = root.partition("/")
            base = subst.get(head, head) if head.startswith("{") else None
            text = os.path.join(base, rest) if base is not None else root
            out.append(Path(text).expanduser().resolve())
        return out

    def check_path(self, path: str | Path, *, write: bool = False) -> Path:
        target = Path(path).expanduser().resolve()
        if not write and target.is_relative_to(self.folder.resolve()):
            return target
        if any(target.is_relative_to(r) for r in self.roots()):
            return target
        verb = "write" if write else "read"
        declared = ", ".join(self.permissions.fs) or "none"
        raise PermissionDeniedError(
            f"module {self.module!r} may not {verb} {target}: it is under none of the"
            f" module's declared fs roots ({declared}); add a root to permissions.fs in its"
            " manifest.json",
            module=self.module,
            permission="fs",
            path=str(target),
        )

    def check_exec(self, program: str) -> None:
        name = os.path.basename(program)
        for allowed in self.permissions.exec:
            subject = program if "/" in allowed else name
            if fnmatch.fnmatchcase(subject, allowed):
                return
        declared = ", ".join(self.permissions.exec) or "none"
        raise PermissionDeniedError(
            f"module {self.module!r} may not run {program!r}: its manifest's permissions.exec"
            f" does not declare it (declared: {declared})",
            module=self.module,
            permission="exec",
            program=program,
        )

    def check_network(self, host: str) -> None:
        if "*" in self.permissions.network or host in self.permissions.network:
            return
        declared = ", ".join(self.permissions.network) or "none"
        raise PermissionDeniedError(
            f"module {self.module!r} may not connect to {host!r}: its manifest's"
            f" permissions.network does not declare it (declared: {declared})",
            module=self.module,
            permission="network",
            host=host,
        )
