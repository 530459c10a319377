"""Fixtures for the numerical-core tests: the shared autoarray oracle problem and helpers."""

import json
import pathlib

import numpy as np
import pytest

import worker.inversion  # noqa: F401  (switches x64 on before anything else touches JAX)
from worker.engine import Engine

ROOT = pathlib.Path(__file__).resolve().parents[2]
ORACLE = ROOT / "tests" / "golden" / "oracle_example.json"


def settings(pos=True, edge=True, mixed=False, border=False, diag=1e-3):
    return {"use_mixed_precision": mixed, "use_positive_only_solver": pos, "use_edge_zeroed_pixels": edge,
            "use_border_relocator": border, "no_regularization_add_to_curvature_diag_value": diag}


@pytest.fixture(scope="session")
def engine():
    return Engine()


@pytest.fixture(scope="session")
def oracle():
    return json.loads(ORACLE.read_text())


@pytest.fixture(scope="session")
def oracle_dataset(oracle):
    inp = oracle["inputs"]
    return {"kind": "imaging", "data": np.array(inp["data_native"]), "noise_map": np.array(inp["noise_native"]),
            "psf": np.array(inp["kernel_native_unnormalised"]), "mask": np.array(inp["mask"]).astype(bool),
            "pixel_scales": inp["pixel_scale"], "over_sample_size_pixelization": 2, "over_sample_size_lp": 4}


@pytest.fixture(scope="session")
def prepared(engine, oracle_dataset):
    return engine.prepare(oracle_dataset)


def rect_constant(coefficient=1.5, shape=(7, 7)):
    return {"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": list(shape)},
            "regularization": {"type": "constant", "coefficient": coefficient}}
