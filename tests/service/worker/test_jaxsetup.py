"""The persistent compilation cache directory is private (whoever can write it can run code in the worker)."""

import os
import stat

from worker.jaxsetup import private_dir


def test_cache_dir_created_private(tmp_path):
    path = private_dir(str(tmp_path / "a" / "b"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o700


def test_loose_permissions_are_tightened(tmp_path):
    loose = tmp_path / "loose"
    loose.mkdir()
    os.chmod(loose, 0o777)
    assert stat.S_IMODE(private_dir(str(loose)).stat().st_mode) == 0o700
