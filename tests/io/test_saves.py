"""Saves are atomic, leave nothing behind when they fail, get the file mode a plain write gives, and name
the target they failed to write."""

import os
import stat

import pytest

from clearconv.io import native

pytestmark = pytest.mark.skipif(os.name != "posix", reason="file modes and umask are POSIX")


@pytest.fixture
def umask():
    """Set the process umask for one test (restored afterwards)."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.mark.parametrize("mask", [0o022, 0o077, 0o002])
@pytest.mark.parametrize("method", ["save", "save_weights"])
def test_a_new_file_gets_the_mode_of_a_plain_write(build, tmp_path, umask, mask, method):
    umask(mask)
    plain = tmp_path / "plain"
    plain.write_bytes(b"")                              # what open(path, "wb") gives under this umask
    path = tmp_path / "model.clearconv"
    getattr(build.sequential_cnn(), method)(path)
    assert _mode(path) == _mode(plain) == 0o666 & ~mask


def test_overwriting_keeps_the_mode_of_the_file_replaced(build, tmp_path, umask):
    umask(0o022)
    path = tmp_path / "model.clearconv"
    path.write_bytes(b"old")
    path.chmod(0o640)
    build.sequential_cnn().save(path)
    assert _mode(path) == 0o640


def _interrupt(*args, **kwargs):
    raise KeyboardInterrupt


@pytest.mark.parametrize("where", ["_arrays_bytes", "fsync", "replace", "chmod"])
@pytest.mark.parametrize("method", ["save", "save_weights"])
def test_an_interrupted_save_keeps_the_old_file_and_leaves_no_temporary_file(build, tmp_path, monkeypatch,
                                                                             where, method):
    model = build.sequential_cnn()
    path = tmp_path / "model.clearconv"
    getattr(model, method)(path)
    good = path.read_bytes()
    if where == "_arrays_bytes":
        monkeypatch.setattr(native, where, _interrupt)   # in the middle of writing the archive
    else:
        monkeypatch.setattr(native.os, where, _interrupt)
    with pytest.raises(KeyboardInterrupt):
        getattr(model, method)(path)
    monkeypatch.undo()
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model.clearconv"]


def test_a_failed_write_names_its_target_and_keeps_the_error_type(build, tmp_path, monkeypatch):
    model = build.sequential_cnn()
    path = tmp_path / "model.clearconv"

    def full(arrays):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(native, "_arrays_bytes", full)
    with pytest.raises(OSError, match="model.clearconv.*No space left on device") as caught:
        model.save(path)
    assert caught.value.errno == 28
    assert list(tmp_path.iterdir()) == []


def test_saving_into_a_missing_folder_names_the_target(build, tmp_path):
    target = tmp_path / "missing" / "model.clearconv"
    with pytest.raises(FileNotFoundError) as caught:
        build.sequential_cnn().save(target)
    assert str(target) in str(caught.value)
    assert ".tmp-" not in str(caught.value)


def test_saving_into_a_read_only_folder_names_the_target(build, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(PermissionError, match="locked/model.clearconv"):
            build.sequential_cnn().save(folder / "model.clearconv")
    finally:
        folder.chmod(0o700)
