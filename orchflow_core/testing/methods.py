"""``test.*`` methods: ``test.detect``, ``test.run``, ``test.results``, ``test.cancel``,
``test.last``.

A run: the chosen suite's command is run (``TerminalManager.run``) in a ``test`` pane kept per
root (a new one when it was closed or is busy), with the framework's machine-readable output
sent to a private temp file; when the pane's run ends (``run_tracker.wait``), the file is read
and ``test.finished`` is published with the counts. Results live in this process's memory (the
latest ``KEEP_RESULTS`` runs).

States: ``running`` -> ``passed`` (every test passed) | ``failed`` (a test failed) | ``error``
(a collection/build error, no report, or the run was lost) | ``cancelled`` (test.cancel; the
counts are what the framework reported before it stopped) | ``killed`` (pytest died before it
finished, e.g. SIGKILL or out of memory: its streamed report has no end; the counts are what it
reported before).
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import weakref
from pathlib import Path
from typing import TYPE_CHECKING, Any

from orchflow_core.api import METHODS, Params, param
from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    OrchflowError,
    TimeoutError_,
    UnavailableError,
)
from orchflow_core.terminal.methods import ORIGIN, terminal_method
from orchflow_core.testing import results as R
from orchflow_core.testing.adapters import (
    Adapter,
    TestAdapter,
    adapter_command,
    adapter_results,
    builtin_exec_check,
    module_adapters,
)
from orchflow_core.testing.detect import Detected, choose, detect_tests

if TYPE_CHECKING:
    from orchflow_core.core import Core
    from orchflow_core.terminal.manager import TerminalManager

log = logging.getLogger(__name__)
KEEP_RESULTS = 20
GOTEE = Path(__file__).with_name("gotee.py")
FILE_KINDS = {
    ".py": ("pytest", "unittest"),
    ".go": ("go",),
    ".rs": ("cargo",),
    **{ext: ("jest", "vitest") for ext in (".js", ".jsx", ".ts", ".tsx", ".mjs", ".cjs")},
}
PYTEST_RUNNER = Path(__file__).with_name("pytest_runner.py")
UNITTEST_RUNNER = Path(__file__).with_name("unittest_runner.py")


class TestRun:
    __test__ = False  # not a pytest class

    def __init__(self, suite: Detected, command: str, selection: str, report: Path) -> None:
        self.suite, self.command, self.selection, self.report = suite, command, selection, report
        self.adapter: Adapter | None = None  # a module's test adapter runs this suite
        self.run_id = ""
        self.pane = ""
        self.state = "running"
        self.message = ""
        self.exit_code: int | None = None
        self.results = R.Results()
        self.started = time.monotonic()
        self.wall_s: float | None = None
        self.done = asyncio.Event()
        self.params: dict[str, Any] = {}

    def summary(self) -> dict[str, Any]:
        r = self.results
        structured = self.suite.framework != "make"
        return {
            "run_id": self.run_id,
            "framework": self.suite.framework,
            "root": self.suite.root,
            "command": self.command,
            "selection": self.selection,
            "pane": self.pane,
            "state": self.state,
            "message": self.message,
            "exit_code": self.exit_code,
            "passed": r.passed if structured else None,
            "failed": r.failed if structured else None,
            "skipped": r.skipped if structured else None,
            "errors": r.errors if structured else None,
            "xfailed": r.xfailed if structured else None,
            "xpassed": r.xpassed if structured else None,
            "duration_s": r.duration_s if r.duration_s is not None else self.wall_s,
        }

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary(), "tests": [t.to_dict() for t in self.results.tests]}


class TestRunner:
    __test__ = False

    def __init__(self, core: Core) -> None:
        self.core = core
        self.runs: dict[str, TestRun] = {}
        self.panes: dict[str, str] = {}  # root -> orchflow pane id
        self.last: str | None = None
        self.tmp = Path(tempfile.mkdtemp(prefix="orchflow-test-"))
        self._tasks: set[asyncio.Task[None]] = set()

    def get(self, run_id: str) -> TestRun:
        run = self.runs.get(run_id)
        if run is None:
            raise NotFoundError(f"no test run {run_id!r} (see test.last)", id=run_id)
        return run

    async def start(self, tm: TerminalManager, params: Params) -> dict[str, Any]:
        cwd = param(params, "cwd", str, None) or str(self.core.project_root)
        framework = param(params, "framework", str, None)
        root = param(params, "root", str, None)
        filt = param(params, "filter", str, None)
        file = param(params, "file", str, None)
        line = param(params, "line", int, None)
        ids = param(params, "ids", list, None)
        if line is not None and file is None:
            raise InvalidArgumentError(f"line {line} needs a file", param="line")
        if line is not None and line < 1:
            raise InvalidArgumentError(f"line must be 1 or more, got {line}", param="line")
        if ids is not None and (not ids or not all(isinstance(i, str) and i for i in ids)):
            raise InvalidArgumentError(
                f"ids must be a non-empty list of test ids, got {ids!r}", param="ids"
            )
        kinds: tuple[str, ...] | None = None
        if file is not None:
            fpath = Path(file).expanduser()
            fpath = fpath if fpath.is_absolute() else Path(cwd) / fpath
            if not fpath.is_file():
                raise NotFoundError(f"file {file!r} does not exist", param="file")
            file = str(fpath.resolve())
            if framework is None and root is None:
                kinds = FILE_KINDS.get(fpath.suffix)
                if kinds is None:
                    raise InvalidArgumentError(
                        f"file {file!r}: no test framework runs {fpath.suffix or 'extensionless'}"
                        " files (pytest and unittest .py, go .go, cargo .rs, jest .js/.ts)",
                        param="file",
                    )
                cwd = str(fpath.parent)
        if kinds is None and framework is not None:
            kinds = (framework,)
        adapters = await module_adapters(self.core)
        if file is not None and framework is None and root is None:
            ext = Path(file).suffix
            kinds = (*(kinds or ()), *(f for f, a in adapters.items() if ext in a.spec.extensions))
        specs = [a.spec for a in adapters.values()]
        found = await asyncio.to_thread(_find, cwd, file if root is None else None, kinds, specs)
        if kinds is not None and file is not None:
            found = [d for d in found if d.framework in kinds]
        suite = choose(found, cwd, framework, root, tuple(adapters))
        adapter = adapters.get(suite.framework)
        if adapter is not None and (file or ids or line):
            raise InvalidArgumentError(
                f"{suite.framework} (module {adapter.module.name!r}) runs whole suites or a"
                " filter, not a file or single tests",
                param="file" if file else "ids",
            )
        if suite.framework == "make" and (filt or file or ids):
            raise InvalidArgumentError(
                f"a Makefile target ({suite.command}) cannot run a filter, a file or single tests",
                param="filter" if filt else "file" if file else "ids",
            )
        report = Path(tempfile.mkdtemp(prefix="run-", dir=self.tmp)) / "report"
        if adapter is not None:
            command, selection = adapter_command(adapter, suite, report, filt)
        else:
            await builtin_exec_check(self.core, suite)
            await asyncio.to_thread(_check_installed, suite)
            command, selection = _command(suite, report, filt, file, line, ids)
        run = TestRun(suite, command, selection, report)
        run.adapter = adapter
        run.params = dict(params)
        pane = await self._pane(tm, suite)
        try:
            started = await tm.run(pane, command, origin=ORIGIN.get())
        except ConflictError:  # busy: another pane
            pane = await self._pane(tm, suite, fresh=True)
            started = await tm.run(pane, command, origin=ORIGIN.get())
        run.run_id, run.pane = started["id"], pane
        self.runs[run.run_id] = run
        self.last = run.run_id
        while len(self.runs) > KEEP_RESULTS:
            old = next(iter(self.runs))
            if not self.runs[old].done.is_set():
                break
            shutil.rmtree(self.runs.pop(old).report.parent, ignore_errors=True)
        task = asyncio.create_task(self._follow(tm, run))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return {
            "run_id": run.run_id,
            "pane": pane,
            "command": command,
            "framework": suite.framework,
            "root": suite.root,
            "selection": selection,
        }

    async def _pane(self, tm: TerminalManager, suite: Detected, fresh: bool = False) -> str:
        known = self.panes.get(suite.root)
        if known and not fresh:
            try:
                rec = tm.resolve(known)
                if rec.state.value not in ("exited", "closed"):
                    return rec.orchflow_id
            except NotFoundError:
                pass
        name = f"test-{Path(suite.root).name or 'root'}"
        taken = {r.name for r in tm.records()}
        n = 1
        while name in taken:
            n += 1
            name = f"test-{Path(suite.root).name or 'root'}-{n}"
        created = await tm.new_pane(
            pane_type="test",
            name=name,
            cwd=suite.root,
            split="window",
            meta={"source": "test.run", "framework": suite.framework},
            origin=ORIGIN.get(),
        )
        self.panes[suite.root] = str(created["id"])
        return str(created["id"])

    async def _follow(self, tm: TerminalManager, run: TestRun) -> None:
        try:
            while True:
                try:
                    ended = await tm.run_tracker.wait(run.run_id, timeout_s=3600)
                    break
                except TimeoutError_:
                    continue
            run.exit_code = ended.get("exit_code")
            run.wall_s = ended.get("duration_s")
            await asyncio.to_thread(self._read, run, ended["state"])
        except OrchflowError as exc:  # a module's adapter refused (a permission), say
            log.info("test run %s: reading results failed: %s", run.run_id, exc.message)
            run.state, run.message = "error", f"reading the results failed: {exc.message}"
        except Exception as exc:  # reported on the run, never lost
            log.exception("test run %s: reading results failed", run.run_id)
            run.state, run.message = "error", f"reading the results failed: {exc}"
        finally:
            run.done.set()
            self.core.events.publish("test.finished", **run.summary())

    def _read(self, run: TestRun, pane_state: str) -> None:
        fw, root = run.suite.framework, Path(run.suite.root)
        if pane_state == "lost":
            run.state, run.message = "error", "the test pane went away before the run ended"
        if fw == "make":
            if pane_state == "cancelled":
                run.state = "cancelled"
            elif pane_state == "finished":
                run.state = "passed" if run.exit_code == 0 else "failed"
                run.message = f"{run.command} exited with {run.exit_code} (make reports no counts)"
            return
        report = run.report
        if not report.is_file() or report.stat().st_size == 0:
            if run.state != "error":
                run.state = "cancelled" if pane_state == "cancelled" else "error"
                run.message = (
                    f"{fw} exited with code {run.exit_code} and wrote no report"
                    " (killed, or it could not start: see the test pane)"
                )
            return
        if run.adapter is not None:
            run.results = adapter_results(run.adapter, report, root)
        elif fw == "pytest":
            run.results = R.parse_pytest_json(report, root)
        elif fw == "unittest":
            run.results = R.parse_unittest_json(report, root)
        elif fw in ("jest", "vitest"):  # vitest's JSON reporter writes jest's format
            run.results = R.parse_jest(report, root)
        elif fw == "cargo":
            run.results = R.parse_cargo(report.read_text(encoding="utf-8", errors="replace"), root)
        else:
            lines = report.read_text(encoding="utf-8", errors="replace").splitlines()
            run.results = R.parse_go_json(lines, root, R.go_module(root))
        if run.state == "error":
            return
        r = run.results
        if pane_state == "cancelled":
            run.state = "cancelled"
        elif not r.complete:
            n = len(r.tests)
            run.state = "killed"
            run.message = (
                f"{fw} was killed (exit code {run.exit_code}) before it finished; the counts"
                f" are the {n} result{'s' if n != 1 else ''} it reported before"
            )
        elif r.errors:
            run.state = "error"
        elif r.failed:
            run.state = "failed"
        elif run.exit_code not in (0, None) and not (fw == "pytest" and run.exit_code == 5):
            run.state, run.message = "error", f"{fw} exited with {run.exit_code}; see the test pane"
        else:
            run.state = "passed"
        if fw == "pytest" and run.exit_code == 5:
            run.message = "pytest collected no tests"


def _find(
    cwd: str,
    file: str | None,
    kinds: tuple[str, ...] | None,
    adapters: list[TestAdapter] | None = None,
) -> list[Detected]:
    """The suites under ``cwd``; for a ``file``, those whose root holds it, and when there is
    none below the file's directory, the first parent that has one (a test file deep in a
    package belongs to the root above it)."""
    extra = adapters or []
    found = detect_tests(cwd, adapters=extra)
    if file is None:
        return found
    found = [d for d in found if Path(file).is_relative_to(d.root)] or found
    if any(kinds is None or d.framework in kinds for d in found):
        return found
    for parent in Path(cwd).resolve().parents:
        more = detect_tests(str(parent), max_depth=0, adapters=extra)
        if any(kinds is None or d.framework in kinds for d in more):
            return more
    return found


_HAS_PYTEST: set[str] = set()  # interpreters seen with pytest (this process's lifetime)
_FIND_PYTEST = "import importlib.util, sys; sys.exit(importlib.util.find_spec('pytest') is None)"


def _check_installed(suite: Detected) -> None:
    """Refuse a framework that is not installed, naming it. pytest is looked up (not imported)
    in the suite's interpreter; a positive answer is remembered (a pytest uninstalled later
    makes the run end with no report, reported as an error)."""
    if suite.framework == "unittest":
        return  # part of Python
    if suite.framework == "pytest":
        python = shlex.split(suite.command)[0]
        if python in _HAS_PYTEST:
            return
        if python == sys.executable:
            found = importlib.util.find_spec("pytest") is not None
        else:
            proc = subprocess.run(
                [python, "-I", "-c", _FIND_PYTEST], capture_output=True, cwd=suite.root, check=False
            )
            found = proc.returncode == 0
        if not found:
            raise UnavailableError(
                f"pytest is not installed for {python} (the interpreter of {suite.root}):"
                f" {python} -m pip install pytest",
                framework="pytest",
                python=python,
            )
        _HAS_PYTEST.add(python)
    else:
        tool = {"go": "go", "cargo": "cargo", "jest": suite.command, "vitest": suite.command}.get(
            suite.framework, "make"
        )
        if shutil.which(tool) is None:
            raise UnavailableError(
                f"{tool} is not installed (not on PATH); install it to run {suite.command}",
                framework=suite.framework,
            )


def _command(
    suite: Detected,
    report: Path,
    filt: str | None,
    file: str | None,
    line: int | None,
    ids: list[str] | None,
) -> tuple[str, str]:
    q = shlex.quote
    root = Path(suite.root)
    if suite.framework == "make":
        return suite.command, "all"
    if suite.framework == "pytest":
        python = shlex.split(suite.command)[0]
        args = [q(python), q(str(PYTEST_RUNNER)), q(str(report))]
        selection = "all"
        if ids:
            args += [q(i) for i in ids]
            selection = f"{len(ids)} test{'s' if len(ids) != 1 else ''}"
        elif file:
            rel = str(Path(file).relative_to(root)) if Path(file).is_relative_to(root) else file
            node = None
            if line is not None:
                node = R.nearest_python(
                    Path(file).read_text(encoding="utf-8", errors="replace"), line
                )
            target = "::".join([rel, *node]) if node else rel
            args.append(q(target))
            selection = target if node or line is None else f"{rel} (line {line} is in no test)"
        if filt:
            args += ["-k", q(filt)]
            selection = f"{selection} -k {filt}"
        return " ".join(args), selection
    if suite.framework == "unittest":
        python = shlex.split(suite.command)[0]
        args = [q(python), q(str(UNITTEST_RUNNER)), q(str(report))]
        selection = "all"
        if ids:
            args += [q(i) for i in ids]
            selection = f"{len(ids)} test{'s' if len(ids) != 1 else ''}"
        elif file:
            upath = Path(file)
            urel = upath.relative_to(root) if upath.is_relative_to(root) else upath
            dotted = ".".join(urel.with_suffix("").parts)
            node = None
            if line is not None:
                node = R.nearest_unittest(upath.read_text(encoding="utf-8", errors="replace"), line)
            args.append(q(".".join([dotted, *node]) if node else dotted))
            selection = "::".join([str(urel), *node]) if node else str(urel)
            if line is not None and not node:
                selection += f" (line {line} is in no test)"
        if filt:
            args[3:3] = ["-k", q(filt)]
            selection = f"{selection} -k {filt}"
        return " ".join(args), selection
    if suite.framework == "vitest":
        return _vitest_command(suite, report, filt, file, line, ids)
    if suite.framework == "jest":
        args = [
            q(suite.command),
            "--json",
            "--testLocationInResults",
            f"--outputFile={q(str(report))}",
        ]
        selection = "all"
        if ids:
            files = sorted({i.split("::", 1)[0] for i in ids})
            names = sorted({i.split("::", 1)[1] for i in ids if "::" in i})
            args += ["--runTestsByPath", *(q(f) for f in files)]
            if names:
                args += ["-t", q("^(" + "|".join(re.escape(n) for n in names) + ")$")]
            selection = f"{len(ids)} test{'s' if len(ids) != 1 else ''}"
        elif file:
            rel = str(Path(file).relative_to(root)) if Path(file).is_relative_to(root) else file
            args += ["--runTestsByPath", q(rel)]
            selection = rel
            if line is not None:
                name = R.nearest_jest(
                    Path(file).read_text(encoding="utf-8", errors="replace"), line
                )
                if name:
                    args += ["-t", q(re.escape(name))]
                    selection = f"{rel}::{name}"
                else:
                    selection += f" (line {line} is in no test)"
        if filt:
            args += ["-t", q(filt)]
            selection = f"{selection} -t {filt}"
        return " ".join(args), selection
    if suite.framework == "cargo":
        # libtest has no stable machine-readable output (JSON needs nightly): its text is
        # kept with tee and parsed; --no-fail-fast runs every test binary
        filters: list[str] = []
        selection = "all"
        if ids:
            filters, selection = list(ids), f"{len(ids)} test{'s' if len(ids) != 1 else ''}"
        elif file:
            source = Path(file).read_text(encoding="utf-8", errors="replace")
            rtests = R.rust_tests_in(source)
            above = [n for n, at in rtests if line is not None and at <= line]
            rrel = str(Path(file).relative_to(root)) if Path(file).is_relative_to(root) else file
            if above:
                filters, selection = [above[-1]], f"{rrel}::{above[-1]}"
            elif rtests:
                filters = [n for n, _ in rtests]
                selection = rrel + (f" (line {line} is in no test)" if line else "")
            else:
                raise InvalidArgumentError(f"{file} has no #[test] function", param="file")
        if filt:
            filters.append(filt)
            selection = f"{selection} {filt}"
        exact = ["--exact"] if ids else []
        cmd = ["cargo", "test", "--no-fail-fast", "--color", "never", "--", *exact]
        cmd += [q(f) for f in filters]
        cmd += ["2>&1", "|", "tee", q(str(report))]
        return " ".join(cmd), selection
    # go
    pkgs, run_re, selection = "./...", None, "all"
    module = R.go_module(root)
    if ids:
        pairs = [i.split("::", 1) if "::" in i else (module or "", i) for i in ids]
        dirs = sorted({str(R._pkg_dir(root, module, pkg).relative_to(root)) for pkg, _ in pairs})
        pkgs = " ".join(q("./" + d) if d != "." else "." for d in dirs)
        run_re = "^(" + "|".join(sorted({re.escape(t.split("/")[0]) for _, t in pairs})) + ")$"
        selection = f"{len(ids)} test{'s' if len(ids) != 1 else ''}"
    elif file:
        fpath = Path(file)
        rel_dir = fpath.parent.relative_to(root) if fpath.parent.is_relative_to(root) else None
        pkgs = "./" + str(rel_dir) if rel_dir and str(rel_dir) != "." else "."
        source = fpath.read_text(encoding="utf-8", errors="replace")
        if line is not None and (name := R.nearest_go(source, line)):
            run_re, selection = f"^{name}$", f"{fpath.name}::{name}"
        else:
            tests = [n for n, _ in R.go_tests_in(source)]
            if not tests:
                raise InvalidArgumentError(f"{file} has no func TestX(t *testing.T)", param="file")
            run_re = "^(" + "|".join(tests) + ")$"
            selection = fpath.name + (f" (line {line} is in no test)" if line else "")
    if filt:
        run_re = filt if run_re is None else run_re
        selection = f"{selection} -run {filt}"
    cmd = ["go", "test", "-json"]
    if run_re:
        cmd += ["-run", q(run_re)]
    cmd += [pkgs, "2>&1", "|", q(sys.executable), q(str(GOTEE)), q(str(report))]
    return " ".join(cmd), selection


def _vitest_command(
    suite: Detected,
    report: Path,
    filt: str | None,
    file: str | None,
    line: int | None,
    ids: list[str] | None,
) -> tuple[str, str]:
    """``vitest run`` with its JSON reporter (jest's format) to the report file, and its
    default reporter in the pane; ``-t`` matches the full name ("describe test")."""
    q = shlex.quote
    root = Path(suite.root)
    args = [
        q(suite.command),
        "run",
        "--reporter=json",
        f"--outputFile={q(str(report))}",
        "--reporter=default",
        "--includeTaskLocation",
    ]
    selection = "all"
    names: list[str] = []
    if ids:
        args += [q(f) for f in sorted({i.split("::", 1)[0] for i in ids})]
        names = sorted({i.split("::", 1)[1] for i in ids if "::" in i})
        selection = f"{len(ids)} test{'s' if len(ids) != 1 else ''}"
    elif file:
        rel = str(Path(file).relative_to(root)) if Path(file).is_relative_to(root) else file
        args.append(q(rel))
        selection = rel
        if line is not None:
            name = R.nearest_jest(Path(file).read_text(encoding="utf-8", errors="replace"), line)
            if name:
                args += ["-t", q(re.escape(name))]
                selection = f"{rel}::{name}"
            else:
                selection += f" (line {line} is in no test)"
    if names:
        args += ["-t", q("^(" + "|".join(re.escape(n) for n in names) + ")$")]
    if filt:
        args += ["-t", q(filt)]
        selection = f"{selection} -t {filt}"
    return " ".join(args), selection


_RUNNERS: weakref.WeakKeyDictionary[Any, TestRunner] = weakref.WeakKeyDictionary()


def runner(core: Core) -> TestRunner:
    r = _RUNNERS.get(core)
    if r is None:
        r = _RUNNERS[core] = TestRunner(core)
    return r


@METHODS.method("test.detect")
async def test_detect(core: Core, params: Params) -> list[dict[str, Any]]:
    cwd = param(params, "cwd", str, None) or str(core.project_root)
    specs = [a.spec for a in (await module_adapters(core)).values()]
    found = await asyncio.to_thread(detect_tests, cwd, adapters=specs)
    return [
        {"framework": d.framework, "root": d.root, "command": d.command, "source": d.source}
        for d in found
    ]


@terminal_method("test.run")
async def test_run(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    return await runner(core).start(tm, params)


@terminal_method("test.results")
async def test_results(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    """The run's results; ``wait_s`` (default 0) waits up to that long for a running one."""
    run = runner(core).get(param(params, "run_id", str))
    wait_s: float = param(params, "wait_s", (int, float), 0)
    if not 0 <= wait_s <= 3600:
        raise InvalidArgumentError(
            f"wait_s must be 0 to 3600 seconds, got {wait_s!r}", param="wait_s"
        )
    if wait_s and not run.done.is_set():
        try:
            async with asyncio.timeout(wait_s):
                await run.done.wait()
        except TimeoutError:
            pass
    return run.to_dict()


@terminal_method("test.cancel")
async def test_cancel(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any]:
    run = runner(core).get(param(params, "run_id", str))
    if not run.done.is_set():
        await tm.run_tracker.cancel(run.run_id, timeout_s=5.0)
        try:
            async with asyncio.timeout(10):
                await run.done.wait()
        except TimeoutError:
            pass
    return run.summary()


@terminal_method("test.last")
async def test_last(tm: TerminalManager, params: Params, core: Core) -> dict[str, Any] | None:
    """The latest run's summary and the parameters it was started with (``params``), or
    null when nothing ran yet."""
    r = runner(core)
    if r.last is None or r.last not in r.runs:
        return None
    run = r.runs[r.last]
    return {**run.summary(), "params": run.params}
