"""The module system end to end: discovery, validation, enable/disable, trust, permissions,
a user module's methods and commands, and a user module's test adapter really running."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

from orchflow_core.api import dispatch
from orchflow_core.core import Core
from tests.modules.fixtures import TINY_PROJECT, module, tiny_module, user_modules
from tests.testing.helpers import write

GREET = """def register(api):
    @api.method("greet.hello")
    async def hello(api_, params):
        return {"text": "hello " + " ".join(params.get("args", [])), "from": api_.name}

    @api.method("greet.read")
    async def read(api_, params):
        return {"text": api_.read_text(params["path"])}

    @api.method("greet.run")
    async def run(api_, params):
        r = await api_.run(params["argv"])
        return {"out": r.stdout}

    @api.method("greet.net")
    async def net(api_, params):
        await api_.open_connection(params["host"], 9)
        return {}
"""


def greet(base: Path, **perms: object) -> Path:
    return module(
        base,
        "greet",
        GREET,
        description="says hello",
        permissions=perms,
        contributes={
            "methods": ["greet.hello", "greet.read", "greet.run", "greet.net"],
            "commands": [{"name": "hello", "method": "greet.hello", "desc": "Say hello"}],
        },
    )


async def call(core: Core, method: str, params: dict | None = None) -> dict:
    ok, res = await dispatch(core, method, params or {})
    assert ok, res
    return res


async def fail(core: Core, method: str, params: dict | None = None) -> dict:
    ok, res = await dispatch(core, method, params or {})
    assert not ok, res
    return res


def by_name(listing: dict) -> dict[str, dict]:
    return {m["name"]: m for m in listing["modules"]}


async def test_builtins_are_modules_and_can_be_disabled(plain_core: Core, tmp_path: Path) -> None:
    mods = by_name(await call(plain_core, "module.list"))
    assert mods["testing"]["state"] == "enabled" and mods["testing"]["source"] == "builtin"
    assert mods["templates"]["kind"] == "layout"
    info = await call(plain_core, "module.info", {"name": "testing"})
    assert "pytest" in info["contributes"]["test_adapters"]
    assert (await call(plain_core, "module.disable", {"name": "templates"}))["state"] == "disabled"
    err = await fail(plain_core, "template.list")
    assert "module 'templates', which is disabled" in err["message"]
    assert "module enable templates" in err["message"]
    # persisted: a new Core (a restarted editor) still has it disabled
    again = Core(project_root=plain_core.project_root)
    await again.start()
    try:
        assert by_name(await call(again, "module.list"))["templates"]["state"] == "disabled"
        await call(again, "module.enable", {"name": "templates"})
        assert "templates" in await call(again, "template.list")
    finally:
        await again.close()


async def test_a_user_module_serves_its_methods_and_commands(plain_core: Core) -> None:
    greet(user_modules(), fs=["{project}"], exec=["echo"])
    listing = await call(plain_core, "module.list", {"reload": True})
    assert by_name(listing)["greet"]["state"] == "enabled"
    assert {"name": "hello", "module": "greet", "method": "greet.hello", "desc": "Say hello"} in (
        listing["commands"]
    )
    assert (await call(plain_core, "greet.hello", {"args": ["you"]}))["text"] == "hello you"
    res = await call(plain_core, "module.command", {"name": "hello", "args": ["there"]})
    assert res == {"text": "hello there", "from": "greet"}
    (plain_core.project_root / "notes.txt").write_text("inside")
    res = await call(plain_core, "greet.read", {"path": str(plain_core.project_root / "notes.txt")})
    assert res["text"] == "inside"
    assert (await call(plain_core, "greet.run", {"argv": ["echo", "hi"]}))["out"] == "hi\n"
    await call(plain_core, "module.disable", {"name": "greet"})
    err = await fail(plain_core, "greet.hello")
    assert "module 'greet', which is disabled" in err["message"]
    err = await fail(plain_core, "module.command", {"name": "hello"})
    assert "no module command 'hello'" in err["message"]


async def test_permissions_are_checked_when_the_module_acts(
    plain_core: Core, tmp_path: Path
) -> None:
    greet(user_modules(), fs=["{project}"], exec=["echo"])
    await call(plain_core, "module.list", {"reload": True})  # loading it is fine
    outside = tmp_path / "secret.txt"
    outside.write_text("no")
    err = await fail(plain_core, "greet.read", {"path": str(outside)})
    assert err["code"] == -32007
    assert "module 'greet' may not read" in err["message"] and str(outside) in err["message"]
    assert err["data"] == {"module": "greet", "permission": "fs", "path": str(outside)}
    err = await fail(plain_core, "greet.run", {"argv": ["ls", "/"]})
    assert "module 'greet' may not run 'ls'" in err["message"]
    assert err["data"]["permission"] == "exec"
    err = await fail(plain_core, "greet.net", {"host": "example.org"})
    assert "module 'greet' may not connect to 'example.org'" in err["message"]
    assert err["data"]["permission"] == "network"


async def test_manifest_errors_name_the_field(plain_core: Core, tmp_path: Path) -> None:
    base = user_modules()
    module(base, "nokind", version="1.0.0").joinpath("manifest.json").write_text(
        json.dumps({"name": "nokind", "version": "1.0", "entry": "entry.py"})
    )
    module(base, "badkind", kind="widget")
    module(base, "escape", entry="../escape/../../outside.py")
    (base / "noversion").mkdir()
    (base / "noversion" / "manifest.json").write_text('{"name": "noversion", "kind": "tool"')
    module(base, "badperm", permissions={"fs": ["relative/dir"]})
    module(base, "badcmd", contributes={"commands": [{"name": "Bad Name", "method": "x.y"}]})
    mods = by_name(await call(plain_core, "module.list", {"reload": True}))
    err = {n.split(" ")[0]: m["error"] for n, m in mods.items() if m["state"] == "invalid"}
    assert "kind: missing" in err["nokind"]
    assert "kind: 'widget' is not one of layout, agent, tool, provider" in err["badkind"]
    assert "entry: '../escape/../../outside.py' is outside the module's folder" in err["escape"]
    assert "manifest.json: not valid JSON" in err["noversion"]
    assert "permissions.fs[0]: 'relative/dir' must be an absolute path" in err["badperm"]
    assert "contributes.commands[0].name: 'Bad Name'" in err["badcmd"]
    info = await call(plain_core, "module.list")
    assert by_name(info)["testing"]["state"] == "enabled"  # one bad module harms no other
    err2 = await fail(plain_core, "module.enable", {"name": "badkind (user)"})
    assert "is invalid" in err2["message"]


async def test_two_modules_contributing_one_command_are_both_named(plain_core: Core) -> None:
    base = user_modules()
    for name in ("alpha", "beta"):
        module(
            base,
            name,
            f'def register(api):\n    @api.method("{name}.go")\n    async def go(a, p):\n'
            "        return 1\n",
            contributes={"methods": [f"{name}.go"],
                         "commands": [{"name": "deploy", "method": f"{name}.go"}]},
        )  # fmt: skip
    module(base, "gamma", contributes={"commands": [{"name": "test"}]})
    mods = by_name(await call(plain_core, "module.list", {"reload": True}))
    assert mods["alpha"]["state"] == "enabled"
    assert mods["beta"]["state"] == "conflict"
    assert mods["beta"]["error"] == (
        "module 'beta': command 'deploy' is also contributed by module 'alpha'"
    )
    assert mods["gamma"]["error"] == (
        "module 'gamma': command 'test' is also contributed by module 'testing'"
    )
    # disabling alpha frees the name for beta
    await call(plain_core, "module.disable", {"name": "alpha"})
    mods = by_name(await call(plain_core, "module.list"))
    assert mods["beta"]["state"] == "enabled"


async def test_project_modules_wait_for_trust(plain_core: Core) -> None:
    project = plain_core.project_root
    greet(project / ".orchflow" / "modules", fs=["{project}"])
    mods = by_name(await call(plain_core, "module.list", {"reload": True}))
    assert "greet" not in mods
    assert mods["greet (untrusted)"]["state"] == "untrusted"
    assert (await fail(plain_core, "greet.hello"))["code"] == -32601  # nothing of it runs
    res = await call(plain_core, "module.trust", {})
    assert res["project"] == str(project) and res["modules"] == ["greet"]
    assert (await call(plain_core, "greet.hello", {"args": ["p"]}))["text"] == "hello p"
    again = Core(project_root=project)  # the trust record is in SQLite
    await again.start()
    try:
        assert by_name(await call(again, "module.list"))["greet"]["source"] == "project"
        await call(again, "module.untrust", {})
        assert "greet" not in by_name(await call(again, "module.list"))
    finally:
        await again.close()


async def test_entry_point_modules_are_found_without_importing(
    plain_core: Core, tmp_path: Path
) -> None:
    site = tmp_path / "site"
    greet(site, fs=["{project}"])
    (site / "greet" / "__init__.py").write_text("raise SystemExit('imported at discovery')\n")
    dist = site / "orchflow_greet-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: orchflow-greet\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[orchflow.modules]\ngreet = greet\n")
    from orchflow_core.modules import loader

    ms = await loader.load(plain_core, search_path=[str(site)])
    assert ms.get("greet").source == "entry_point" and ms.get("greet").state == "enabled"


async def test_a_user_modules_test_adapter_really_runs(tmux_core: Core, tmp_path: Path) -> None:
    tiny_module(user_modules())
    root = write(tmp_path / "proj", TINY_PROJECT)
    found = await call(tmux_core, "test.detect", {"cwd": str(root)})
    assert [(d["framework"], d["source"]) for d in found] == [("tinytest", "tinytest.toml")]
    from tests.testing.helpers import run_to_end

    res = await run_to_end(tmux_core, {"cwd": str(root)})
    proc = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(user_modules() / "tinytest" / "tinytest.py"), "--report", "/dev/null"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.stdout.strip() == "tinytest: 2 passed, 1 failed"
    assert (res["framework"], res["state"], res["passed"], res["failed"]) == (
        "tinytest", "failed", 2, 1,
    )  # fmt: skip
    sub = next(t for t in res["tests"] if t["name"] == "check_sub")
    assert (sub["file"], sub["line"], sub["message"]) == ("checks_math.py", 6, "two minus one")
    assert {t["name"] for t in res["tests"]} == {"check_add", "check_sub", "check_größe"}
    res = await run_to_end(tmux_core, {"cwd": str(root), "filter": "add"})
    assert (res["state"], res["passed"], res["failed"]) == ("passed", 1, 0)
    await call(tmux_core, "module.disable", {"name": "tinytest"})
    assert await call(tmux_core, "test.detect", {"cwd": str(root)}) == []


async def test_an_adapter_acting_outside_its_permissions_is_refused(
    tmux_core: Core, tmp_path: Path
) -> None:
    tiny_module(user_modules(), name="noexec", exec_=["node"])
    tiny_module(user_modules(), name="nofs", fs=["{project}"])
    root = write(tmp_path / "proj", TINY_PROJECT)
    err = await fail(tmux_core, "test.run", {"cwd": str(root), "framework": "noexec"})
    assert "module 'noexec' may not run 'python3'" in err["message"]
    assert err["data"]["permission"] == "exec"
    from tests.testing.helpers import run_to_end

    res = await run_to_end(tmux_core, {"cwd": str(root), "framework": "nofs"})
    assert res["state"] == "error"
    assert "module 'nofs' may not read" in res["message"] and "fs roots" in res["message"]


async def test_a_layout_modules_templates_are_listed_and_applied(
    tmux_core: Core, tmp_path: Path
) -> None:
    folder = module(
        user_modules(), "layouts", kind="layout", contributes={"templates": ["dev.yaml"]}
    )
    (folder / "dev.yaml").write_text(
        f"session_name: fromodule\nstart_directory: {tmp_path}\nwindows:\n"
        "  - window_name: edit\n    panes: [echo one, echo two]\n  - window_name: logs\n"
        "    panes: [echo three]\n"
    )
    listed = await call(tmux_core, "template.list")
    entry = next(t for t in listed["templates"] if t["name"] == "layouts:dev")
    assert (entry["module"], entry["windows"], entry["panes"]) == ("layouts", 2, 3)
    res = await call(tmux_core, "template.apply", {"name": "layouts:dev"})
    assert res["session"] == "fromodule" and res["created"] == {"windows": 2, "panes": 3}
    await call(tmux_core, "module.disable", {"name": "layouts"})
    listed = await call(tmux_core, "template.list")
    assert "layouts:dev" not in [t["name"] for t in listed["templates"]]
    err = await fail(tmux_core, "template.apply", {"name": "layouts:dev"})
    assert "no enabled module contributes it" in err["message"]


async def test_a_modules_rules_guard_every_command(tmux_core: Core, tmp_path: Path) -> None:
    rule = {"id": "no-deploy-prod", "pattern": "deploy --prod", "action": "block",
            "message": "no production deploys from here"}  # fmt: skip
    module(user_modules(), "guard", contributes={"rules": [rule]})
    module(user_modules(), "badrule", contributes={"rules": [{**rule, "action": "maybe"}]})
    mods = by_name(await call(tmux_core, "module.list", {"reload": True}))
    assert "contributes.rules[0].action: action must be one of" in mods["badrule (user)"]["error"]
    listed = await call(tmux_core, "protocol.list")
    mine = next(r for r in listed["rules"] if r["id"] == "no-deploy-prod")
    assert mine["source"] == "module guard"
    pane = await call(tmux_core, "pane.new", {"type": "shell", "name": "p"})
    err = await fail(tmux_core, "pane.run", {"pane": pane["id"], "cmd": "deploy --prod now"})
    assert err["code"] == -32007 and "no production deploys from here" in err["message"]
    await call(tmux_core, "module.disable", {"name": "guard"})
    listed = await call(tmux_core, "protocol.list")
    assert "no-deploy-prod" not in [r["id"] for r in listed["rules"]]


CFG = """def register(api):
    @api.method("cfg.show")
    async def show(api_, params):
        return api_.config()
"""


async def test_a_modules_settings_come_from_config_toml_checked_against_its_schema(
    isolated: Path,
) -> None:
    from orchflow_core import paths
    from orchflow_core.registry import load_methods_lazily

    load_methods_lazily()
    module(
        user_modules(),
        "cfg",
        CFG,
        contributes={
            "methods": ["cfg.show"],
            "config": {
                "greeting": {"type": ["string"], "default": "hello", "doc": "what to say"},
                "times": {"type": ["integer"], "default": 1, "min": 1, "max": 5, "doc": "n"},
            },
        },
    )
    config = paths.config_file()
    (isolated / "project").mkdir()
    bad_times = "config: modules.cfg.times: got 9, expected integer, >= 1, <= 5"
    unknown = (
        "config: modules.cfg.colour: module 'cfg' declares no such setting"
        " (its settings: greeting, times)"
    )
    for toml, want in (
        ('[modules.cfg]\ngreeting = "hey"\n', {"greeting": "hey", "times": 1}),
        ("[modules.cfg]\ntimes = 9\n", bad_times),
        ("[modules.cfg]\ncolour = 1\n", unknown),
    ):
        config.write_text(config.read_text().split("[modules")[0] + toml)
        core = Core(project_root=isolated / "project")
        await core.start()
        try:
            if isinstance(want, dict):
                assert await call(core, "cfg.show") == want
            else:
                mods = by_name(await call(core, "module.list"))
                assert (mods["cfg"]["state"], mods["cfg"]["error"]) == ("failed", want)
        finally:
            await core.close()


async def test_a_module_that_hangs_while_loading_is_failed_not_waited_for(
    plain_core: Core,
) -> None:
    module(
        user_modules(), "sleepy", "import time\n\ntime.sleep(3)\n\ndef register(api):\n    pass\n"
    )
    module(user_modules(), "raises", "def register(api):\n    raise RuntimeError('no config')\n")
    from orchflow_core.modules import loader

    ms = await loader.load(plain_core, load_timeout_s=0.5)
    assert ms.get("sleepy").state == "failed"
    assert ms.get("sleepy").error == "entry.py: loading took longer than 0.5 s (left out)"
    assert ms.get("raises").error == "entry.py: RuntimeError: no config"
    assert ms.get("testing").state == "enabled"


FOCUS_MODE = """name = "focus"
description = "One small change at a time"
preamble = "Mode: focus. Change one thing, run the tests, stop."
agent_types = ["test"]
"""


async def test_a_modules_modes_join_the_mode_list_and_can_be_activated(
    plain_core: Core, tmp_path: Path
) -> None:
    folder = module(
        user_modules(), "focusing", contributes={"modes": [{"name": "focus", "file": "focus.toml"}]}
    )
    (folder / "focus.toml").write_text(FOCUS_MODE)
    broken = module(
        user_modules(), "clash", contributes={"modes": [{"name": "tdd", "file": "tdd.toml"}]}
    )
    (broken / "tdd.toml").write_text(FOCUS_MODE.replace('"focus"', '"tdd"'))
    wrong = module(
        user_modules(), "misnamed", contributes={"modes": [{"name": "calm", "file": "m.toml"}]}
    )
    (wrong / "m.toml").write_text(FOCUS_MODE)
    mods = by_name(await call(plain_core, "module.list", {"reload": True}))
    assert (
        "contributes.modes[0].name: 'calm' but m.toml names mode 'focus'"
        in (mods["misnamed (user)"]["error"])
    )
    listed = await call(plain_core, "mode.list", {"cwd": str(tmp_path)})
    modes = {m["name"]: m for m in listed["modes"]}
    assert modes["focus"]["source"] == "module focusing"
    assert modes["tdd"]["source"] == "builtin"  # a module cannot replace a shipped mode
    assert any("module 'clash' cannot replace it" in p for p in listed["problems"])
    await call(plain_core, "mode.activate", {"name": "focus", "cwd": str(tmp_path)})
    current = await call(plain_core, "mode.current", {"cwd": str(tmp_path)})
    assert current["mode"]["preamble"].startswith("Mode: focus.")
    await call(plain_core, "module.disable", {"name": "focusing"})
    listed = await call(plain_core, "mode.list", {"cwd": str(tmp_path)})
    assert "focus" not in {m["name"] for m in listed["modes"]}
