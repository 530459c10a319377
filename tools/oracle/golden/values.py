"""Conversion of autoarray / JAX / NumPy values into the plain floats and lists written to the golden JSON."""

from __future__ import annotations

from typing import Any

import numpy as np


def f64(x: Any) -> np.ndarray:
    """Raw float64 ndarray from an autoarray structure, a jax array or a numpy array."""
    if hasattr(x, "array") and not isinstance(x, np.ndarray):
        x = x.array
    return np.asarray(x, dtype=np.float64)


def flist(x: Any) -> list:
    """Nested list of Python floats from any array-like; refuses NaN and infinities (JSON has neither)."""
    a = f64(x)
    if not np.all(np.isfinite(a)):
        raise FloatingPointError("non-finite value in a golden array")
    return a.tolist()


def fscalar(x: Any) -> float:
    """Python float from a scalar (0-d array, jax scalar, float); refuses NaN and infinities."""
    v = float(np.asarray(x, dtype=np.float64))
    if not np.isfinite(v):
        raise FloatingPointError("non-finite golden scalar")
    return v
