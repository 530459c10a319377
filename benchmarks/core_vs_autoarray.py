"""Throughput of the inversion core against autoarray's own JAX path, on the same inputs, in one run.

The realistic case of issue 2: a 100x100 image at 0.05", circular mask of radius 2.5" (7,860 pixels), 11x11
Gaussian PSF, pixelization sub-grid 2, a 30x30 rectangular mesh with constant regularization, server-default
settings (positive-only solve with edge zeroing). Single calls (jit) and vmap batches of 8 and 32, fp64 and
mixed precision. A batch evaluates B regularization coefficients.

    python benchmarks/core_vs_autoarray.py [--oracle-python PATH] [--repeats N] [--batches 0,8,32] [--quick]

The autoarray side runs in its own Python 3.12 environment (tools/oracle/README.md), started as a subprocess
for each configuration, alternating with ours. Compile time is reported apart from warm time; every warm time
is the median of N repeats after one warm-up call. Prints a table, the ratio (ours / autoarray evaluations per
second) and the largest figure-of-merit difference per row.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from worker.engine import Engine, EngineConfig  # noqa: E402  (importing the core switches x64 on)
from worker.inversion import grids  # noqa: E402


def realistic_case(shape=(100, 100), pixel_scale=0.05, radius=2.5, psf_size=11, mesh=(30, 30), seed=1):
    """A lensed-arc-like image: an elliptical ring plus a compact blob, blurred, with Gaussian noise."""
    rng = np.random.default_rng(seed)
    mask = grids.circular_mask(shape, (pixel_scale, pixel_scale), radius)
    ny, nx = shape
    yy, xx = np.mgrid[0:ny, 0:nx]
    y = ((ny - 1) / 2 - yy) * pixel_scale
    x = (xx - (nx - 1) / 2) * pixel_scale
    r = np.sqrt((x / 1.1) ** 2 + (y / 0.9) ** 2)
    truth = 2.0 * np.exp(-0.5 * ((r - 1.2) / 0.12) ** 2) * (1 + 0.5 * np.cos(np.arctan2(y, x)))
    truth += 1.5 * np.exp(-0.5 * ((x - 0.3) ** 2 + (y + 0.2) ** 2) / 0.15**2)
    k = np.arange(psf_size) - psf_size // 2
    psf = np.exp(-0.5 * np.add.outer(k**2, k**2) / 1.5**2)
    from scipy.signal import convolve

    noise = np.full(shape, 0.1)
    data = convolve(truth, psf / psf.sum(), mode="same") + noise * rng.standard_normal(shape)
    return {"data": data, "noise_map": noise, "psf": psf, "mask": mask, "pixel_scale": pixel_scale,
            "sub_size": 2, "mesh_shape": np.array(mesh), "coefficients": np.logspace(-0.5, 1.0, 64)}


def ours(engine, prepared, case, batch, mixed, repeats):
    coefs = case["coefficients"][: max(batch, 1)]
    req = {"linear_objects": [{"type": "mapper", "mesh": {"type": "rectangular_uniform",
                                                          "shape": case["mesh_shape"].tolist()},
                               "regularization": {"type": "constant",
                                                  "coefficient": coefs[0] if batch == 0 else coefs}}],
           "settings": {"use_mixed_precision": mixed, "use_positive_only_solver": True,
                        "use_edge_zeroed_pixels": True, "use_border_relocator": False,
                        "no_regularization_add_to_curvature_diag_value": 1e-3}}
    t0 = time.perf_counter()
    out = engine.evaluate(prepared, req)
    compile_s = time.perf_counter() - t0
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = engine.evaluate(prepared, req)
        times.append(time.perf_counter() - t0)
    return {"compile_s": compile_s, "times": times, "fom": np.atleast_1d(out["figure_of_merit"]).tolist()}


def theirs(python, case_path, batch, mixed, repeats):
    cmd = [python, str(ROOT / "benchmarks" / "_autoarray_side.py"), case_path, str(batch), "1" if mixed else "0",
           str(repeats)]
    env = dict(os.environ, PYTHONWARNINGS="ignore")
    res = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    if res.returncode != 0:
        raise RuntimeError(f"autoarray side failed:\n{res.stderr[-3000:]}")
    return json.loads(res.stdout.strip().splitlines()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--oracle-python", default=os.environ.get("ORACLE_PYTHON", "/work/oracle-venv/bin/python"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--batches", default="0,8,32", help="0 = single jitted call; others = vmap batch sizes")
    ap.add_argument("--precisions", default="fp64,mixed")
    ap.add_argument("--operator", default="auto", help="core operator backend: auto, sparse or dense")
    args = ap.parse_args()
    case = realistic_case()
    with tempfile.TemporaryDirectory() as tmp:
        case_path = os.path.join(tmp, "case.npz")
        np.savez(case_path, **case)
        engine = Engine(EngineConfig(operator=args.operator))
        prepared = engine.prepare({"kind": "imaging", "data": case["data"], "noise_map": case["noise_map"],
                                   "psf": case["psf"], "mask": case["mask"], "pixel_scales": case["pixel_scale"],
                                   "over_sample_size_pixelization": case["sub_size"], "over_sample_size_lp": 2})
        print(f"case: {prepared.shape.shape_native} image, {prepared.shape.pixels} unmasked pixels, "
              f"{int(np.prod(case['mesh_shape']))} source pixels, operator={engine.config.resolved_operator}, "
              f"repeats={args.repeats}", flush=True)
        rows, foms = [], {}
        for precision in args.precisions.split(","):
            mixed = precision == "mixed"
            for batch in (int(b) for b in args.batches.split(",")):
                a = theirs(args.oracle_python, case_path, batch, mixed, args.repeats)
                o = ours(engine, prepared, case, batch, mixed, args.repeats)
                n_eval = max(batch, 1)
                eps_a = n_eval / statistics.median(a["times"])
                eps_o = n_eval / statistics.median(o["times"])
                dfom = float(np.max(np.abs(np.array(o["fom"]) - np.array(a["fom"]))))
                foms[(precision, batch)] = (o["fom"][0], a["fom"][0])
                rows.append((precision, batch or 1, "jit" if batch == 0 else "jit(vmap)", a["compile_s"],
                             o["compile_s"], eps_a, eps_o, eps_o / eps_a, dfom))
                print(f"  done {precision} B={batch or 1}", flush=True)
        print(f"\nautoarray {a.get('version')} (JAX path) vs inversion core, evaluations per second (warm, median)")
        hdr = f"{'precision':9} {'B':>3} {'call':9} {'aa compile s':>12} {'core compile s':>14} " \
              f"{'aa eval/s':>10} {'core eval/s':>11} {'ratio':>7} {'max|dFoM|':>10}"
        print(hdr)
        print("-" * len(hdr))
        for p, b, call, ca, co, ea, eo, ratio, dfom in rows:
            print(f"{p:9} {b:>3} {call:9} {ca:12.1f} {co:14.1f} {ea:10.2f} {eo:11.2f} {ratio:6.1f}x {dfom:10.2e}")
        batch = min(b for (_, b) in foms)
        if ("fp64", batch) in foms and ("mixed", batch) in foms:  # the same lane-0 problem in every row
            (o64, a64), (omx, amx) = foms[("fp64", batch)], foms[("mixed", batch)]
            print(f"figure of merit (lane 0): fp64 core {o64:.9f}, autoarray {a64:.9f}; "
                  f"mixed - fp64 shift: core {omx - o64:+.3e}, autoarray {amx - a64:+.3e}")


if __name__ == "__main__":
    main()
