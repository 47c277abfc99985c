"""File operations on real files: each op, path safety, conflicts, trash round trip."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from orchflow_core.errors import (
    ConflictError,
    InvalidArgumentError,
    NotFoundError,
    PermissionDeniedError,
)
from orchflow_core.files import ops
from orchflow_core.files.trash import Trash


@pytest.fixture
def root(tmp_path: Path) -> Path:
    r = tmp_path / "proj"
    (r / "src").mkdir(parents=True)
    (r / "src" / "a.txt").write_text("alpha")
    return r


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    o = tmp_path / "outside"
    o.mkdir()
    (o / "secret.txt").write_text("secret")
    return o


@pytest.fixture
def trash(tmp_path: Path) -> Trash:
    return Trash(tmp_path / "state" / "trash")


def test_create_file_and_dir(root: Path) -> None:
    t = ops.create(root, "new/deep/f.py", content=b"print(1)\n")
    assert t.rel == "new/deep/f.py" and (root / "new/deep/f.py").read_bytes() == b"print(1)\n"
    ops.create(root, "pkg", kind="dir")
    assert (root / "pkg").is_dir()
    assert sorted(p.name for p in (root / "new/deep").iterdir()) == ["f.py"]  # no temp left


def test_create_never_overwrites(root: Path) -> None:
    with pytest.raises(
        ConflictError, match=re.escape("src/a.txt already exists; nothing was overwritten")
    ):
        ops.create(root, "src/a.txt", content=b"x")
    with pytest.raises(ConflictError):
        ops.create(root, "src", kind="dir")
    assert (root / "src" / "a.txt").read_text() == "alpha"


def test_rename_move_copy(root: Path) -> None:
    assert ops.rename(root, "src/a.txt", "b.txt").rel == "src/b.txt"
    assert ops.move(root, "src/b.txt", "lib/c.txt").rel == "lib/c.txt"
    assert (root / "lib" / "c.txt").read_text() == "alpha" and not (root / "src/b.txt").exists()
    ops.copy(root, "lib/c.txt", "lib/d.txt")
    assert (root / "lib" / "d.txt").read_text() == "alpha" and (root / "lib/c.txt").exists()
    (root / "lib" / "link").symlink_to("c.txt")
    ops.copy(root, "lib", "lib2")
    assert (root / "lib2" / "link").is_symlink() and os.readlink(root / "lib2" / "link") == "c.txt"
    assert sorted(p.name for p in root.iterdir()) == ["lib", "lib2", "src"]  # no temp left


def test_existing_targets_are_conflicts(root: Path) -> None:
    (root / "src" / "b.txt").write_text("beta")
    for op in (ops.move, ops.copy):
        with pytest.raises(ConflictError, match=re.escape("src/b.txt already exists")):
            op(root, "src/a.txt", "src/b.txt")
    with pytest.raises(ConflictError):
        ops.rename(root, "src/a.txt", "b.txt")
    assert (root / "src/a.txt").read_text() == "alpha" and (
        root / "src/b.txt"
    ).read_text() == "beta"


def test_bad_requests(root: Path) -> None:
    with pytest.raises(NotFoundError, match="src/none does not exist"):
        ops.move(root, "src/none", "x")
    with pytest.raises(InvalidArgumentError, match="plain file name"):
        ops.rename(root, "src/a.txt", "../b.txt")
    with pytest.raises(InvalidArgumentError, match="inside itself"):
        ops.move(root, "src", "src/inner")
    with pytest.raises(PermissionDeniedError, match="project root"):
        ops.move(root, ".", "elsewhere")


@pytest.mark.parametrize("bad", ["../outside/secret.txt", "src/../../outside/x", "../x"])
def test_traversal_is_refused(root: Path, outside: Path, bad: str) -> None:
    with pytest.raises(PermissionDeniedError) as err:
        ops.create(root, bad)
    assert bad in err.value.message and "outside the project root" in err.value.message


def test_absolute_paths(root: Path, outside: Path) -> None:
    with pytest.raises(
        PermissionDeniedError, match=re.escape("secret.txt is outside the project root")
    ):
        ops.copy(root, outside / "secret.txt", "stolen.txt")
    assert ops.create(root, root / "inside.txt").rel == "inside.txt"


def test_symlink_escapes_are_refused(root: Path, outside: Path, trash: Trash) -> None:
    (root / "out").symlink_to(outside)
    (root / "secret-link").symlink_to(outside / "secret.txt")
    with pytest.raises(PermissionDeniedError, match=re.escape("out/secret.txt is outside")):
        ops.delete(root, "out/secret.txt", trash)
    with pytest.raises(PermissionDeniedError, match=re.escape("out/new.txt is outside")):
        ops.create(root, "out/new.txt")
    with pytest.raises(PermissionDeniedError, match="secret-link is a symbolic link to"):
        ops.copy(root, "secret-link", "copied.txt")
    with pytest.raises(PermissionDeniedError):
        ops.move(root, "src/a.txt", "out/a.txt")
    assert sorted(p.name for p in outside.iterdir()) == ["secret.txt"]
    assert (outside / "secret.txt").read_text() == "secret"


def test_link_inside_is_moved_not_its_target(root: Path, trash: Trash) -> None:
    (root / "link").symlink_to("src/a.txt")
    ops.delete(root, "link", trash)
    assert not os.path.lexists(root / "link") and (root / "src/a.txt").read_text() == "alpha"


def test_trash_and_restore_round_trip(root: Path, trash: Trash) -> None:
    entry = ops.delete(root, "src", trash)
    assert not (root / "src").exists()
    assert [e.id for e in trash.list()] == [entry.id]
    assert entry.kind == "dir" and entry.original == root.resolve() / "src"
    assert entry.to_dict(root.resolve())["path"] == "src"
    assert ops.restore(root, entry.id, trash).rel == "src"
    assert (root / "src" / "a.txt").read_text() == "alpha"
    assert trash.list() == []


def test_restore_conflict_overwrites_nothing(root: Path, trash: Trash) -> None:
    entry = ops.delete(root, "src/a.txt", trash)
    (root / "src" / "a.txt").write_text("newer")
    with pytest.raises(ConflictError, match=re.escape("cannot restore src/a.txt: it exists now")):
        ops.restore(root, entry.id, trash)
    assert (root / "src" / "a.txt").read_text() == "newer"
    assert [e.id for e in trash.list()] == [entry.id]  # still restorable later


def test_restore_outside_root_and_bad_ids(root: Path, tmp_path: Path, trash: Trash) -> None:
    other = tmp_path / "other"
    other.mkdir()
    (other / "o.txt").write_text("o")
    entry = ops.delete(other, "o.txt", trash)
    with pytest.raises(PermissionDeniedError):
        ops.restore(root, entry.id, trash)
    with pytest.raises(InvalidArgumentError, match="not a trash id"):
        ops.restore(root, "../../etc", trash)
    with pytest.raises(NotFoundError, match="no trash entry"):
        ops.restore(root, "20000101T000000-00000000", trash)


def test_the_trash_dir_and_its_missing_parents_are_private(root: Path, tmp_path: Path) -> None:
    state = tmp_path / "fresh-state"
    (root / "gone.txt").write_text("x")
    Trash(state / "trash").put(root / "gone.txt")
    for d in (state, state / "trash"):
        assert d.stat().st_mode & 0o777 == 0o700, d
