"""Results from machine-readable test output, and the nearest test at a line.

- pytest: the JSON of orchflow's recorder plugin (pytest_runner.py), which files each report
  under the category of pytest's own summary. Counts: ``passed``, ``failed``, ``skipped``
  (pytest's "skipped" plus "xfailed"; ``xfailed`` is also given on its own), ``xpassed``,
  ``errors`` (collection, setup and teardown errors).
- unittest: the JSON of unittest_runner.py; jest: its ``--json`` report; cargo: libtest's lines.
- go: ``go test -json`` events; a test's result is its last pass/fail/skip action (subtests
  count, as in ``go test -v``'s ``--- PASS`` lines); a package that failed without a failing
  test (a build error, a panic in init) is one error.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

MAX_OUTPUT_CHARS = 20_000


@dataclass(slots=True)
class TestCase:
    id: str
    name: str
    file: str | None
    line: int | None
    status: str  # passed | failed | skipped | xfailed | error
    message: str = ""
    output: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Results:
    passed: int = 0
    failed: int = 0
    skipped: int = 0
    errors: int = 0
    xfailed: int = 0
    xpassed: int = 0
    duration_s: float | None = None
    tests: list[TestCase] = field(default_factory=list)
    complete: bool = True  # False: the report has no end (the framework was killed)

    def count(self, case: TestCase) -> None:
        self.tests.append(case)
        if case.status == "xfailed":
            self.xfailed += 1
            self.skipped += 1
        elif case.status == "xpassed":
            self.xpassed += 1
        elif case.status == "error":
            self.errors += 1
        else:
            setattr(self, case.status, getattr(self, case.status) + 1)


def _clip(text: str) -> str:
    return text if len(text) <= MAX_OUTPUT_CHARS else text[:MAX_OUTPUT_CHARS] + "\n… (cut)"


def _failing_line(text: str, file: str | None) -> int | None:
    """The last ``file:NN:`` of a traceback in the test's own file."""
    if not file:
        return None
    hits = re.findall(rf"^{re.escape(file)}:(\d+):", text, re.M)
    return int(hits[-1]) if hits else None


# -- pytest under pytest_runner.py (the recorder plugin's JSON) --------------------------------
def parse_pytest_json(path: Path, root: Path) -> Results:
    """Counts per pytest's own summary categories; a test with a passing call and a failing
    teardown is one passed and one error, as pytest says. The report is JSON lines (start,
    one per test, end); without the end line pytest did not finish: ``complete`` is False
    and the counts are what it reported before it stopped (a cut last line is ignored)."""
    res = Results(complete=False)
    try:
        f = path.open(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"{path}: unreadable pytest report: {exc}") from None
    with f:
        for raw in f:
            try:
                t = json.loads(raw)
            except ValueError:
                continue  # the line a kill cut short
            kind = t.get("kind")
            if kind == "end":
                res.complete = True
                res.duration_s = round(float(t.get("duration_s") or 0), 6)
                continue
            if kind != "test":
                continue
            file = t.get("file")
            if file and Path(file).is_relative_to(root):
                file = str(Path(file).relative_to(root))
            status = str(t["status"])
            text = str(t.get("output") or "")
            line = t.get("line")
            if status in ("failed", "error"):
                line = _failing_line(text, file) or line or (1 if file else None)
            res.count(
                TestCase(
                    str(t["id"]),
                    str(t.get("name") or t["id"]),
                    file,
                    line,
                    status,
                    str(t.get("message") or ""),
                    _clip(text),
                )
            )
    return res


# -- unittest (orchflow_core/testing/unittest_runner.py's JSON) ------------------------------------
def parse_unittest_json(path: Path, root: Path) -> Results:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable unittest report: {exc}") from None
    res = Results(duration_s=round(float(data.get("duration_s") or 0), 6))
    for t in data.get("tests", []):
        file, line = t.get("file"), t.get("line")
        if file and Path(file).is_relative_to(root):
            file = str(Path(file).relative_to(root))
        elif file:  # a module that failed to import: unittest's _FailedTest, named after it
            guess = str(t.get("name") or "").replace(".", "/") + ".py"
            file, line = (guess, 1) if (root / guess).is_file() else (None, None)
        test_id = str(t["id"])
        if test_id.startswith("unittest.loader._FailedTest."):
            test_id = str(t.get("name") or test_id)  # the module: running it shows the error
        res.count(
            TestCase(
                test_id,
                str(t.get("name") or t["id"]),
                file,
                line,
                str(t["status"]),
                str(t.get("message") or ""),
                _clip(str(t.get("output") or "")),
            )
        )
    return res


# -- jest (--json --testLocationInResults) ----------------------------------------------------
def parse_jest(path: Path, root: Path) -> Results:
    """jest's ``--json`` report -> Results: ``numPassedTests``... per assertion; pending and
    todo are skipped; a test file that failed to run (a syntax error) is one error."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: unreadable jest report: {exc}") from None
    res = Results()
    start, end = data.get("startTime"), 0
    for suite in data.get("testResults", []):
        name = str(suite.get("name", ""))
        file = (
            str(Path(name).relative_to(root)) if name and Path(name).is_relative_to(root) else name
        )
        end = max(end, int(suite.get("endTime") or 0))
        cases = suite.get("assertionResults") or []
        if not cases and suite.get("status") == "failed":
            text = str(suite.get("message") or "")
            m = re.search(rf"{re.escape(Path(name).name)}:(\d+)", text) or re.search(
                r"\((\d+):\d+\)", text
            )
            plain = re.sub(r"\x1b\[[0-9;]*m", "", text).strip()
            res.count(
                TestCase(
                    file,
                    file,
                    file,
                    int(m.group(1)) if m else 1,
                    "error",
                    plain.splitlines()[0] if plain else "failed to run",
                    _clip(plain),
                )
            )
            continue
        for c in cases:
            status = {"passed": "passed", "failed": "failed"}.get(str(c.get("status")), "skipped")
            failures = re.sub(r"\x1b\[[0-9;]*m", "", "\n".join(c.get("failureMessages") or []))
            line = (c.get("location") or {}).get("line")
            hits = re.findall(rf"{re.escape(Path(name).name)}:(\d+):\d+", failures)
            if hits:
                line = int(hits[0])
            message = failures.strip().splitlines()[0] if failures.strip() else ""
            full = str(c.get("fullName") or c.get("title") or "")
            res.count(
                TestCase(f"{file}::{full}", full, file, line, status, message, _clip(failures))
            )
    if start and end:
        res.duration_s = round((end - int(start)) / 1000, 6)
    return res


# -- cargo (libtest's text output, captured with tee) ------------------------------------------
_CARGO_TEST = re.compile(r"^test (.+?) \.\.\. (ok|FAILED|ignored)(?:,.*)?$", re.M)
_CARGO_RESULT = re.compile(
    r"^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored; .*finished in ([\d.]+)s", re.M
)
# Rust >= 1.73: "panicked at src/lib.rs:22:9:\n<message>"; older: "panicked at '<message,
# possibly several lines>', src/lib.rs:22:9".
_CARGO_PANIC = re.compile(r"panicked at (?:'(.*?)', )?([^\s:']+\.rs):(\d+):\d+", re.S)
_CARGO_ERROR = re.compile(r"^(error(?:\[\w+\])?: .*)\n\s*--> ([^:\n]+):(\d+):\d+", re.M)


def parse_cargo(text: str, root: Path) -> Results:
    """``cargo test`` output (every test binary's libtest lines) -> Results. The counts are the
    sum of libtest's "test result:" lines; a crate that failed to compile is one error."""
    res = Results(duration_s=0.0)
    text = re.sub(r"\x1b\[[0-9;]*m", "", text).replace("\r\n", "\n")
    sections = dict(
        re.findall(r"^---- (.+?) stdout ----\n(.*?)(?=^---- |^failures:|\Z)", text, re.M | re.S)
    )
    for name, outcome in _CARGO_TEST.findall(text):
        status = {"ok": "passed", "FAILED": "failed", "ignored": "skipped"}[outcome]
        out = sections.get(name, "")
        file, line = _rust_location(root, name)
        message = ""
        if status == "failed":
            m = _CARGO_PANIC.search(out)
            if m:
                file, line = m.group(2), int(m.group(3))
                rest = (m.group(1) or out[m.end() :].lstrip(":")).strip().splitlines()
                message = rest[0].strip() if rest else "panicked"
            else:
                message = "FAILED"
        res.count(TestCase(name, name.rsplit("::", 1)[-1], file, line, status, message, _clip(out)))
    for m in _CARGO_RESULT.finditer(text):
        res.duration_s = round((res.duration_s or 0) + float(m.group(4)), 6)
    if "could not compile" in text:
        m = _CARGO_ERROR.search(text)
        file, line = (m.group(2), int(m.group(3))) if m else (None, None)
        first = m.group(1) if m else "could not compile"
        res.count(TestCase("build", "build", file, line, "error", first, _clip(text)))
    return res


def cargo_summary(text: str) -> dict[str, int]:
    """libtest's own "test result:" lines, summed (for tests and checks)."""
    out = {"passed": 0, "failed": 0, "ignored": 0}
    for m in _CARGO_RESULT.finditer(re.sub(r"\x1b\[[0-9;]*m", "", text)):
        for key, n in zip(("passed", "failed", "ignored"), m.groups()[:3], strict=True):
            out[key] += int(n)
    return out


def _rust_location(root: Path, name: str) -> tuple[str | None, int | None]:
    fn = name.rsplit("::", 1)[-1]
    if " " in fn:  # a doc test: "src/lib.rs - add (line 3)"
        m = re.match(r"(\S+\.rs) - .* \(line (\d+)\)", name)
        return (m.group(1), int(m.group(2))) if m else (None, None)
    for sub in ("src", "tests"):
        for f in sorted((root / sub).rglob("*.rs"))[:200]:
            try:
                src = f.read_text(encoding="utf-8", errors="replace")
            except OSError:
                continue
            m = re.search(rf"^\s*(?:pub\s+)?(?:async\s+)?fn {re.escape(fn)}\s*\(", src, re.M)
            if m:
                return str(f.relative_to(root)), src.count("\n", 0, m.start()) + 1
    return None, None


def rust_tests_in(source: str) -> list[tuple[str, int]]:
    """(name, line) of each ``#[test]`` function in a Rust file."""
    return [
        (m.group(1), source.count("\n", 0, m.start()) + 1)
        for m in re.finditer(
            r"#\[(?:tokio::)?test\][^\n]*\n(?:\s*#\[[^\n]*\n)*\s*(?:pub\s+)?(?:async\s+)?fn (\w+)",
            source,
        )
    ]


# -- go ----------------------------------------------------------------------------------------
_GO_LOC = re.compile(r"^\s+([\w./-]+_test\.go):(\d+):", re.M)


def parse_go_json(lines: list[str], root: Path, module: str | None) -> Results:
    """``go test -json`` lines (non-JSON lines, e.g. build errors on stderr, are kept as
    package output) -> Results."""
    res = Results()
    outputs: dict[tuple[str, str], list[str]] = {}
    final: dict[tuple[str, str], str] = {}
    pkg_final: dict[str, str] = {}
    elapsed = 0.0
    stray: list[str] = []
    for raw in lines:
        raw = raw.rstrip("\n")
        if not raw.startswith("{"):
            if raw.strip():
                stray.append(raw)
            # before Go 1.24 a build failure is plain text: "FAIL\t<pkg> [build failed]"
            m = re.match(r"^FAIL\t(\S+) \[(?:build|setup) failed\]", raw)
            if m:
                pkg_final[m.group(1)] = "fail"
            continue
        try:
            ev = json.loads(raw)
        except json.JSONDecodeError:
            stray.append(raw)
            continue
        pkg, test, action = ev.get("Package", ""), ev.get("Test"), ev.get("Action")
        key = (pkg, test or "")
        if action == "output":
            outputs.setdefault(key, []).append(ev.get("Output", ""))
        elif action in ("pass", "fail", "skip"):
            if test:
                final[key] = action
            else:
                pkg_final[pkg] = action
                elapsed += float(ev.get("Elapsed") or 0)
    failed_pkgs = set()
    for (pkg, test), action in final.items():
        text = "".join(outputs.get((pkg, test), []))
        status = {"pass": "passed", "fail": "failed", "skip": "skipped"}[action]
        file, line = _go_location(root, module, pkg, test, text)
        message = ""
        if status == "failed":
            failed_pkgs.add(pkg)
            m = _GO_LOC.search(text)
            message = text[m.start() :].strip().splitlines()[0].strip() if m else "FAIL"
        res.count(TestCase(f"{pkg}::{test}", test, file, line, status, message, _clip(text)))
    for pkg, action in pkg_final.items():
        if action == "fail" and pkg not in failed_pkgs:
            text = "\n".join(x for x in stray if _for_pkg(x, pkg, stray)) + "".join(
                outputs.get((pkg, ""), [])
            )
            file, line = _go_build_error(root, text)
            first = next((x for x in text.splitlines() if x.strip()), "FAIL")
            res.count(TestCase(pkg, pkg, file, line, "error", first.strip(), _clip(text)))
    res.duration_s = round(elapsed, 6)
    return res


def _for_pkg(line: str, pkg: str, stray: list[str]) -> bool:
    """Whether a plain-text line of go's output belongs to ``pkg``'s build failure: the
    lines from its "# <pkg>" header to the next header."""
    current = None
    for x in stray:
        if x.startswith("# "):
            current = x[2:].split(" ")[0]
        if x is line:
            return current is None or current == pkg
    return False


def _pkg_dir(root: Path, module: str | None, pkg: str) -> Path:
    if module and (pkg == module or pkg.startswith(module + "/")):
        return root / pkg[len(module) :].lstrip("/")
    return root


def _go_location(
    root: Path, module: str | None, pkg: str, test: str, text: str
) -> tuple[str | None, int | None]:
    d = _pkg_dir(root, module, pkg)
    top = test.split("/")[0]
    decl = None
    for f in sorted(d.glob("*_test.go")):
        try:
            src = f.read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        m = re.search(rf"^func {re.escape(top)}\(", src, re.M)
        if m:
            decl = (f, src.count("\n", 0, m.start()) + 1)
            break
    if decl is None:
        return None, None
    rel = str(decl[0].relative_to(root))
    hits = [int(n) for name, n in _GO_LOC.findall(text) if name == decl[0].name]
    return rel, (hits[-1] if hits else decl[1])


def _go_build_error(root: Path, text: str) -> tuple[str | None, int | None]:
    m = re.search(r"^(?:#.*\n)?([\w./-]+\.go):(\d+)(?::\d+)?:", text, re.M)
    if not m:
        return None, None
    path = m.group(1)
    rel = path[2:] if path.startswith("./") else path
    return rel, int(m.group(2))


def go_module(root: Path) -> str | None:
    try:
        text = (root / "go.mod").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    m = re.search(r"^module\s+(\S+)", text, re.M)
    return m.group(1).strip('"') if m else None


# -- nearest test at a line --------------------------------------------------------------------
def nearest_python(source: str, line: int) -> list[str] | None:
    """The pytest node path (``[Class, test]``, ``[test]``, ``[Class]``) enclosing ``line``
    (1-based), by Python's own parser; None when the line is in no test."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None

    def inside(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> bool:
        start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
        return start <= line <= (node.end_lineno or node.lineno)

    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and inside(node):
            return [node.name] if node.name.startswith("test") else None
        if isinstance(node, ast.ClassDef) and inside(node):
            if not node.name.startswith("Test"):
                return None
            for sub in node.body:
                if (
                    isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef)
                    and inside(sub)
                    and sub.name.startswith("test")
                ):
                    return [node.name, sub.name]
            return [node.name]
    return None


def nearest_unittest(source: str, line: int) -> list[str] | None:
    """``[Class, test_method]`` or ``[Class]`` of the unittest test enclosing ``line``."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return None
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            start = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if not start <= line <= (node.end_lineno or node.lineno):
                continue
            for sub in node.body:
                if (
                    isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef)
                    and sub.name.startswith("test")
                    and sub.lineno <= line <= (sub.end_lineno or sub.lineno)
                ):
                    return [node.name, sub.name]
            return [node.name]
    return None


def nearest_jest(source: str, line: int) -> str | None:
    """The title of the last ``test(``/``it(``/``describe(`` call at or above ``line`` whose
    title is a plain string literal; jest's ``-t`` matches it inside the full name."""
    best = None
    for m in re.finditer(r"^\s*(?:test|it|describe)(?:\.\w+)?\(\s*(['\"`])(.*?)\1", source, re.M):
        if source.count("\n", 0, m.start()) + 1 <= line:
            best = m.group(2)
    return best


def go_tests_in(source: str) -> list[tuple[str, int]]:
    """(name, line) of each ``func TestX(t *testing.T)`` in a Go file."""
    return [
        (m.group(1), source.count("\n", 0, m.start()) + 1)
        for m in re.finditer(r"^func (Test\w*)\(\s*\w+\s+\*testing\.T\s*\)", source, re.M)
    ]


def nearest_go(source: str, line: int) -> str | None:
    """The Go test whose declaration is the last one at or above ``line``."""
    above = [name for name, at in go_tests_in(source) if at <= line]
    return above[-1] if above else None
