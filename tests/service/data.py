"""Small datasets and requests for the service tests."""

from __future__ import annotations

from typing import Any

import numpy as np

from service.contract import arrays


def imaging(ny: int = 12, nx: int = 12, radius: float = 1.0, pixel_scale: float = 0.2, sub: int = 1,
            seed: int = 0) -> dict[str, Any]:
    """An imaging body (numpy arrays) with a circular mask: a blurred Gaussian blob plus noise."""
    rng = np.random.default_rng(seed)
    y = ((ny - 1) / 2 - np.arange(ny))[:, None] * pixel_scale
    x = (np.arange(nx) - (nx - 1) / 2)[None, :] * pixel_scale
    mask = y**2 + x**2 >= radius**2
    truth = np.exp(-0.5 * (y**2 + x**2) / 0.3**2)
    noise = np.full((ny, nx), 0.05) + 0.01 * rng.random((ny, nx))
    psf = np.array([[0.05, 0.1, 0.05], [0.1, 0.4, 0.1], [0.05, 0.1, 0.05]])
    return {"kind": "imaging", "data": truth + noise * rng.standard_normal((ny, nx)), "noise_map": noise,
            "psf": psf, "mask": mask, "pixel_scales": pixel_scale, "over_sample_size_pixelization": sub,
            "over_sample_size_lp": sub}


def as_json(obj: Any) -> Any:
    """numpy arrays -> nested lists (JSON bodies)."""
    return arrays.jsonable(obj)


def rect_constant(coefficient: Any = 1.0, shape=(4, 4)) -> dict[str, Any]:
    return {"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": list(shape)},
            "regularization": {"type": "constant", "coefficient": coefficient}}


def inversion(dataset_id: str, *objects: dict, **extra: Any) -> dict[str, Any]:
    return {"dataset_id": dataset_id, "linear_objects": list(objects) or [rect_constant()], **extra}
