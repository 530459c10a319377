"""A nautilus fit against the inversion service: the regularization coefficient of a pixelized source and the
Einstein radius of a singular isothermal sphere (SIS) lens, with the Bayesian evidence of the whole model.

The script simulates a small strong-lens image (an elliptical Gaussian source behind an SIS lens, blurred by a
Gaussian PSF, with noise), registers it, fetches the dataset's over-sampled pixelization grid
(``get_dataset(include_grids=True)``) and, for every batch of parameter vectors nautilus proposes, ray-traces that
grid on the client with numpy (β = θ − θ_E θ/|θ|) and sends the traced grids (``source_grid``, plus the traced
pixel centres as ``source_grid_slim``) with the coefficients as ONE batched request. The service reconstructs the
source on a rectangular mesh for every lane and answers the figure of merit (the log evidence).

    inversion-service dev &                              # or any running service
    python examples/nautilus_fit.py [--url http://127.0.0.1:8000] [--quick] [--json summary.json]
    python examples/nautilus_fit.py --local --quick      # starts a throw-away service on this machine

Needs ``pip install -e ".[samplers]"`` (nautilus-sampler). ``--quick`` is a small problem with few live points
(the test suite runs it); without it the image is larger and the posterior better resolved.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client"))  # run from a clone without installing

from inversion_client import InversionClient
from inversion_client.samplers import ServiceLikelihood

TRUTH = {"einstein_radius": 0.8, "source_centre": (0.05, 0.1), "source_sigma": 0.15, "source_q": 0.7}
PRIOR = {"log10_coefficient": (-2.0, 3.0), "einstein_radius": (0.5, 1.1)}
PROBLEMS = {
    # image side, pixel scale ("), mask radius ("), PSF side, over-sampling, mesh, noise, live points, networks, n_eff
    "quick": dict(n=16, scale=0.15, radius=1.15, psf=3, sub=2, mesh=(8, 8), noise=0.05, n_live=100, n_networks=1,
                  n_eff=300),
    "full": dict(n=40, scale=0.075, radius=1.5, psf=5, sub=2, mesh=(16, 16), noise=0.05, n_live=400, n_networks=4,
                 n_eff=3000),
}


# ------------------------------------------------------------------------------------------------ simulation
def sis_trace(grid: np.ndarray, einstein_radius: np.ndarray) -> np.ndarray:
    """Source-plane positions β = θ − θ_E θ/|θ| of image-plane points ``grid`` (..., N, 2) (y, x) for an SIS at
    the origin; ``einstein_radius`` broadcasts against the leading axes (shape (n, 1, 1) traces n lenses)."""
    r = np.maximum(np.linalg.norm(grid, axis=-1, keepdims=True), 1e-12)
    return grid - einstein_radius * grid / r


def source_light(beta: np.ndarray) -> np.ndarray:
    """An elliptical Gaussian source (peak 1) at source-plane positions ``beta`` (..., 2)."""
    cy, cx = TRUTH["source_centre"]
    dy, dx = beta[..., 0] - cy, beta[..., 1] - cx
    return np.exp(-0.5 * (dx**2 + (dy / TRUTH["source_q"]) ** 2) / TRUTH["source_sigma"] ** 2)


def convolve_same(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """``image`` ⊛ ``kernel`` (odd sides), zero outside the image, same shape."""
    ky, kx = kernel.shape
    padded = np.pad(image, ((ky // 2, ky // 2), (kx // 2, kx // 2)))
    out = np.zeros_like(image)
    for i in range(ky):
        for j in range(kx):
            out += kernel[ky - 1 - i, kx - 1 - j] * padded[i:i + image.shape[0], j:j + image.shape[1]]
    return out


def simulate(p: dict, seed: int) -> dict:
    """A lensed image (native arrays), its noise map, PSF and circular mask."""
    n, scale, sub = p["n"], p["scale"], 4
    centres = ((n - 1) / 2 - np.arange(n)) * scale
    ys, xs = np.meshgrid(centres, -centres, indexing="ij")  # row 0 = top (largest y), x grows to the right
    offsets = (np.arange(sub) - (sub - 1) / 2) * scale / sub
    oy, ox = np.meshgrid(-offsets, offsets, indexing="ij")
    fine = np.stack([ys[..., None, None] + oy, xs[..., None, None] + ox], axis=-1)  # (n, n, sub, sub, 2)
    image = source_light(sis_trace(fine, TRUTH["einstein_radius"])).mean(axis=(2, 3))
    k = np.arange(p["psf"]) - p["psf"] // 2
    psf = np.exp(-0.5 * np.add.outer(k**2, k**2) / 1.0**2)
    psf /= psf.sum()
    rng = np.random.default_rng(seed)
    noise = np.full((n, n), p["noise"])
    data = convolve_same(image, psf) + noise * rng.standard_normal((n, n))
    mask = ys**2 + xs**2 > p["radius"] ** 2
    return {"data": data, "noise_map": noise, "psf": psf, "mask": mask, "pixel_scales": scale}


# ------------------------------------------------------------------------------------------------ the fit
def weighted_quantiles(x: np.ndarray, w: np.ndarray, q: tuple[float, ...]) -> np.ndarray:
    order = np.argsort(x)
    cdf = np.cumsum(w[order]) / np.sum(w)
    return np.interp(q, cdf, x[order])


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--url", default=os.environ.get("INVERSION_SERVICE_URL", "http://127.0.0.1:8000"))
    ap.add_argument("--api-key", default=os.environ.get("INVERSION_API_KEY"))
    ap.add_argument("--quick", action="store_true", help="small image, few live points (runs in the test suite)")
    ap.add_argument("--local", action="store_true", help="start a throw-away service on this machine first")
    ap.add_argument("--n-live", type=int, help="live points (default: 100 quick, 400 full)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", help="also write the summary to this file")
    args = ap.parse_args(argv)
    p = PROBLEMS["quick" if args.quick else "full"]
    n_live = args.n_live or p["n_live"]

    local = None
    if args.local:
        from inversion_client.local import LocalService

        print("starting a local service (Redis, one worker, the API) ...", flush=True)
        local = LocalService(config={"worker": {"warm": []}}).start()
        args.url = local.url
    try:
        return fit(args, p, n_live)
    finally:
        if local is not None:
            local.stop()


def fit(args: argparse.Namespace, p: dict, n_live: int) -> dict:
    from nautilus import Prior, Sampler

    client = InversionClient(args.url, api_key=args.api_key, float32_grids=True, timeout=300)
    sim = simulate(p, args.seed)
    dataset_id = client.register_imaging(**sim, over_sample_size_pixelization=p["sub"], over_sample_size_lp=1)
    info = client.get_dataset(dataset_id, include_grids=True)
    grid, centres = info.pixelization_grid, info.image_grid
    print(f"dataset {dataset_id[:12]}: {info.shape_native[0]}x{info.shape_native[1]} image, {info.pixels} unmasked "
          f"pixels, {info.sub_pixels_pixelization} sub-pixels traced per evaluation, "
          f"mesh {p['mesh'][0]}x{p['mesh'][1]}", flush=True)

    def objects(theta: np.ndarray) -> list[dict]:
        """Linear objects for a whole chunk of parameter vectors (n, 2): one mapper with batched fields."""
        theta_e = theta[:, 1, None, None]
        return [{"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": list(p["mesh"])},
                 "source_grid": sis_trace(grid, theta_e), "source_grid_slim": sis_trace(centres, theta_e),
                 "regularization": {"type": "constant", "coefficient": 10.0 ** theta[:, 0]}}]

    likelihood = ServiceLikelihood(client, dataset_id, objects, batched=True, chunk_size=64)
    prior = Prior()
    for name, bounds in PRIOR.items():
        prior.add_parameter(name, dist=bounds)
    sampler = Sampler(prior, likelihood, n_live=n_live, n_networks=p["n_networks"], n_batch=64, vectorized=True,
                      pass_dict=False, seed=args.seed)
    t0 = time.perf_counter()
    sampler.run(n_eff=p["n_eff"], verbose=not args.quick)
    elapsed = time.perf_counter() - t0

    points, log_w, log_l = sampler.posterior()
    w = np.exp(log_w - log_w.max())
    summary = {"dataset_id": dataset_id, "log_evidence": float(sampler.log_z), "n_like": int(sampler.n_like),
               "n_requests": likelihood.n_requests, "seconds": elapsed, "n_eff": float(sampler.n_eff),
               "max_log_likelihood": float(log_l.max()), "parameters": {}}
    print(f"\nnautilus: {sampler.n_like} likelihoods in {likelihood.n_requests} requests, {elapsed:.1f} s "
          f"({sampler.n_like / elapsed:.0f} evaluations/s), effective sample size {sampler.n_eff:.0f}")
    print(f"{'parameter':18} {'truth':>7} {'mean':>8} {'std':>7} {'16%':>8} {'50%':>8} {'84%':>8}")
    for i, name in enumerate(PRIOR):
        x = points[:, i]
        mean = float(np.sum(w * x) / np.sum(w))
        std = float(np.sqrt(np.sum(w * (x - mean) ** 2) / np.sum(w)))
        q16, q50, q84 = weighted_quantiles(x, w, (0.16, 0.5, 0.84))
        truth = TRUTH.get(name)
        summary["parameters"][name] = {"mean": mean, "std": std, "q16": q16, "q50": q50, "q84": q84, "truth": truth}
        print(f"{name:18} {'-' if truth is None else f'{truth:.3f}':>7} {mean:8.3f} {std:7.3f} {q16:8.3f} "
              f"{q50:8.3f} {q84:8.3f}")
    print(f"log evidence ln Z = {summary['log_evidence']:.3f}   max ln L = {summary['max_log_likelihood']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1))
    client.close()
    return summary


if __name__ == "__main__":
    main()
