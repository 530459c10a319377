"""Loading the committed autoarray golden cases (tests/golden/imaging/*.json, see docs/internals.md)."""

import json
import pathlib

import numpy as np

GOLDEN = pathlib.Path(__file__).resolve().parents[1] / "golden" / "imaging"
ARRAY_FIELDS = {"data", "noise_map", "psf", "mask", "source_grid", "source_grid_slim", "vertices", "adapt_image",
                "sigmas", "centre", "ell_comps", "images"}


def cases():
    return sorted(p.stem for p in GOLDEN.glob("*.json") if p.stem != "MANIFEST")


def load(name):
    return json.loads((GOLDEN / f"{name}.json").read_text())


def arrays(obj):
    """Nested lists of the known array fields -> numpy arrays (dicts and scalars left as they are)."""
    if isinstance(obj, dict):
        return {k: (np.asarray(v) if k in ARRAY_FIELDS and isinstance(v, list) else arrays(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [arrays(v) for v in obj]
    return obj
