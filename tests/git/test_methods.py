"""git.* methods through api.dispatch on a real Core, against real git repositories made in
temp dirs: status, diffs with hunks, staging by file and by hunk (byte-exact), commit,
branches, worktrees, log, and the faults (not a repo, detached HEAD, binary, CRLF, no
newline at EOF, rename, deletion, mode change, a hunk that no longer applies)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import orchflow_core.git.methods  # noqa: F401 - registers git.*
from orchflow_core.api import dispatch
from orchflow_core.core import Core


def git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    return subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, input=input
    ).stdout


def merge(repo: Path, branch: str) -> int:
    """``git merge`` that may stop on a conflict (its exit code)."""
    return subprocess.run(
        ["git", "-C", str(repo), "merge", "-q", branch], capture_output=True
    ).returncode


def make_repo(path: Path) -> Path:
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "main")
    git(path, "config", "user.name", "Test User")
    git(path, "config", "user.email", "test@example.com")
    git(path, "config", "core.autocrlf", "false")
    return path


def commit_all(repo: Path, message: str = "init") -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


def index_bytes(repo: Path, path: str) -> bytes:
    return git(repo, "show", f":{path}")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return make_repo(tmp_path / "repo")


@pytest.fixture
def core(isolated: Path, repo: Path) -> Iterator[Core]:
    c = Core()
    c.project_root = repo
    yield c


async def call(core: Core, method: str, **params: Any) -> Any:
    ok, result = await dispatch(core, method, params)
    assert ok, result
    return result


async def fail(core: Core, method: str, **params: Any) -> dict[str, Any]:
    ok, result = await dispatch(core, method, params)
    assert not ok, result
    assert "Traceback" not in result["message"]
    return dict(result)


LINES = [f"line {i}\n".encode() for i in range(1, 31)]


async def test_status_groups_staged_unstaged_untracked(core: Core, repo: Path) -> None:
    (repo / "a.txt").write_bytes(b"".join(LINES))
    (repo / "gone.txt").write_text("bye\n")
    commit_all(repo)
    (repo / "a.txt").write_bytes(b"changed\n")
    (repo / "new.txt").write_text("new\n")
    git(repo, "rm", "-q", "gone.txt")
    st = await call(core, "git.status")
    assert st["branch"] == "main" and st["detached"] is False and len(st["head"]) == 40
    assert st["staged"] == [{"path": "gone.txt", "status": "deleted"}]
    assert st["unstaged"] == [{"path": "a.txt", "status": "modified"}]
    assert st["untracked"] == [{"path": "new.txt", "status": "untracked"}]
    assert st["root"] == str(repo)
    # from a subdirectory (cwd) it is the same repository, paths from the root
    (repo / "sub").mkdir()
    st2 = await call(core, "git.status", cwd=str(repo / "sub"))
    assert st2["unstaged"] == st["unstaged"] and st2["root"] == str(repo)


async def test_not_a_repository_is_a_clear_error(core: Core, tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    err = await fail(core, "git.status", cwd=str(plain))
    assert err["code"] == -32003
    assert f"{plain} is not in a git repository" in err["message"]
    err = await fail(core, "git.status", cwd=str(tmp_path / "nope"))
    assert err["code"] == -32602 and "is not a directory" in err["message"]


async def test_detached_head_is_reported(core: Core, repo: Path) -> None:
    (repo / "a.txt").write_text("1\n")
    commit_all(repo)
    (repo / "a.txt").write_text("2\n")
    commit_all(repo, "second")
    first = git(repo, "rev-parse", "HEAD~1").decode().strip()
    git(repo, "checkout", "-q", "--detach", first)
    st = await call(core, "git.status")
    assert st["detached"] is True and st["branch"] is None and st["head"] == first
    assert [b["name"] for b in await call(core, "git.branches") if b["current"]] == []


async def test_stage_one_hunk_lands_byte_exact_and_unstage_takes_it_back(
    core: Core, repo: Path
) -> None:
    (repo / "a.txt").write_bytes(b"".join(LINES))
    commit_all(repo)
    edited = list(LINES)
    edited[1] = b"line 2 changed\n"
    edited[24] = b"line 25 changed\n"
    edited.insert(26, b"inserted\n")
    (repo / "a.txt").write_bytes(b"".join(edited))
    d = await call(core, "git.diff", path="a.txt")
    [f] = d["files"]
    assert f["path"] == "a.txt" and f["status"] == "modified" and len(f["hunks"]) == 2
    first, second = f["hunks"]
    assert first["header"].startswith("@@ -1,5 +1,5 @@") and "+line 2 changed" in first["text"]
    # stage only the second hunk: the index gets exactly that change
    await call(core, "git.stage", hunks=[second["id"]])
    expected = list(LINES)
    expected[24] = b"line 25 changed\n"
    expected.insert(26, b"inserted\n")
    assert index_bytes(repo, "a.txt") == b"".join(expected)
    assert (repo / "a.txt").read_bytes() == b"".join(edited)  # the worktree is untouched
    # the staged diff shows it; unstaging that hunk restores the index to HEAD
    staged = (await call(core, "git.diff", staged=True))["files"][0]["hunks"]
    assert len(staged) == 1 and "+inserted" in staged[0]["text"]
    await call(core, "git.unstage", hunks=[staged[0]["id"]])
    assert index_bytes(repo, "a.txt") == b"".join(LINES)
    # the first hunk alone, after the second was staged and unstaged
    hunks = (await call(core, "git.diff"))["files"][0]["hunks"]
    await call(core, "git.stage", hunks=[hunks[0]["id"]])
    expected = list(LINES)
    expected[1] = b"line 2 changed\n"
    assert index_bytes(repo, "a.txt") == b"".join(expected)


async def test_a_hunk_that_no_longer_applies_is_refused_and_nothing_changes(
    core: Core, repo: Path
) -> None:
    (repo / "a.txt").write_bytes(b"".join(LINES))
    commit_all(repo)
    edited = list(LINES)
    edited[1] = b"line 2 changed\n"
    edited[20] = b"line 21 changed\n"
    (repo / "a.txt").write_bytes(b"".join(edited))
    hunks = (await call(core, "git.diff"))["files"][0]["hunks"]
    # the user edits the same lines again after the diff was shown
    edited[1] = b"line 2 changed twice\n"
    (repo / "a.txt").write_bytes(b"".join(edited))
    before = index_bytes(repo, "a.txt")
    err = await fail(core, "git.stage", hunks=[hunks[1]["id"], hunks[0]["id"]])
    assert err["code"] == -32006
    assert hunks[0]["id"] in err["message"] and "nothing was applied" in err["message"]
    assert index_bytes(repo, "a.txt") == before  # not even the hunk that still applies
    err = await fail(core, "git.stage", hunks=["deadbeef0000"])
    assert "deadbeef0000" in err["message"]


async def test_crlf_and_no_newline_at_eof_survive_hunk_staging(core: Core, repo: Path) -> None:
    crlf = [f"row {i}\r\n".encode() for i in range(1, 21)]
    (repo / "win.txt").write_bytes(b"".join(crlf))
    (repo / "tail.txt").write_bytes(b"a\nb\nc")  # no newline at end of file
    commit_all(repo)
    edited = list(crlf)
    edited[0] = b"ROW 1\r\n"
    edited[18] = b"ROW 19\r\n"
    (repo / "win.txt").write_bytes(b"".join(edited))
    (repo / "tail.txt").write_bytes(b"a\nb\nC")
    files = {f["path"]: f for f in (await call(core, "git.diff"))["files"]}
    win = files["win.txt"]["hunks"]
    assert len(win) == 2 and "\r" in win[0]["text"]
    assert "\\ No newline at end of file" in files["tail.txt"]["hunks"][0]["text"]
    await call(core, "git.stage", hunks=[win[1]["id"], files["tail.txt"]["hunks"][0]["id"]])
    expected = list(crlf)
    expected[18] = b"ROW 19\r\n"
    assert index_bytes(repo, "win.txt") == b"".join(expected)
    assert index_bytes(repo, "tail.txt") == b"a\nb\nC"


async def test_binary_files_are_staged_whole_and_their_hunks_refused(
    core: Core, repo: Path
) -> None:
    blob = bytes(range(256)) * 4
    (repo / "img.bin").write_bytes(blob)
    commit_all(repo)
    (repo / "img.bin").write_bytes(blob[::-1])
    [f] = (await call(core, "git.diff"))["files"]
    assert f["binary"] is True and f["hunks"] == [] and "binary" in f["hunks_refused"]
    await call(core, "git.stage", paths=["img.bin"])
    assert index_bytes(repo, "img.bin") == blob[::-1]
    await call(core, "git.unstage", paths=["img.bin"])
    assert index_bytes(repo, "img.bin") == blob


async def test_rename_deletion_and_mode_change(core: Core, repo: Path) -> None:
    (repo / "old.txt").write_bytes(b"".join(LINES))
    (repo / "del.txt").write_text("one\ntwo\n")
    (repo / "run.sh").write_bytes(b"".join(LINES))
    commit_all(repo)
    git(repo, "mv", "old.txt", "new.txt")
    (repo / "del.txt").unlink()
    os.chmod(repo / "run.sh", 0o755)
    script = list(LINES)
    script[0] = b"#!/bin/sh\n"
    (repo / "run.sh").write_bytes(b"".join(script))
    # a rename is staged: shown as one, its hunks refused, unstaged as a whole (both paths)
    staged = (await call(core, "git.diff", staged=True))["files"]
    assert staged[0]["status"] == "renamed" and staged[0]["old_path"] == "old.txt"
    st = await call(core, "git.status")
    assert {"path": "new.txt", "status": "renamed", "orig_path": "old.txt"} in st["staged"]
    await call(core, "git.unstage", paths=["new.txt"])
    st = await call(core, "git.status")
    assert st["staged"] == [] and {"path": "old.txt", "status": "deleted"} in st["unstaged"]
    # a deletion: its one hunk stages the deletion
    files = {f["path"]: f for f in (await call(core, "git.diff"))["files"]}
    assert files["del.txt"]["status"] == "deleted"
    await call(core, "git.stage", hunks=[files["del.txt"]["hunks"][0]["id"]])
    assert "del.txt" not in git(repo, "ls-files").decode().split()
    # a mode change with a content hunk: the hunk stages the content only, the mode stays
    assert files["run.sh"]["mode"] == {"old": "100644", "new": "100755"}
    await call(core, "git.stage", hunks=[files["run.sh"]["hunks"][0]["id"]])
    assert index_bytes(repo, "run.sh") == b"".join(script)
    assert git(repo, "ls-files", "-s", "run.sh").startswith(b"100644")
    # the mode goes with the whole file
    await call(core, "git.stage", paths=["run.sh"])
    assert git(repo, "ls-files", "-s", "run.sh").startswith(b"100755")


async def test_commit_branches_worktrees_log(core: Core, repo: Path, tmp_path: Path) -> None:
    err = await fail(core, "git.commit", message="nothing yet")
    assert err["code"] == -32006 and "nothing is staged" in err["message"]
    assert await call(core, "git.log", n=5) == []  # no commit yet
    (repo / "a.txt").write_text("hello\n")
    await call(core, "git.stage", paths=["a.txt"])
    err = await fail(core, "git.commit", message="   ")
    assert err["code"] == -32602 and err["data"]["param"] == "message"
    done = await call(core, "git.commit", message="Add a.txt\n\nWith a body.")
    assert done["subject"] == "Add a.txt" and done["branch"] == "main"
    [entry] = await call(core, "git.log", n=5)
    assert entry["commit"] == done["commit"] and entry["author"] == "Test User"
    assert git(repo, "log", "-1", "--format=%B").decode().strip() == "Add a.txt\n\nWith a body."
    git(repo, "branch", "feature")
    names = [(b["name"], b["current"]) for b in await call(core, "git.branches")]
    assert names == [("feature", False), ("main", True)]
    git(repo, "worktree", "add", "-q", str(tmp_path / "wt"), "feature")
    wts = await call(core, "git.worktrees")
    assert [(w["path"], w["branch"]) for w in wts] == [
        (str(repo), "main"),
        (str(tmp_path / "wt"), "feature"),
    ]
    err = await fail(core, "git.log", n=0)
    assert err["code"] == -32602 and "n must be from 1" in err["message"]


async def test_bad_parameters_name_what_is_wrong(core: Core, repo: Path) -> None:
    (repo / "a.txt").write_text("x\n")
    err = await fail(core, "git.stage")
    assert "either paths" in err["message"]
    err = await fail(core, "git.stage", paths=["a.txt"], hunks=["x"])
    assert "not both" in err["message"]
    err = await fail(core, "git.stage", paths=["../etc/passwd"])
    assert err["code"] == -32602 and "'../etc/passwd'" in err["message"]
    err = await fail(core, "git.stage", paths=["missing.txt"])
    assert "'missing.txt'" in err["message"] and "a.txt" in err["message"]
    err = await fail(core, "git.unstage", paths=["a.txt"])
    assert "no staged change" in err["message"]


async def test_programs_named_by_the_repository_never_run(
    core: Core, repo: Path, tmp_path: Path
) -> None:
    """A downloaded repository's .git/config and hooks: fsmonitor, a clean filter, an
    external diff, textconv, a pager and index hooks would all run programs."""
    marker = tmp_path / "ran"
    evil = tmp_path / "evil.sh"
    evil.write_text(f'#!/bin/sh\necho "$0 $*" >> {marker}\ncat\n')
    evil.chmod(0o755)
    (repo / "a.txt").write_bytes(b"".join(LINES))
    (repo / ".gitattributes").write_text("*.txt diff=evil\n*.dat filter=evil\n")
    commit_all(repo)
    for key, value in (
        ("core.fsmonitor", str(evil)),
        ("diff.external", str(evil)),
        ("diff.evil.textconv", str(evil)),
        ("diff.evil.command", str(evil)),
        ("filter.evil.clean", str(evil)),
        ("filter.evil.smudge", str(evil)),
        ("core.pager", str(evil)),
    ):
        git(repo, "config", key, value)
    hooks = repo / ".git" / "hooks"
    for hook in ("post-index-change", "pre-commit", "post-commit"):
        (hooks / hook).write_text(f"#!/bin/sh\necho {hook} >> {marker}\n")
        (hooks / hook).chmod(0o755)
    (repo / "a.txt").write_bytes(b"changed\n" + b"".join(LINES[1:]))
    (repo / "b.dat").write_text("data\n")
    await call(core, "git.status")
    hunks = (await call(core, "git.diff"))["files"][0]["hunks"]
    await call(core, "git.stage", hunks=[hunks[0]["id"]])
    await call(core, "git.log", n=3)
    assert not marker.exists(), marker.read_text()
    # a file that uses the repository's own filter is refused, not staged unfiltered
    err = await fail(core, "git.stage", paths=["b.dat"])
    assert err["code"] == -32003 and "filter 'evil'" in err["message"]
    assert "global git config" in err["message"]
    assert not marker.exists()
    # committing runs the repository's hooks, as git commit does, unless hooks=false
    await call(core, "git.commit", message="no hooks", hooks=False)
    assert not marker.exists()
    (repo / "a.txt").write_text("again\n")
    await call(core, "git.stage", paths=["a.txt"])
    await call(core, "git.commit", message="with hooks")
    ran = marker.read_text().split()
    assert "pre-commit" in ran and "post-commit" in ran, ran


async def test_odd_file_names_keep_their_hunks(core: Core, repo: Path) -> None:
    names = ["with space.txt", "tab\there.txt", "ünïcode.txt", 'quo"te.txt', "sub dir/x y.txt"]
    (repo / "sub dir").mkdir()
    for name in names:
        (repo / name).write_bytes(b"".join(LINES))
    commit_all(repo)
    for name in names:
        (repo / name).write_bytes(b"top\n" + b"".join(LINES[1:]))
    files = (await call(core, "git.diff"))["files"]
    assert sorted(f["path"] for f in files) == sorted(names)
    await call(core, "git.stage", hunks=[f["hunks"][0]["id"] for f in files])
    for name in names:
        assert index_bytes(repo, name) == b"top\n" + b"".join(LINES[1:]), name
    st = await call(core, "git.status")
    assert sorted(e["path"] for e in st["staged"]) == sorted(names)
    await call(core, "git.unstage", paths=["tab\there.txt"])
    assert index_bytes(repo, "tab\there.txt") == b"".join(LINES)
    # an untracked directory is staged by its name
    (repo / "newdir").mkdir()
    (repo / "newdir" / "f.txt").write_text("f\n")
    st = await call(core, "git.status")
    assert {"path": "newdir/", "status": "untracked"} in st["untracked"]
    await call(core, "git.stage", paths=["newdir/"])
    assert index_bytes(repo, "newdir/f.txt") == b"f\n"


async def test_a_merge_conflict_and_a_submodule(core: Core, repo: Path, tmp_path: Path) -> None:
    (repo / "a.txt").write_bytes(b"".join(LINES))
    (repo / "b.txt").write_bytes(b"".join(LINES))
    commit_all(repo)
    git(repo, "checkout", "-q", "-b", "other")
    (repo / "a.txt").write_bytes(b"theirs\n" + b"".join(LINES[1:]))
    commit_all(repo, "theirs")
    git(repo, "checkout", "-q", "main")
    (repo / "a.txt").write_bytes(b"ours\n" + b"".join(LINES[1:]))
    commit_all(repo, "ours")
    merge(repo, "other")
    (repo / "b.txt").write_bytes(b"".join(LINES[:-1]) + b"edited\n")
    st = await call(core, "git.status")
    assert st["conflicted"] == [{"path": "a.txt", "status": "unmerged", "xy": "UU"}]
    files = {f["path"]: f for f in (await call(core, "git.diff"))["files"]}
    assert files["a.txt"]["status"] == "unmerged" and "conflicts" in files["a.txt"]["hunks_refused"]
    # the other file's hunk is whole and stages (the combined diff did not leak into it)
    await call(core, "git.stage", hunks=[files["b.txt"]["hunks"][0]["id"]])
    assert index_bytes(repo, "b.txt") == b"".join(LINES[:-1]) + b"edited\n"
    err = await fail(core, "git.commit", message="merge")
    assert "resolve the conflicts first: a.txt" in err["message"]
    # staging the resolved file marks it resolved
    (repo / "a.txt").write_bytes(b"both\n" + b"".join(LINES[1:]))
    await call(core, "git.stage", paths=["a.txt"])
    assert (await call(core, "git.status"))["conflicted"] == []
    await call(core, "git.commit", message="merge other")

    # a submodule whose commit moved: shown, its hunks refused, staged as a whole
    sub = make_repo(tmp_path / "sub")
    (sub / "s.txt").write_text("1\n")
    commit_all(sub)
    git(repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "vendor")
    commit_all(repo, "add submodule")
    (repo / "vendor" / "s.txt").write_text("2\n")
    git(repo / "vendor", "config", "user.name", "Test User")
    git(repo / "vendor", "config", "user.email", "test@example.com")
    git(repo / "vendor", "commit", "-qam", "two")
    [f] = (await call(core, "git.diff"))["files"]
    assert f["path"] == "vendor" and f["submodule"] is True and "submodule" in f["hunks_refused"]
    err = await fail(core, "git.stage", hunks=[f["hunks"][0]["id"]])
    assert "submodule" in err["message"] and "whole file" in err["message"]
    await call(core, "git.stage", paths=["vendor"])
    staged = (await call(core, "git.status"))["staged"]
    assert staged == [{"path": "vendor", "status": "modified"}]
