"""Per-agent hook wiring: the vendor's documented hooks call ``orchflow-orchestrator hook``.

Never the user's settings files: everything is per agent, in a private directory of the
orchestrator's state dir (``<state>/agents/<hook id>/``, removed with the agent), passed
to the CLI by a flag or an environment variable the vendor documents:

- ``claude-settings``: Claude Code's ``--settings <file>`` ("additional settings", merged
  with the user's; hooks from every source all run). One command hook per event the
  registry maps; no matcher (every Notification type, every tool).
- ``codex-notify``: ``-c notify=[...]`` (a config override for this process only; the
  program gets the notification JSON as its last argument). Codex's hooks.json/[hooks]
  need a trust review in ``/hooks`` before they run, so they are not wired; CODEX_HOME is
  left alone so the user's login stays.
- ``gemini-settings``: ``GEMINI_CLI_SYSTEM_DEFAULTS_PATH`` names a per-agent copy of the
  system defaults file (the one the env already named, or /etc/gemini-cli's, if any) with
  orchflow's hooks added: the lowest settings layer, so the user's own settings stay.
- ``aider-notify``: ``--notifications --notifications-command <hook>`` (aider runs it when
  it waits for input; no JSON).

The pane also gets ``ORCHFLOW_AGENT=<hook id>`` and ``ORCHFLOW_LOG_DIR`` (this
orchestrator's log dir, where the hook's hook.log goes).
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.agents.registry import AgentSpec
from orchflow_core import paths

HOOK_TIMEOUT_S = 5  # what the vendor waits for our hook at most (it returns in ~0.1 s)
GEMINI_DEFAULTS = Path("/etc/gemini-cli/system-defaults.json")

# ``python -I -c BOOT <root> hook ...``: the lean hook module of this very orchestrator,
# whatever PATH the agent's pane has (orchflow-orchestrator may not be on it).
BOOT = (
    "import sys; sys.path.insert(0, sys.argv.pop(1)); "
    "from orchestrator.hook_cli import main; sys.exit(main())"
)


@dataclass
class Wiring:
    """What the agent's command gets: extra arguments, environment and the files made."""

    wiring: str
    args: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    files: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # the vendor events wired

    def to_dict(self) -> dict[str, Any]:
        return {"wiring": self.wiring, "events": self.events, "files": self.files}


def hook_command(event: str, key: str, discovery_file: Path) -> list[str]:
    root = str(Path(__file__).resolve().parents[2])
    return [
        sys.executable,
        "-I",
        "-c",
        BOOT,
        root,
        "hook",
        event,
        "--agent",
        key,
        "--discovery-file",
        str(discovery_file),
    ]


def vendor_events(spec: AgentSpec) -> list[str]:
    """The vendor events to wire: the mapped ones without their ``:kind``, in order."""
    seen: dict[str, None] = {}
    for name in spec.hook_events:
        seen.setdefault(name.split(":", 1)[0], None)
    return list(seen)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=1)


def wire(
    spec: AgentSpec, *, key: str, agent_dir: Path, discovery_file: Path, environ: dict[str, str]
) -> Wiring:
    """Write the agent's hook files (if its wiring needs any) and say how to pass them."""
    # the hook logs its failures where this orchestrator logs (the pane's environment is
    # the tmux server's, which may not have ORCHFLOW_LOG_DIR)
    out = Wiring(
        spec.hook_wiring, env={"ORCHFLOW_AGENT": key, "ORCHFLOW_LOG_DIR": str(paths.log_dir())}
    )
    events = vendor_events(spec)
    if spec.hook_wiring == "none" or not events:
        out.wiring = "none"
        return out
    paths.ensure_private_dir(agent_dir)
    out.events = events

    def command(event: str) -> str:
        return shlex.join(hook_command(event, key, discovery_file))

    if spec.hook_wiring == "claude-settings":
        hooks = {
            e: [{"hooks": [{"type": "command", "command": command(e), "timeout": HOOK_TIMEOUT_S}]}]
            for e in events
        }
        file = agent_dir / "claude-settings.json"
        _write_json(file, {"hooks": hooks})
        out.args = ["--settings", str(file)]
        out.files = [str(file)]
    elif spec.hook_wiring == "gemini-settings":
        base = _gemini_base(environ)
        hooks = dict(base.get("hooks") or {}) if isinstance(base.get("hooks"), dict) else {}
        for e in events:
            group = {
                "hooks": [
                    {
                        "type": "command",
                        "name": "orchflow-state",
                        "command": command(e),
                        "timeout": HOOK_TIMEOUT_S * 1000,  # Gemini's timeouts are in ms
                    }
                ]
            }
            existing = hooks.get(e)
            hooks[e] = [*(existing if isinstance(existing, list) else []), group]
        file = agent_dir / "gemini-system-defaults.json"
        _write_json(file, {**base, "hooks": hooks})
        out.env["GEMINI_CLI_SYSTEM_DEFAULTS_PATH"] = str(file)
        out.files = [str(file)]
    elif spec.hook_wiring == "codex-notify":
        argv = hook_command(events[0], key, discovery_file)
        # a TOML array of basic strings: JSON's string escapes are TOML's too
        out.args = ["-c", "notify=[" + ", ".join(json.dumps(a) for a in argv) + "]"]
    elif spec.hook_wiring == "aider-notify":
        out.args = ["--notifications", "--notifications-command", command(events[0])]
    return out


def _gemini_base(environ: dict[str, str]) -> dict[str, Any]:
    """The system defaults Gemini would read without us (kept under ours), or {}."""
    named = environ.get("GEMINI_CLI_SYSTEM_DEFAULTS_PATH")
    path = Path(named) if named else GEMINI_DEFAULTS
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def remove(agent_dir: Path) -> None:
    shutil.rmtree(agent_dir, ignore_errors=True)
