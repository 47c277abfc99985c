"""Fake agent CLIs: stand-ins for Claude Code, Codex and Gemini CLI (paid-model CLIs that
cannot run here), plus a TUI with no hooks at all. Each is a line-oriented "TUI" in a tmux
pane that calls its hooks exactly as the vendor documents them:

- ``claude``: ``--settings FILE`` (JSON ``{"hooks": {Event: [{matcher?, hooks: [{type:
  "command", command, timeout}]}]}}``); each command runs through the shell with the hook
  JSON on stdin (``session_id``, ``transcript_path``, ``cwd``, ``hook_event_name`` and the
  event's fields: SessionStart ``source``, UserPromptSubmit ``prompt``, PermissionRequest
  ``tool_name``/``tool_input``, Notification ``message``/``notification_type`` — the
  matcher filters on it —, PostToolUse, Stop ``stop_hook_active``).
- ``codex``: ``-c notify=[...]`` (a TOML array); after each turn the program runs with the
  ``agent-turn-complete`` JSON as its last argument.
- ``gemini``: ``GEMINI_CLI_SYSTEM_DEFAULTS_PATH`` names settings with ``hooks`` (timeouts
  in ms); SessionStart, BeforeAgent ``prompt``, Notification (``ToolPermission``),
  AfterTool, AfterAgent ``prompt_response``.
- ``plain``: no hooks.

Typed lines: ``ask: <command>`` asks for permission to run ``<command>`` (answer ``1`` to
allow); ``drift`` prints text that changes every time (no screen pattern matches it);
``confirm`` (plain) asks "Proceed? [y/n]" on screen only, then says "plain is idle";
anything else is answered at once. The model's answer is canned. Started with the
registry's resume flags (``--resume <id>``) it says "resuming session <id>" and its hooks
report that session id; with the continue flags (``--continue``, codex ``resume --last``)
it says "continuing the last session".
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import tomllib
import uuid

SESSION = uuid.uuid4().hex


def run_hooks(groups: list[dict], payload: dict, match: str | None, *, ms: bool) -> None:
    for group in groups:
        matcher = group.get("matcher") or ""
        if matcher not in ("", "*") and match is not None and not re.fullmatch(matcher, match):
            continue
        for hook in group.get("hooks", []):
            if hook.get("type") != "command":
                continue
            timeout = hook.get("timeout", 60000 if ms else 60)
            subprocess.run(
                hook["command"],
                shell=True,
                input=json.dumps(payload).encode(),
                timeout=timeout / 1000 if ms else timeout,
                check=False,
                stdout=subprocess.DEVNULL,
            )


class Vendor:
    def __init__(self, kind: str, argv: list[str]) -> None:
        self.kind = kind
        self.hooks: dict[str, list[dict]] = {}
        self.notify: list[str] = []
        if kind == "claude" and "--settings" in argv:
            with open(argv[argv.index("--settings") + 1], encoding="utf-8") as f:
                self.hooks = json.load(f).get("hooks", {})
        if kind == "gemini" and os.environ.get("GEMINI_CLI_SYSTEM_DEFAULTS_PATH"):
            with open(os.environ["GEMINI_CLI_SYSTEM_DEFAULTS_PATH"], encoding="utf-8") as f:
                self.hooks = json.load(f).get("hooks", {})
        if kind == "codex":
            for i, arg in enumerate(argv):
                if arg == "-c" and argv[i + 1].startswith("notify="):
                    self.notify = tomllib.loads(argv[i + 1])["notify"]

    def fire(self, event: str, match: str | None = None, **fields: object) -> None:
        base = {
            "session_id": SESSION,
            "transcript_path": f"/tmp/{SESSION}.jsonl",
            "cwd": os.getcwd(),
            "hook_event_name": event,
        }
        if self.kind == "gemini":
            base["timestamp"] = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        if event in self.hooks:
            run_hooks(self.hooks[event], {**base, **fields}, match, ms=self.kind == "gemini")

    def turn_complete(self, prompt: str, answer: str) -> None:
        if self.notify:
            payload = {
                "type": "agent-turn-complete",
                "thread-id": SESSION,
                "turn-id": uuid.uuid4().hex,
                "cwd": os.getcwd(),
                "input-messages": [prompt],
                "last-assistant-message": answer,
            }
            subprocess.run([*self.notify, json.dumps(payload)], check=False)


def main() -> int:
    global SESSION
    kind = sys.argv[1]
    if "--resume" in sys.argv:  # claude/gemini: --resume <session id> goes on with it
        SESSION = sys.argv[sys.argv.index("--resume") + 1]
        print(f"resuming session {SESSION}", flush=True)
    if "--continue" in sys.argv or sys.argv[2:4] == ["resume", "--last"]:
        print("continuing the last session", flush=True)
    vendor = Vendor(kind, sys.argv[2:])
    print(f"{kind} (fake) ready", flush=True)
    if kind == "claude" or kind == "gemini":
        vendor.fire("SessionStart", "startup", source="startup")
    drift = 0
    while True:
        print("> ", end="", flush=True)
        line = sys.stdin.readline()
        if not line:
            return 0
        prompt = line.strip()
        if prompt == "/exit":  # as the real TUIs: a goodbye, then the process ends
            print("Goodbye!", flush=True)
            return 0
        if kind == "claude":
            vendor.fire("UserPromptSubmit", prompt=prompt)
        elif kind == "gemini":
            vendor.fire("BeforeAgent", prompt=prompt)
        if kind == "plain" and prompt == "confirm":  # a question only the screen shows
            print("Proceed? [y/n]", flush=True)
            reply = sys.stdin.readline().strip()
            print(f"you said {reply}\nplain is idle", flush=True)
            continue
        if prompt == "drift":
            for _ in range(3):
                drift += 1
                print(f"step {drift} at {time.monotonic():.6f}", flush=True)
                time.sleep(0.1)
            continue  # no hook, nothing the patterns know: only quiescence tells
        print("* Thinking... (esc to interrupt)", flush=True)
        time.sleep(0.2)
        answer = f"done: {prompt}"
        if prompt.startswith("ask: "):
            command = prompt[len("ask: ") :]
            if kind == "claude":
                tool = {"command": command, "description": "run it"}
                vendor.fire("PreToolUse", "Bash", tool_name="Bash", tool_input=tool)
                vendor.fire(
                    "PermissionRequest",
                    "Bash",
                    tool_name="Bash",
                    tool_input=tool,
                    permission_suggestions=[],
                )
                vendor.fire(
                    "Notification",
                    "permission_prompt",
                    message="Claude needs your permission to use Bash",
                    notification_type="permission_prompt",
                )
            elif kind == "gemini":
                vendor.fire(
                    "Notification",
                    "ToolPermission",
                    notification_type="ToolPermission",
                    message=f"Allow execution of: {command}?",
                    details={"tool": "run_shell_command", "command": command},
                )
            print(f"Bash({command})\nDo you want to proceed?\n 1. Yes\n 2. No", flush=True)
            reply = sys.stdin.readline().strip()
            if reply != "1":
                answer = "not run"
            else:
                print(f"ran {command}", flush=True)
                if kind == "claude":
                    vendor.fire(
                        "PostToolUse",
                        "Bash",
                        tool_name="Bash",
                        tool_input={"command": command},
                        tool_response={"stdout": "", "stderr": ""},
                    )
                elif kind == "gemini":
                    vendor.fire("AfterTool", "run_shell_command", tool_name="run_shell_command")
                time.sleep(0.2)
        print(answer, flush=True)
        if kind == "claude":
            vendor.fire("Stop", stop_hook_active=False)
        elif kind == "gemini":
            vendor.fire("AfterAgent", prompt=prompt, prompt_response=answer, stop_hook_active=False)
        vendor.turn_complete(prompt, answer)


if __name__ == "__main__":
    sys.exit(main())
