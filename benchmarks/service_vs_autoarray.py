"""Evaluations per second: autoarray's JAX path in-process against the inversion service end to end.

The realistic case of issue 2 (``core_vs_autoarray.realistic_case``: 100x100 image at 0.05", circular mask of
radius 2.5", 11x11 PSF, pixelization sub-grid 2, 30x30 rectangular mesh, constant regularization, server-default
settings). A batch of B evaluates B regularization coefficients:

(a) autoarray in-process, ``jax.jit(jax.vmap(figure_of_merit))`` (``_autoarray_side.py`` in the oracle's Python
    environment, a subprocess per configuration);
(b) the service end to end: the client sends one msgpack request per batch over HTTP, the API enqueues it in
    Redis, a warm worker evaluates it, the answer comes back (started here: Redis, one worker, the API; or
    ``--url`` of a running service).

    python benchmarks/service_vs_autoarray.py [--batches 1,8,32] [--repeats 5] [--precisions fp64]
                                              [--oracle-python PATH] [--url URL | --redis-url URL] [--workers 1]

Compile time (the first call of each shape) is reported apart; warm times are medians of ``--repeats`` calls
after it. Prints evaluations per second of both, the ratio (b)/(a) and the largest |ΔFoM| between them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "client"), str(ROOT / "benchmarks")]

from core_vs_autoarray import realistic_case, theirs  # noqa: E402
from inversion_client import InversionClient  # noqa: E402
from inversion_client.local import LocalService  # noqa: E402


def service_side(client: InversionClient, dataset_id: str, case: dict, batch: int, mixed: bool, repeats: int):
    coefs = case["coefficients"][:batch]
    mapper = {"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": case["mesh_shape"].tolist()},
              "regularization": {"type": "constant", "coefficient": coefs}}
    settings = {"use_mixed_precision": mixed}
    t0 = time.perf_counter()
    first = client.evaluate(dataset_id, [mapper], settings=settings, wait=600)
    compile_s = time.perf_counter() - t0
    times, compute = [], []
    for _ in range(repeats):
        t0 = time.perf_counter()
        res = client.evaluate(dataset_id, [mapper], settings=settings, wait=600)
        times.append(time.perf_counter() - t0)
        compute.append(res.compute_ms / 1e3)
    return {"compile_s": compile_s, "compiled": bool(first.timings.get("compiled")), "times": times,
            "compute": compute, "fom": np.atleast_1d(res.figure_of_merit)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--oracle-python", default=os.environ.get("ORACLE_PYTHON", "/work/oracle-venv/bin/python"))
    ap.add_argument("--batches", default="1,8,32")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--precisions", default="fp64", help="fp64 and/or mixed, comma-separated")
    ap.add_argument("--url", help="a running service to use instead of starting one here")
    ap.add_argument("--redis-url", help="Redis for the service started here (default: a private redis-server)")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()

    case = realistic_case()
    local = None
    if args.url is None:
        print("starting the service (Redis, worker, API) ...", flush=True)
        local = LocalService(config={"worker": {"warm": []}, "jobs": {"max_wait_s": 900}}, workers=args.workers,
                             redis_url=args.redis_url).start()
    url = args.url or local.url
    rows = []
    try:
        with InversionClient(url, timeout=900) as client, tempfile.TemporaryDirectory() as tmp:
            dataset_id = client.register_imaging(case["data"], case["noise_map"], case["psf"], case["mask"],
                                                 case["pixel_scale"], over_sample_size_pixelization=case["sub_size"],
                                                 over_sample_size_lp=2)
            info = client.get_dataset(dataset_id)
            print(f"case: {info.shape_native} image, {info.pixels} unmasked pixels, "
                  f"{int(np.prod(case['mesh_shape']))} source pixels; service at {url}; repeats={args.repeats}",
                  flush=True)
            case_path = os.path.join(tmp, "case.npz")
            np.savez(case_path, **case)
            for precision in args.precisions.split(","):
                mixed = precision == "mixed"
                for batch in (int(b) for b in args.batches.split(",")):
                    a = theirs(args.oracle_python, case_path, batch, mixed, args.repeats)
                    s = service_side(client, dataset_id, case, batch, mixed, args.repeats)
                    eps_a = batch / statistics.median(a["times"])
                    eps_s = batch / statistics.median(s["times"])
                    eps_c = batch / statistics.median(s["compute"])
                    dfom = float(np.max(np.abs(s["fom"] - np.asarray(a["fom"]))))
                    rows.append((precision, batch, a["compile_s"], s["compile_s"], s["compiled"], eps_a, eps_s,
                                 eps_c, eps_s / eps_a, dfom))
                    print(f"  done {precision} B={batch}", flush=True)
    finally:
        if local is not None:
            local.stop()

    print(f"\nautoarray {a.get('version')} in-process jit(vmap) vs the service end to end (HTTP + Redis + worker), "
          "evaluations per second (warm, median)")
    hdr = (f"{'precision':9} {'B':>3} {'aa compile s':>12} {'svc first s':>11} {'aa eval/s':>10} "
           f"{'svc eval/s':>10} {'(worker)':>9} {'ratio':>7} {'max|dFoM|':>10}")
    print(hdr)
    print("-" * len(hdr))
    for p, b, ca, cs, compiled, ea, es, ec, ratio, dfom in rows:
        print(f"{p:9} {b:>3} {ca:12.1f} {cs:10.1f}{'*' if compiled else ' '} {ea:10.2f} {es:10.2f} {ec:9.2f} "
              f"{ratio:6.2f}x {dfom:10.2e}")
    print("svc first s: the first request of that shape (* = the worker compiled it; otherwise its compilation "
          "cache was warm); (worker): evaluations/s from the worker's compute_ms alone; ratio = svc / autoarray")


if __name__ == "__main__":
    main()
