"""The persistent compilation cache directory is private (whoever can write it can run code in the worker)."""

import os
import stat

from worker.jaxsetup import private_dir


def test_cache_dir_created_private(tmp_path):
    old = os.umask(0o000)  # even with a permissive umask
    try:
        path = private_dir(str(tmp_path / "a" / "b"))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_readable_directory_is_tightened(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o755)
    assert stat.S_IMODE(private_dir(str(loose)).stat().st_mode) == 0o700


def test_world_writable_directory_is_refused(tmp_path, caplog):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    assert private_dir(str(shared)) is None
    assert stat.S_IMODE(shared.stat().st_mode) == 0o777  # left alone, not silently "fixed"
    assert "refusing" in caplog.text


def test_a_file_is_refused(tmp_path):
    f = tmp_path / "file"
    f.write_text("x")
    assert private_dir(str(f)) is None
