"""Imaging dataset preparation, kept importable under its old name (the engine imports it from here).

The implementation is the imaging dataset kind, :mod:`worker.inversion.kinds.imaging`.
"""

from .kinds.imaging import ImagingShape, PreparedImaging, prepare_imaging

__all__ = ["ImagingShape", "PreparedImaging", "prepare_imaging"]
