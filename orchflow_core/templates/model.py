"""A session template: windows, panes, layout, cwd, commands and environment.

The model is tmuxp's *expanded and trickled* form (orchflow_core/templates/tmuxp.py
produces it from a tmuxp or tmuxinator file): every shorthand resolved, every
``start_directory`` absolute, ``shell_command_before`` already prepended to each pane's
commands, environments merged session → window → pane.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Command:
    cmd: str
    enter: bool = True
    sleep_before: float = 0.0
    sleep_after: float = 0.0


@dataclass(slots=True)
class PaneSpec:
    commands: list[Command] = field(default_factory=list)
    cwd: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    shell: str | None = None  # the pane's program instead of the default shell
    focus: bool = False
    suppress_history: bool = False


@dataclass(slots=True)
class WindowSpec:
    name: str
    panes: list[PaneSpec]
    layout: str | None = None
    cwd: str | None = None
    focus: bool = False
    index: int | None = None  # tmuxp window_index
    options: dict[str, Any] = field(default_factory=dict)
    options_after: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Template:
    session: str
    windows: list[WindowSpec]
    cwd: str | None = None
    source: str = ""  # the file it came from, for messages
    options: dict[str, Any] = field(default_factory=dict)  # session options
    global_options: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return {"windows": len(self.windows), "panes": sum(len(w.panes) for w in self.windows)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "session": self.session,
            "cwd": self.cwd,
            "source": self.source,
            "windows": [
                {
                    "name": w.name,
                    "layout": w.layout,
                    "cwd": w.cwd,
                    "focus": w.focus,
                    "panes": [
                        {
                            "cwd": p.cwd,
                            "env": p.env,
                            "shell": p.shell,
                            "focus": p.focus,
                            "commands": [c.cmd for c in p.commands],
                        }
                        for p in w.panes
                    ],
                }
                for w in self.windows
            ],
        }
