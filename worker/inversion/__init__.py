"""Pure-JAX imaging inversions that agree with autoarray 2026.10.26.1 (see docs/numerics.md).

The core works in float64: importing it switches JAX's x64 mode on (deliberately, before jaxnnls is imported,
whose tolerance is fixed from the default float type at import time). Float32 appears only where the
mixed-precision settings say so. Importing it before JAX's backend starts also sets
``--xla_cpu_multi_thread_eigen=false`` (see below).
"""

import os

# XLA's multi-threaded Eigen pool on CPU can wedge on vmapped graphs with host callbacks (observed here as a hung
# batch evaluation; the same hang and this workaround are recorded in PyAutoFit#1528). Must be set before the
# backend starts; an explicit choice in XLA_FLAGS is respected.
if "xla_cpu_multi_thread_eigen" not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen=false").strip()

import jax

jax.config.update("jax_enable_x64", True)

from .dataset import PreparedImaging, prepare_imaging  # noqa: E402
from .pipeline import ARRAYS, SCALARS, Signature, SolverSettings, evaluate  # noqa: E402

__all__ = ["ARRAYS", "SCALARS", "PreparedImaging", "Signature", "SolverSettings", "evaluate",
           "prepare_imaging"]
