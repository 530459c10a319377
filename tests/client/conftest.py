"""Fixtures for the client tests, on the session's real service stack of tests/conftest.py (Redis, uvicorn API,
JAX worker), the same one tests/service uses."""

from __future__ import annotations

import pytest
from inversion_client import InversionClient

from tests.service.data import imaging


@pytest.fixture(scope="session")
def api(stack):
    """An :class:`InversionClient` of the main stack (API + one warm worker)."""
    with InversionClient(stack.url, timeout=120) as client:
        yield client


@pytest.fixture(scope="session")
def tiny():
    """The tiny imaging dataset the stack's worker is warm for (12x12, sub 1, 3x3 PSF), numpy arrays."""
    return imaging()


@pytest.fixture(scope="session")
def dataset_id(api, tiny):
    return api.register_imaging(tiny["data"], tiny["noise_map"], tiny["psf"], tiny["mask"], tiny["pixel_scales"],
                                over_sample_size_pixelization=1, over_sample_size_lp=1)
