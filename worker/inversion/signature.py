"""The static half of an evaluation: everything that fixes array shapes or control flow.

A :class:`Signature` is hashable and is the static argument of the jitted :func:`~worker.inversion.pipeline.evaluate`
(one compile per signature and array shapes); every number is a traced argument. Its derived properties say
which parameters belong to which linear object, which of them the positive-only solve may move, and which enter
the evidence's "reduced" terms (docs/maths.md#evidence).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .linear_objects import ObjectSpec
from .solvers import NNLSOptions


@dataclass(frozen=True)
class SolverSettings:
    """autoarray's ``Settings`` fields that change the computation's structure (the diagonal value is traced).

    ``use_mixed_precision``: float32 mapping values and forward FFTs (docs/maths.md#mixed-precision);
    ``use_positive_only_solver``: solve C s = D subject to s ≥ 0 (docs/maths.md#solve);
    ``use_edge_zeroed_pixels``: with the positive-only solve, pin each mapper's edge pixels at 0;
    ``use_border_relocator``: relocate traced points outside the traced mask border onto it
    (docs/maths.md#border-relocation).
    """

    use_mixed_precision: bool = False
    use_positive_only_solver: bool = True
    use_edge_zeroed_pixels: bool = True
    use_border_relocator: bool = False


@dataclass(frozen=True)
class Signature:
    """Static description of one evaluation (or one batch of B evaluations).

    ``dataset``: the prepared dataset's shape description; its ``kind`` names the dataset kind module
    (:mod:`worker.inversion.kinds`). ``objects``: one :class:`ObjectSpec` per linear object, in parameter order.
    ``outputs``: requested array names (sorted). ``batch``: B, or None for a single evaluation. ``batch_axes``:
    per object, a hashable form of the ``vmap`` in_axes of its parameter dict (tuples of (leaf name, 0 | None),
    nested for the ``regularization`` sub-dict). ``operator``: ``"sparse"`` (host scipy.sparse curvature, CPU)
    or ``"dense"`` (XLA FFT + GEMM, GPU).
    """

    dataset: object  # a kind's hashable shape description, e.g. imaging's ImagingShape
    objects: tuple[ObjectSpec, ...]
    settings: SolverSettings
    nnls: NNLSOptions
    outputs: tuple[str, ...] = ()
    batch: int | None = None
    batch_axes: tuple = ()
    operator: str = "sparse"

    @property
    def param_ranges(self) -> list[tuple[int, int]]:
        """[start, stop) of each object's parameters in the full parameter vector (length P)."""
        out, start = [], 0
        for o in self.objects:
            out.append((start, start + o.params))
            start += o.params
        return out

    @property
    def total_params(self) -> int:
        """P = Σ S_i, the length of the reconstruction."""
        return sum(o.params for o in self.objects)

    @property
    def free_indices(self) -> np.ndarray:
        """Indices (int64, ascending) of the parameters the positive-only solve may move.

        All P parameters unless both the positive-only solve and edge zeroing are on; then every object's
        edge-zeroed pixels (:attr:`ObjectSpec.zeroed`) are left out, each at its own offset wherever the object
        sits in the list (docs/maths.md#solve).
        """
        p = self.total_params
        if not (self.settings.use_positive_only_solver and self.settings.use_edge_zeroed_pixels):
            return np.arange(p)
        zeroed = [start + o.zeroed for o, (start, _) in zip(self.objects, self.param_ranges, strict=True)]
        return np.setdiff1d(np.arange(p), np.concatenate(zeroed))

    @property
    def dense_objects(self) -> tuple[int, ...]:
        """Objects given as dense columns (light profiles); all others arrive as interpolation slots."""
        return tuple(i for i, o in enumerate(self.objects) if o.kind == "gaussians")

    @property
    def slot_objects(self) -> tuple[int, ...]:
        """Objects whose mapping matrix arrives in slot (coordinate) form: mappers and basis images."""
        return tuple(i for i in range(len(self.objects)) if i not in self.dense_objects)

    @property
    def reduced_objects(self) -> tuple[int, ...]:
        """Objects whose blocks enter the regularization term and both log dets (docs/maths.md#evidence).

        None when nothing is regularized, all objects when everything is, otherwise the mappers only.
        """
        regularized = [o.regularization is not None for o in self.objects]
        if not any(regularized):
            return ()
        if all(regularized):
            return tuple(range(len(self.objects)))
        return tuple(i for i, o in enumerate(self.objects) if o.kind == "mapper")

    @property
    def reduced_indices(self) -> np.ndarray:
        """Parameter indices of :attr:`reduced_objects`, in order (empty when nothing is regularized)."""
        ranges = self.param_ranges
        if not self.reduced_objects:
            return np.zeros(0, dtype=np.int64)
        return np.concatenate([np.arange(*ranges[i]) for i in self.reduced_objects])

    @property
    def unregularized(self) -> np.ndarray:
        """(P,) bool: parameters of objects without regularization (they get the diagonal value added to F)."""
        return np.concatenate([np.full(o.params, o.regularization is None) for o in self.objects])
