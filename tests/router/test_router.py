"""ai.route / ai.feedback through api.dispatch on a real Core (real SQLite state DB) and
real project files: routing, arguments, bad input, learning from feedback, history."""

from __future__ import annotations

import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

import orchflow_core.history.methods
import orchflow_core.router.methods  # noqa: F401  (registers ai.route, ai.feedback)
from orchflow_core.api import dispatch
from orchflow_core.core import Core

FIXTURES = Path(__file__).resolve().parents[2] / "benchmarks" / "data" / "router"


@pytest.fixture
async def core(isolated: Path) -> AsyncIterator[Core]:
    core = Core()
    yield core
    await core.close()


def project(tmp_path: Path, kind: str) -> Path:
    dest = tmp_path / kind
    shutil.copytree(FIXTURES / kind, dest)
    return dest


async def call(core: Core, method: str, params: dict) -> dict:
    ok, result = await dispatch(core, method, params)
    assert ok, result
    return result


@pytest.mark.parametrize(
    ("kind", "command"),
    [
        ("python", "pytest -k authentication"),
        ("node", "pnpm run test -- -t authentication"),
        ("go", "go test -run Authentication ./..."),
        ("rust", "cargo test authentication"),
        ("make", "make test ARGS=authentication"),
    ],
)
async def test_tests_for_authentication_in_each_tool(
    core: Core, tmp_path: Path, kind: str, command: str
) -> None:
    root = project(tmp_path, kind)
    out = await call(
        core,
        "ai.route",
        {"input": "Run the tests for authentication, please!", "context": {"cwd": str(root)}},
    )
    assert out["agent_type"] == "test"
    assert out["suggested_command"] == command
    assert out["confidence"] >= 0.5 and out["reason"].startswith("lexicon:")
    assert out["arguments"] == ["authentication"]


async def test_typos_negation_ai_and_nowhere(core: Core, tmp_path: Path) -> None:
    ctx = {"cwd": str(project(tmp_path, "rust"))}
    typo = await call(core, "ai.route", {"input": "biuld for relase", "context": ctx})
    assert typo["agent_type"] == "build" and "biuld->build" in typo["reason"]
    neg = await call(core, "ai.route", {"input": "don't build, just run the tests", "context": ctx})
    assert neg["agent_type"] == "test" and neg["suggested_command"] == "cargo test"
    ai = await call(core, "ai.route", {"input": "explain the retry logic", "context": ctx})
    assert ai["agent_type"] == "ai" and ai["suggested_command"] is None
    none = await call(core, "ai.route", {"input": "order me a pizza", "context": ctx})
    assert none["agent_type"] is None and none["confidence"] < 0.5
    assert none["reason"].startswith("none:")


async def test_no_tooling_and_huge_makefile(core: Core, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    out = await call(core, "ai.route", {"input": "run the tests", "context": {"cwd": str(empty)}})
    assert out["agent_type"] == "test" and out["suggested_command"] is None
    assert "no recognisable tooling" in out["reason"]
    big = tmp_path / "big"
    big.mkdir()
    targets = [f"target{i}" for i in range(497)] + ["test-integration", "test", "serve"]
    (big / "Makefile").write_text("".join(f"{t}:\n\techo {t}\n" for t in targets))
    out = await call(
        core, "ai.route", {"input": "run the integration tests", "context": {"cwd": str(big)}}
    )
    assert out["suggested_command"] == "make test-integration"
    out = await call(core, "ai.route", {"input": "serve it", "context": {"cwd": str(big)}})
    assert out["agent_type"] == "dev" and out["suggested_command"] == "make serve"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"input": ""}, "input is empty"),
        ({"input": "   "}, "input is empty"),
        ({"input": "x" * 100_000}, "100000 characters"),
        ({"input": "run\x00tests"}, "binary"),
        ({"input": 5}, "input must be a string, not int"),
        ({"input": "test", "context": {"dir": "/"}}, "'dir'"),
        ({"input": "test", "context": {"agent": "robot"}}, "'robot'"),
        ({"input": "test", "context": []}, "context must be an object"),
    ],
)
async def test_bad_input_is_refused_naming_it(core: Core, params: dict, message: str) -> None:
    ok, err = await dispatch(core, "ai.route", params)
    assert not ok and message in err["message"], err


async def test_missing_directory(core: Core, tmp_path: Path) -> None:
    ok, err = await dispatch(
        core, "ai.route", {"input": "run tests", "context": {"cwd": str(tmp_path / "gone")}}
    )
    assert not ok and "gone" in err["message"]


async def test_three_corrections_are_learned_and_similar_phrasings_lean(
    core: Core, tmp_path: Path
) -> None:
    ctx = {"cwd": str(project(tmp_path, "python"))}
    phrase = "check the style"
    before = await call(core, "ai.route", {"input": phrase, "context": ctx})
    assert before["suggested_command"] != "mypy ."
    for i in range(3):
        fb = await call(
            core,
            "ai.feedback",
            {
                "input": phrase,
                "context": ctx,
                "verdict": "edit",
                "agent_type": "lint",
                "command": "mypy .",
            },
        )
        assert fb["votes"] == i + 1
        routed = await call(core, "ai.route", {"input": phrase, "context": ctx})
        assert (routed["tier"] == "learned") == (i == 2)
    assert routed["agent_type"] == "lint" and routed["suggested_command"] == "mypy ."
    assert routed["confidence"] == 0.95 and "3 times" in routed["reason"]
    # Same words in another case and order: the same phrasing.
    again = await call(core, "ai.route", {"input": "The STYLE: check!", "context": ctx})
    assert again["tier"] == "learned"
    # Learned per project: another project is not affected.
    other = await call(
        core, "ai.route", {"input": phrase, "context": {"cwd": str(project(tmp_path, "go"))}}
    )
    assert other["tier"] != "learned"
    # Persisted: a new core (new process) reads it from SQLite.
    fresh = Core()
    try:
        ok, out = await dispatch(fresh, "ai.route", {"input": phrase, "context": ctx})
        assert ok and out["tier"] == "learned"
    finally:
        await fresh.close()
    ok, err = await dispatch(core, "ai.feedback", {"input": phrase, "verdict": "meh"})
    assert not ok and "'meh'" in err["message"]
    ok, err = await dispatch(core, "ai.feedback", {"input": phrase, "verdict": "edit"})
    assert not ok and "edit verdict needs" in err["message"]


async def test_similar_phrasing_leans_to_feedback(core: Core, tmp_path: Path) -> None:
    ctx = {"cwd": str(project(tmp_path, "node"))}
    for _ in range(3):
        await call(
            core,
            "ai.feedback",
            {
                "input": "watch the assets",
                "context": ctx,
                "verdict": "edit",
                "agent_type": "build",
                "command": "pnpm run build",
            },
        )
    out = await call(core, "ai.route", {"input": "watch the static assets folder", "context": ctx})
    assert out["agent_type"] == "build"
    assert "feedback" in out["reason"]


async def test_history_frecency_picks_the_command(core: Core, tmp_path: Path) -> None:
    root = project(tmp_path, "python")
    ok, _ = await dispatch(
        core, "history.add", {"command": "pytest -x -q", "cwd": str(root), "exit_code": 0}
    )
    assert ok
    out = await call(core, "ai.route", {"input": "run the tests", "context": {"cwd": str(root)}})
    assert out["suggested_command"] == "pytest -x -q" and "history" in out["reason"]


def test_fixture_package_json_is_valid() -> None:
    assert json.loads((FIXTURES / "node" / "package.json").read_text())["scripts"]["test"]


async def test_justfile_recipes_and_a_named_tool(core: Core, tmp_path: Path) -> None:
    root = project(tmp_path, "python")
    ctx = {"cwd": str(root)}
    (root / "justfile").write_text("start:\n    python -m app.main\n")
    out = await call(core, "ai.route", {"input": "serve it", "context": ctx})
    assert out["agent_type"] == "dev" and out["suggested_command"] == "ledger"
    # A file the project changes is seen on the next route (the cache checks stat).
    (root / "justfile").write_text("serve port='8000':\n    python -m http.server {{port}}\n")
    out = await call(core, "ai.route", {"input": "serve it", "context": ctx})
    assert out["agent_type"] == "dev" and out["suggested_command"] == "just serve"
    assert out["source"] == "justfile recipe"
    out = await call(core, "ai.route", {"input": "run mypy", "context": ctx})
    assert out["agent_type"] == "lint" and out["suggested_command"] == "mypy ."


@pytest.mark.parametrize(
    ("kind", "text", "agent_type", "command"),
    [
        ("python", "make sure i didn't break anything", "test", "pytest"),
        ("rust", "did I break anything?", "test", "cargo test"),
        ("python", "typecheck", "lint", "mypy ."),
        ("python", "run the type checker", "lint", "mypy ."),
        ("rust", "any type errors?", "lint", "cargo check"),
        ("go", "check the types", "lint", "go vet ./..."),
        ("python", "what's wrong with my tests", "ai", None),
        ("go", "how come the build fails", "ai", None),
        ("node", "clean up this messy function", "ai", None),
        ("node", "split the big module into smaller ones", "ai", None),
        ("rust", "simplify the retry loop", "ai", None),
        ("make", "rebuild everything", "build", "make build"),
        ("python", "open the readme", None, None),
        ("python", "what's for lunch", None, None),  # not a misspelt "launch"
        ("go", "tset", "test", "go test ./..."),  # a strong word's typo still routes
    ],
)
async def test_round_two_phrasings(
    core: Core, tmp_path: Path, kind: str, text: str, agent_type: str | None, command: str | None
) -> None:
    """Phrasings the first lexicon missed: checks, type checking, causes, refactoring."""
    out = await call(
        core, "ai.route", {"input": text, "context": {"cwd": str(project(tmp_path, kind))}}
    )
    assert (out["agent_type"], out["suggested_command"]) == (agent_type, command), out
    assert (out["confidence"] >= 0.5) == (agent_type is not None)


async def test_typecheck_picks_the_projects_type_checker(core: Core, tmp_path: Path) -> None:
    script = tmp_path / "script"
    script.mkdir()
    (script / "package.json").write_text(
        json.dumps({"scripts": {"test": "jest", "lint": "eslint .", "typecheck": "tsc -b"}})
    )
    (script / "pnpm-lock.yaml").write_text("lockfileVersion: '9.0'\n")
    out = await call(core, "ai.route", {"input": "typecheck", "context": {"cwd": str(script)}})
    assert out["suggested_command"] == "pnpm run typecheck"
    assert "package.json script typecheck" in out["reason"]
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "package.json").write_text(json.dumps({"scripts": {"lint": "eslint ."}}))
    (bare / "tsconfig.json").write_text("{}")
    out = await call(
        core, "ai.route", {"input": "run the type checker", "context": {"cwd": str(bare)}}
    )
    assert out["agent_type"] == "lint" and out["suggested_command"] == "npx tsc --noEmit"
    # Plain linting still runs the linter.
    out = await call(core, "ai.route", {"input": "run the linter", "context": {"cwd": str(bare)}})
    assert out["suggested_command"] == "npm run lint"
