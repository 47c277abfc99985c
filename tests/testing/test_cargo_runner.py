"""test.* with cargo test: a real crate in a tmp dir, run in a real tmux pane; the counts are
checked against the sum of libtest's own "test result:" lines for the same crate."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from orchflow_core.core import Core
from orchflow_core.registry import load_methods
from orchflow_core.testing.results import cargo_summary
from tests.testing.helpers import run_to_end, write

load_methods()
CONF = str(Path(__file__).resolve().parents[1] / "tmux.conf")
pytestmark = pytest.mark.skipif(
    shutil.which("cargo") is None, reason="cargo is not installed (.ci/run: a Rust toolchain)"
)

CRATE = {
    "Cargo.toml": '[package]\nname = "calc"\nversion = "0.1.0"\nedition = "2021"\n',
    "src/lib.rs": """/// Adds.
///
/// ```
/// assert_eq!(calc::add(1, 1), 2);
/// ```
pub fn add(a: i32, b: i32) -> i32 {
    a + b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        assert_eq!(add(1, 2), 3);
    }

    #[test]
    fn fails() {
        let got = add(2, 2);
        assert_eq!(got, 5, "two and two");
    }

    #[test]
    #[ignore]
    fn later() {}

    #[test]
    fn größe() {
        assert!(true);
    }
}
""",
}


def libtest(root: Path, *args: str) -> dict[str, int]:
    proc = subprocess.run(
        ["cargo", "test", "--no-fail-fast", "--color", "never", "--", *args],
        cwd=root, capture_output=True, text=True, check=False, env=os.environ,
    )  # fmt: skip
    return cargo_summary(proc.stdout)


async def test_counts_equal_libtests_summary(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "calc", CRATE)
    res = await run_to_end(core, {"cwd": str(root)})
    want = libtest(root)
    assert (res["passed"], res["failed"], res["skipped"]) == (
        want["passed"], want["failed"], want["ignored"],
    ) == (3, 1, 1)  # fmt: skip
    assert res["state"] == "failed"
    by_id = {t["id"]: t for t in res["tests"]}
    fails = by_id["tests::fails"]
    assert (fails["file"], fails["line"]) == ("src/lib.rs", 22)
    assert by_id["tests::größe"]["status"] == "passed"
    assert by_id["tests::later"]["status"] == "skipped"
    # nearest, and only the failed ones
    res = await run_to_end(core, {"file": str(root / "src" / "lib.rs"), "line": 21})
    assert res["selection"] == "src/lib.rs::fails"
    assert (res["passed"], res["failed"]) == (0, 1)
    res = await run_to_end(core, {"cwd": str(root), "ids": ["tests::fails"]})
    assert [t["id"] for t in res["tests"]] == ["tests::fails"]


async def test_a_compile_error_is_an_error(core: Core, tmp_path: Path) -> None:
    root = write(tmp_path / "broken", {
        "Cargo.toml": CRATE["Cargo.toml"],
        "src/lib.rs": "#[test]\nfn t() {\n    undefined();\n}\n",
    })  # fmt: skip
    res = await run_to_end(core, {"cwd": str(root)})
    assert (res["state"], res["errors"], res["passed"]) == ("error", 1, 0)
    (err,) = res["tests"]
    assert (err["file"], err["line"]) == ("src/lib.rs", 3)
    assert "cannot find function" in err["message"]
