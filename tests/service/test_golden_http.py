"""End to end: every committed autoarray golden case through HTTP (JSON and msgpack) agrees on the evidence.

The golden files (tests/golden/imaging/*.json, docs/internals.md) hold exactly the API bodies of the dataset and
the linear objects, the five settings and autoarray's answers. Tolerances on the figure of merit: 1e-6 absolute
for the positive/negative solver, 1e-3 for positive-only solves (different NNLS algorithms agree only to solver
tolerance); cases computed on autoarray's JAX path or in mixed precision get a loose 1e-2 check only.
"""

import json

import numpy as np
import pytest

from service.contract.responses import SCALAR_NAMES

from .http import assert_problem, decoded, post_msgpack
from .procs import ROOT

GOLDEN = ROOT / "tests" / "golden" / "imaging"
CASES = sorted(p.stem for p in GOLDEN.glob("*.json") if p.stem != "MANIFEST")
ARRAY_FIELDS = {"data", "noise_map", "psf", "mask", "source_grid", "source_grid_slim", "vertices", "adapt_image",
                "sigmas", "centre", "ell_comps", "images"}
SERVER_NNLS = {"jacobi_preconditioning": True, "target_kappa": 1e-11}


def load(name):
    return json.loads((GOLDEN / f"{name}.json").read_text())


def to_numpy(obj):
    """Nested lists of array fields -> numpy arrays, so the msgpack variant sends real binary arrays."""
    if isinstance(obj, dict):
        return {k: (np.asarray(v, dtype=bool if k == "mask" else float) if k in ARRAY_FIELDS and isinstance(v, list)
                    else to_numpy(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [to_numpy(v) for v in obj]
    return obj


def with_row_offset(objects):
    """autoarray's adapt-density mesh has a one-row offset (docs/numerics.md, B.1); the golden answers include it."""
    for obj in objects:
        if obj.get("mesh", {}).get("type") == "rectangular_bilinear_adapt_density":
            obj["mesh"]["autoarray_row_offset"] = True
    return objects


@pytest.mark.skipif(not CASES, reason="no golden cases committed yet")
@pytest.mark.parametrize("encoding", ["json", "msgpack"])
@pytest.mark.parametrize("name", CASES)
def test_golden_case_through_http(stack, name, encoding):
    case = load(name)
    if case.get("nnls", SERVER_NNLS) != SERVER_NNLS:
        pytest.skip("golden case uses NNLS options other than the server's")
    c = stack.client
    dataset = case["dataset"] if encoding == "json" else to_numpy(case["dataset"])
    r = c.post("/datasets", json=dataset) if encoding == "json" else post_msgpack(c, "/datasets", dataset)
    assert r.status_code in (200, 201), r.text
    dataset_id = decoded(r)["dataset_id"]
    objects = with_row_offset(case["linear_objects"] if encoding == "json" else to_numpy(case["linear_objects"]))
    body = {"dataset_id": dataset_id, "linear_objects": objects, "settings": case["settings"]}
    headers = {"prefer": "wait=300"}
    r = (c.post("/inversions", json=body, headers=headers) if encoding == "json"
         else post_msgpack(c, "/inversions", body, headers=headers))
    if r.status_code != 200:
        assert_problem(r, r.status_code)
        pytest.fail(f"{name}: {r.status_code} {r.text}")
    out = decoded(r)
    assert out["settings"] == case["settings"]
    expected = case["expected"]
    loose = case.get("path") == "jax" or case["settings"]["use_mixed_precision"]
    tol = 1e-2 if loose else 1e-3 if case["settings"]["use_positive_only_solver"] else 1e-6
    assert out["figure_of_merit"] == pytest.approx(expected["figure_of_merit"], abs=tol)
    if not loose:
        for key in SCALAR_NAMES:
            assert out[key] == pytest.approx(expected[key], abs=tol), key
