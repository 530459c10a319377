"""Writing the golden files: one compact JSON file per case, and MANIFEST.json (settings, cond(C), refusals)."""

from __future__ import annotations

import json
import sys
import traceback
from pathlib import Path

import autoarray as aa
import autogalaxy as ag
import jax
import numpy as np

from .environment import ENVIRONMENT
from .regularizations import REFUSAL_NOTES
from .runner import error_text
from .specs import Case

GENERATOR = "tools/oracle/generate_golden.py"
# autoarray's config keys (general.yaml, "inversion") recorded in MANIFEST.json.
CONFIG_KEYS = (
    "use_positive_only_solver",
    "use_edge_zeroed_pixels",
    "use_border_relocator",
    "no_regularization_add_to_curvature_diag_value",
    "nnls_jacobi_preconditioning",
    "nnls_target_kappa",
    "nnls_preconditioning_no_mapper",
    "positive_only_solver",
    "log_det_method",
    "regularization_term_method",
)


def write_json(path: Path, obj: dict) -> int:
    """Write compact JSON (floats as Python's shortest round-trip repr, no NaN) plus a newline; returns its length."""
    text = json.dumps(obj, separators=(",", ":"), allow_nan=False) + "\n"
    path.write_text(text)
    return len(text)


def manifest_entry(case: Case, file_name: str | None) -> dict:
    """A case's MANIFEST.json entry: its meshes and regularizations (one per linear object) and settings."""
    meshes, regs = [], []
    for spec in case.objects:
        if spec.kind == "mapper":
            meshes.append(spec.mesh)
            regs.append(spec.reg)
        else:
            meshes.append(spec.kind)
            regs.append(spec.reg if spec.kind == "basis" else "null")
    entry = {"name": case.name}
    if file_name is not None:
        entry["file"] = file_name
    entry.update(
        description=case.description,
        dataset=case.dataset,
        path=case.path,
        meshes=meshes,
        regularizations=regs,
        settings=dict(case.settings),
    )
    return entry


def refused_entry(case: Case, e: BaseException) -> dict:
    """The "unsupported" entry of a case autoarray refused: the error, the autoarray/autogalaxy functions it was
    raised in, and a note on the regularization where there is one."""
    entry = manifest_entry(case, None)
    entry["error"] = error_text(e)
    entry["raised_in"] = " > ".join(
        f.name
        for f in traceback.extract_tb(e.__traceback__)
        if "/autoarray/" in f.filename or "/autogalaxy/" in f.filename
    )
    for reg in entry["regularizations"]:
        if reg in REFUSAL_NOTES:
            entry["note"] = REFUSAL_NOTES[reg]
    return entry


def manifest(done: list[Case], conditions: dict[str, float], unsupported: list[dict]) -> dict:
    """MANIFEST.json: versions, the effective config, the written cases with cond(C), and what autoarray refused."""
    inversion_config = aa.conf.instance["general"]["inversion"]
    return {
        "generator": GENERATOR,
        "autoarray_version": aa.__version__,
        "autogalaxy_version": ag.__version__,
        "jax_version": jax.__version__,
        "numpy_version": np.__version__,
        "python": ".".join(map(str, sys.version_info[:3])),
        "config_note": "effective config values with autogalaxy imported; autogalaxy's packaged general.yaml "
        "sets use_border_relocator: true (autoarray's own: false). Every case passes all five Settings "
        "fields explicitly, so only the nnls_* keys (not Settings fields) reach the results.",
        "config": {k: inversion_config[k] for k in CONFIG_KEYS},
        "environment": dict(ENVIRONMENT),
        "cases": [
            dict(manifest_entry(c, f"{c.name}.json"), cond_curvature_reg_matrix=float(f"{conditions[c.name]:.2e}"))
            for c in done
        ],
        "unsupported": unsupported,
    }
