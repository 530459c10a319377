"""Configure JAX for a long-lived worker. Call :func:`configure_environment` before JAX is imported.

* x64 on (autoarray's numbers are float64; fp32 appears only where mixed precision asks for it);
* GPU memory: ``XLA_PYTHON_CLIENT_MEM_FRACTION`` (and its new name ``XLA_CLIENT_MEM_FRACTION``) and
  ``XLA_PYTHON_CLIENT_PREALLOCATE`` from the config, so several workers can share a GPU;
* the persistent compilation cache in a private directory (mode 0700: whoever can write to it can run code in
  the worker), so a restarted worker is warm in seconds.
"""

from __future__ import annotations

import logging
import os
import stat
import sys
from pathlib import Path
from typing import Any

from service.config import WorkerConfig

log = logging.getLogger(__name__)


def configure_environment(cfg: WorkerConfig) -> None:
    """Set the XLA environment variables; must run before ``import jax``."""
    if "jax" in sys.modules:
        log.warning("JAX was imported before the worker configured it; memory settings may not apply")
    if cfg.mem_fraction is not None:
        os.environ["XLA_PYTHON_CLIENT_MEM_FRACTION"] = f"{cfg.mem_fraction:.3f}"
        os.environ["XLA_CLIENT_MEM_FRACTION"] = f"{cfg.mem_fraction:.3f}"
    if cfg.preallocate is not None:
        os.environ["XLA_PYTHON_CLIENT_PREALLOCATE"] = "true" if cfg.preallocate else "false"


def private_dir(path: str) -> Path | None:
    """Create ``path`` with mode 0700; None (refused) if it exists writable by others.

    Whoever can write to the compilation cache can make the worker run code of theirs, so a directory that is
    world-writable, or belongs to another user and is writable by its group, is refused outright (entries may
    already have been planted; tightening it now would not remove them). A private directory of ours that is
    merely group/world-readable is tightened to 0700.
    """
    p = Path(path).expanduser()
    if not p.exists():
        p.mkdir(mode=0o700, parents=True)
        os.chmod(p, 0o700)  # mkdir's mode is filtered by the umask
    st = p.stat()
    if not stat.S_ISDIR(st.st_mode):
        log.error("compile cache %s is not a directory; not using it", p)
        return None
    if st.st_mode & stat.S_IWOTH or (st.st_uid != os.getuid() and st.st_mode & stat.S_IWGRP):
        log.error("compile cache %s is writable by other users (mode %o); refusing to use it: remove it or create "
                  "it with mode 0700", p, stat.S_IMODE(st.st_mode))
        return None
    if st.st_uid == os.getuid() and stat.S_IMODE(st.st_mode) != 0o700:
        os.chmod(p, 0o700)
    return p


def configure_jax(cfg: WorkerConfig) -> dict[str, Any]:
    """Import and configure JAX; return a description of the device for logs and the heartbeat."""
    import jax

    jax.config.update("jax_enable_x64", True)
    cache = private_dir(cfg.compile_cache_dir) if cfg.compile_cache_dir else None
    if cache is not None:
        jax.config.update("jax_compilation_cache_dir", str(cache))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", float(cfg.min_compile_time_s))
    devices = jax.devices()
    return {
        "backend": jax.default_backend(),
        "device": f"{devices[0].platform}:{getattr(devices[0], 'device_kind', '?')}" if devices else "none",
        "jax_version": jax.__version__,
        "compile_cache": "on" if cache is not None else "off",
    }
