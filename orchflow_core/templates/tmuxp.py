"""Read tmuxp (YAML or JSON) and tmuxinator (YAML) files into a ``Template``.

tmuxp's shorthands are resolved the way tmuxp's own loader resolves them (its
``expand`` then ``trickle``): a pane may be ``None``, ``"blank"``, ``"pane"``, a string or
a list of commands; ``shell_command`` and ``shell_command_before`` may be a string or a
list whose items are strings or ``{cmd, enter, sleep_before, sleep_after}``;
``start_directory``, environment values and options get ``~`` and ``$VARS`` expanded, and a
value starting with ``.`` is relative to the file's directory (a window's or pane's
``start_directory`` to its parent's); a session's ``start_directory`` trickles to windows
that have none, a relative window one is joined to it; ``shell_command_before`` of the
session, window and pane are prepended to each pane's commands; ``suppress_history``
trickles to the windows.

Unlike tmuxp, an unknown key is an error that names it (tmuxp ignores it), and so is a
``start_directory`` that does not exist (tmuxp lets tmux fall back to $HOME). Keys that
would run code outside a pane, past the rules (``before_script``, ``plugins``,
``workspace_builder*``), are refused by name.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from orchflow_core.errors import InvalidArgumentError
from orchflow_core.templates.model import Command, PaneSpec, Template, WindowSpec

SESSION_KEYS = frozenset({
    "session_name", "start_directory", "before_script", "shell_command_before",
    "environment", "global_options", "options", "options_after", "suppress_history",
    "plugins", "workspace_builder", "workspace_builder_paths", "workspace_builder_options",
    "windows", "shell_command",
})  # fmt: skip
WINDOW_KEYS = frozenset({
    "window_name", "layout", "panes", "start_directory", "shell_command_before", "options",
    "options_after", "focus", "window_index", "window_shell", "environment",
    "suppress_history", "shell_command",
})  # fmt: skip
PANE_KEYS = frozenset({
    "shell_command", "shell_command_before", "shell", "focus", "start_directory",
    "environment", "sleep_before", "sleep_after", "enter", "suppress_history",
})  # fmt: skip
COMMAND_KEYS = frozenset({"cmd", "enter", "sleep_before", "sleep_after"})
REFUSED = {
    "before_script": "it runs a script outside any pane, past the rules",
    "plugins": "tmuxp plugins are Python code orchflow does not load",
    "workspace_builder": "only tmuxp's classic builder is understood",
    "workspace_builder_paths": "only tmuxp's classic builder is understood",
    "workspace_builder_options": "only tmuxp's classic builder is understood",
}
BLANK = (None, "blank", "pane")


def _bad(source: str, msg: str, **data: Any) -> InvalidArgumentError:
    return InvalidArgumentError(f"{source}: {msg}", file=source, **data)


def read_file(path: str | Path) -> Any:
    """The file's data: JSON for ``.json``, else YAML; a syntax error names file and line."""
    p = Path(path).expanduser()
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidArgumentError(
            f"cannot read template {str(p)!r}: {exc.strerror}", file=str(p)
        ) from exc
    if p.suffix == ".json":
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _bad(str(p), f"line {exc.lineno}: {exc.msg}", line=exc.lineno) from exc
    import yaml  # type: ignore[import-untyped]  # PyYAML, only when a YAML file is read

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        problem = getattr(exc, "problem", None) or str(exc)
        where = f"line {line}" if line is not None else "YAML"
        raise _bad(str(p), f"{where}: {problem}", line=line) from exc


def _expandshell(value: str) -> str:
    return os.path.expandvars(os.path.expanduser(value))


def _check_keys(source: str, where: str, d: dict[str, Any], allowed: frozenset[str]) -> None:
    unknown = sorted(str(k) for k in d if k not in allowed)
    if unknown:
        raise _bad(
            source,
            f"unknown key{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} in {where}"
            f" (allowed: {', '.join(sorted(allowed))})",
            keys=unknown,
        )
    for key, why in REFUSED.items():
        if key in d:
            raise _bad(source, f"{key} in {where} is not supported: {why}", keys=[key])


def _mapping(source: str, where: str, value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _bad(source, f"{where} must be a mapping, got {value!r}")
    return value


def _env(source: str, where: str, value: Any, base: Path) -> dict[str, str]:
    out = {}
    for key, val in _mapping(source, where, value).items():
        text = _expandshell(str(val))
        if text.startswith("."):
            text = str(base / text)
        out[str(key)] = text
    return out


def _options(source: str, where: str, value: Any, base: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, val in _mapping(source, where, value).items():
        if isinstance(val, str):
            val = _expandshell(val)
            if val.startswith("."):
                val = str(base / val)
        out[str(key)] = val
    return out


def _commands(source: str, where: str, value: Any) -> list[Command]:
    """tmuxp's expand_cmd on the value of shell_command(_before)."""
    cmds = [value] if isinstance(value, str) else value
    if (
        not cmds
        or cmds in BLANK
        or (isinstance(cmds, list) and len(cmds) == 1 and cmds[0] in BLANK)
    ):
        return []
    if not isinstance(cmds, list):
        raise _bad(source, f"{where} must be a string or a list, got {value!r}")
    out = []
    for item in cmds:
        if isinstance(item, str):
            out.append(Command(_expandshell(item)))
        elif isinstance(item, dict):
            _check_keys(source, f"a command of {where}", item, COMMAND_KEYS)
            if not isinstance(item.get("cmd"), str):
                raise _bad(source, f"a command of {where} needs a cmd string, got {item!r}")
            out.append(
                Command(
                    _expandshell(item["cmd"]),
                    enter=bool(item.get("enter", True)),
                    sleep_before=float(item.get("sleep_before") or 0),
                    sleep_after=float(item.get("sleep_after") or 0),
                )
            )
        else:
            raise _bad(source, f"a command of {where} must be text or a mapping, got {item!r}")
    return out


def _directory(source: str, where: str, value: Any, parent: Path) -> str:
    """tmuxp's start_directory: ~ and $VARS expanded, relative ones joined to ``parent``."""
    if not isinstance(value, str):
        raise _bad(source, f"start_directory of {where} must be text, got {value!r}")
    text = _expandshell(value)
    path = Path(text) if text.startswith(("/", "~")) else (parent / text)
    path = Path(os.path.normpath(path))
    if not path.is_dir():
        raise _bad(
            source,
            f"start_directory of {where} does not exist: {str(path)!r}",
            start_directory=str(path),
        )
    return str(path)


def _pane_dict(value: Any) -> dict[str, Any]:
    """tmuxp's shorthand for a pane: None/blank/a string/a list of commands."""
    if isinstance(value, str | list):
        return {"shell_command": value}
    if not value:
        return {"shell_command": []}
    return dict(value)


def from_tmuxp(data: Any, *, source: str = "<template>", cwd: str | Path | None = None) -> Template:
    """A Template from a tmuxp workspace (as read from YAML or JSON)."""
    base = Path(cwd) if cwd is not None else Path.cwd()
    if not isinstance(data, dict):
        raise _bad(source, f"a tmuxp workspace is a mapping, got {type(data).__name__}")
    _check_keys(source, "the session", data, SESSION_KEYS)
    name = data.get("session_name")
    if not isinstance(name, str | int) or not str(name).strip():
        raise _bad(source, "session_name is missing (a tmuxp workspace needs one)")
    name = _expandshell(str(name))
    windows = data.get("windows")
    if not isinstance(windows, list) or not windows:
        raise _bad(source, "windows is missing or empty (a tmuxp workspace needs a list)")
    session_dir = (
        _directory(source, "the session", data["start_directory"], base)
        if "start_directory" in data
        else None
    )
    session_env = _env(source, "environment of the session", data.get("environment"), base)
    before = _commands(source, "shell_command_before", data.get("shell_command_before"))
    suppress = data.get("suppress_history")
    out = []
    for i, w in enumerate(windows):
        where = f"window {i + 1}"
        if not isinstance(w, dict):
            raise _bad(source, f"{where} must be a mapping, got {w!r}")
        _check_keys(source, where, w, WINDOW_KEYS)
        if "window_name" not in w:
            raise _bad(source, f"{where} has no window_name (tmuxp needs one)")
        wname = _expandshell(str(w["window_name"]))
        where = f"window {wname!r}"
        parent = Path(session_dir) if session_dir else base
        wdir = (
            _directory(source, where, w["start_directory"], parent)
            if "start_directory" in w
            else session_dir
        )
        wenv = {
            **session_env,
            **_env(source, f"environment of {where}", w.get("environment"), base),
        }
        wbefore = before + _commands(
            source, f"shell_command_before of {where}", w.get("shell_command_before")
        )
        wsuppress = w.get("suppress_history", suppress)
        raw_panes = w.get("panes")
        if raw_panes is None:
            raw_panes = [{"shell_command": []}]
        if not isinstance(raw_panes, list):
            raise _bad(source, f"panes of {where} must be a list, got {raw_panes!r}")
        panes = []
        for j, rp in enumerate(raw_panes):
            pwhere = f"pane {j + 1} of {where}"
            p = _pane_dict(rp)
            _check_keys(source, pwhere, p, PANE_KEYS)
            pdir = (
                _directory(source, pwhere, p["start_directory"], Path(wdir) if wdir else base)
                if "start_directory" in p
                else wdir
            )
            cmds = wbefore + _commands(
                source, f"shell_command_before of {pwhere}", p.get("shell_command_before")
            )
            cmds += _commands(source, f"shell_command of {pwhere}", p.get("shell_command"))
            if p.get("enter") is False or p.get("sleep_before") or p.get("sleep_after"):
                cmds = [
                    Command(
                        c.cmd,
                        enter=c.enter and p.get("enter", True) is not False,
                        sleep_before=c.sleep_before or float(p.get("sleep_before") or 0),
                        sleep_after=c.sleep_after or float(p.get("sleep_after") or 0),
                    )
                    for c in cmds
                ]
            shell = p.get("shell", w.get("window_shell"))
            panes.append(
                PaneSpec(
                    commands=cmds,
                    cwd=pdir,
                    env={
                        **wenv,
                        **_env(source, f"environment of {pwhere}", p.get("environment"), base),
                    },
                    shell=str(shell) if shell else None,
                    focus=bool(p.get("focus", False)),
                    suppress_history=bool(p.get("suppress_history", wsuppress)),
                )
            )
        index = w.get("window_index")
        if index is not None and not isinstance(index, int):
            raise _bad(source, f"window_index of {where} must be a number, got {index!r}")
        out.append(
            WindowSpec(
                name=wname,
                panes=panes,
                layout=str(w["layout"]) if w.get("layout") else None,
                cwd=wdir,
                focus=bool(w.get("focus", False)),
                index=index,
                options=_options(source, f"options of {where}", w.get("options"), base),
                options_after=_options(
                    source, f"options_after of {where}", w.get("options_after"), base
                ),
            )
        )
    return Template(
        session=name,
        windows=out,
        cwd=session_dir,
        source=source,
        options={
            **_options(source, "options of the session", data.get("options"), base),
            **_options(source, "options_after of the session", data.get("options_after"), base),
        },
        global_options=_options(
            source, "global_options of the session", data.get("global_options"), base
        ),
    )


TMUXINATOR_KEYS = frozenset({
    "name", "project_name", "root", "project_root", "socket_name", "socket_path",
    "tmux_options", "tmux_command", "cli_args", "pre_window", "pre_tab", "startup_window",
    "startup_pane", "attach", "enable_pane_titles", "pane_title_position",
    "pane_title_format", "windows", "tabs", "pre", "post", "rvm", "rbenv",
    "on_project_start", "on_project_first_start", "on_project_restart", "on_project_exit",
    "on_project_stop",
})  # fmt: skip
TMUXINATOR_REFUSED = (
    "pre", "post", "on_project_start", "on_project_first_start", "on_project_restart",
    "on_project_exit", "on_project_stop", "tmux_command", "socket_name", "socket_path",
)  # fmt: skip


def from_tmuxinator(data: Any, *, source: str = "<template>") -> Template:
    """A Template from a tmuxinator project: turned into a tmuxp workspace the way
    tmuxp's importer does (root → start_directory, pre_window → shell_command_before,
    a window is a name mapped to a command, a list of panes or {layout, panes, root, pre})."""
    if not isinstance(data, dict):
        raise _bad(source, f"a tmuxinator project is a mapping, got {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in TMUXINATOR_KEYS)
    if unknown:
        raise _bad(source, f"unknown tmuxinator keys {', '.join(unknown)}", keys=unknown)
    refused = [k for k in TMUXINATOR_REFUSED if k in data]
    if refused:
        raise _bad(
            source,
            f"tmuxinator keys {', '.join(refused)} are not supported (hooks run outside"
            " panes, past the rules; orchflow uses its own tmux server)",
            keys=refused,
        )
    ws: dict[str, Any] = {"session_name": data.get("name") or data.get("project_name")}
    root = data.get("root") or data.get("project_root")
    if root:
        ws["start_directory"] = root
    pre = data.get("pre_window") or data.get("pre_tab")
    if pre:
        ws["shell_command_before"] = pre
    windows = []
    for i, item in enumerate(data.get("windows") or data.get("tabs") or []):
        if not isinstance(item, dict) or len(item) != 1:
            raise _bad(source, f"window {i + 1} must be a one-key mapping name: …, got {item!r}")
        ((wname, body),) = item.items()
        w: dict[str, Any] = {"window_name": str(wname)}
        if isinstance(body, str | type(None)):
            w["panes"] = [body]
        elif isinstance(body, list):
            w["panes"] = body
        elif isinstance(body, dict):
            extra = sorted(set(body) - {"layout", "panes", "root", "pre", "synchronize"})
            if extra:
                raise _bad(
                    source, f"unknown keys {', '.join(extra)} in window {wname!r}", keys=extra
                )
            if body.get("layout"):
                w["layout"] = body["layout"]
            if body.get("root"):
                w["start_directory"] = body["root"]
            if body.get("pre"):
                w["shell_command_before"] = body["pre"]
            panes = body.get("panes") or [None]
            # a tmuxinator pane may be {name: [commands]}
            w["panes"] = [
                next(iter(p.values())) if isinstance(p, dict) and len(p) == 1 else p for p in panes
            ]
            if body.get("synchronize"):
                w["options_after" if body["synchronize"] == "after" else "options"] = {
                    "synchronize-panes": "on"
                }
        else:
            raise _bad(source, f"window {wname!r} has a bad body {body!r}")
        windows.append(w)
    ws["windows"] = windows
    return from_tmuxp(ws, source=source, cwd=Path(source).parent if source else None)


def load(path: str | Path, *, kind: str | None = None) -> Template:
    """A Template from a tmuxp (.yaml/.yml/.json) or tmuxinator file; ``kind``
    ("tmuxp" or "tmuxinator") overrides the guess (a tmuxinator file has ``name`` and
    no ``session_name``)."""
    p = Path(path).expanduser().resolve()
    data = read_file(p)
    if kind is None:
        kind = (
            "tmuxinator"
            if isinstance(data, dict)
            and "session_name" not in data
            and ("name" in data or "project_name" in data)
            else "tmuxp"
        )
    if kind == "tmuxinator":
        return from_tmuxinator(data, source=str(p))
    if kind != "tmuxp":
        raise InvalidArgumentError(f"kind must be tmuxp or tmuxinator, got {kind!r}", param="kind")
    return from_tmuxp(data, source=str(p), cwd=p.parent)
