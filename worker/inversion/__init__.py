"""Pure-JAX imaging inversions that agree with autoarray 2026.10.26.1 (see docs/numerics.md).

The core works in float64: importing it switches JAX's x64 mode on (deliberately, before jaxnnls is imported,
whose tolerance is fixed from the default float type at import time). Float32 appears only where the
mixed-precision settings say so.
"""

import jax

jax.config.update("jax_enable_x64", True)

from .dataset import PreparedImaging, prepare_imaging  # noqa: E402
from .errors import InputError  # noqa: E402
from .pipeline import ARRAYS, SCALARS, Signature, SolverSettings, evaluate  # noqa: E402

__all__ = ["ARRAYS", "SCALARS", "InputError", "PreparedImaging", "Signature", "SolverSettings", "evaluate",
           "prepare_imaging"]
