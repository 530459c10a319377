"""What the service adds to a computation: round-trip latency minus the worker's ``compute_ms`` on a tiny
inversion over loopback (HTTP + API + Redis queue + worker pick-up + result back), one request at a time.

    python benchmarks/service_overhead.py [--requests 500] [--warmup 20] [--url URL | --redis-url URL]

Starts Redis, one worker and the API here unless ``--url`` is given. The problem is the 12x12 image, 4x4
rectangular mesh of the service tests (compute well under a millisecond to a few ms). Prints p50/p90/p99 of
the round trip, of compute_ms, of queue_ms (enqueue to job start) and of the overhead (round trip − compute), for
msgpack through the Python client, and the round trip of ``GET /healthz`` as the floor of HTTP alone (through the
client's transport, and through a plain ``httpx.Client`` for comparison).
Targets (issue 4): overhead p50 <= 5 ms, p99 <= 15 ms.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "client")]

from inversion_client import InversionClient  # noqa: E402
from inversion_client._transport import KeepAliveTransport  # noqa: E402
from inversion_client.local import LocalService  # noqa: E402


def tiny_dataset(n: int = 12, scale: float = 0.2, radius: float = 1.0) -> dict:
    rng = np.random.default_rng(0)
    y = ((n - 1) / 2 - np.arange(n))[:, None] * scale
    x = (np.arange(n) - (n - 1) / 2)[None, :] * scale
    noise = np.full((n, n), 0.05)
    data = np.exp(-0.5 * (y**2 + x**2) / 0.3**2) + noise * rng.standard_normal((n, n))
    psf = np.array([[0.05, 0.1, 0.05], [0.1, 0.4, 0.1], [0.05, 0.1, 0.05]])
    return {"data": data, "noise_map": noise, "psf": psf, "mask": y**2 + x**2 >= radius**2, "pixel_scales": scale}


def pct(values: list[float]) -> str:
    a = np.asarray(values)
    return f"{np.percentile(a, 50):8.2f} {np.percentile(a, 90):8.2f} {np.percentile(a, 99):8.2f} {a.max():8.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=500)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--url", help="a running service to use instead of starting one here")
    ap.add_argument("--redis-url", help="Redis for the service started here (default: a private redis-server)")
    args = ap.parse_args()

    local = None
    if args.url is None:
        print("starting the service (Redis, worker, API) ...", flush=True)
        local = LocalService(config={"worker": {"warm": []}}, redis_url=args.redis_url).start()
    url = args.url or local.url
    try:
        with InversionClient(url) as client, httpx.Client(base_url=url) as raw, KeepAliveTransport() as lean:
            dataset_id = client.register_imaging(**tiny_dataset(), over_sample_size_pixelization=1,
                                                 over_sample_size_lp=1)
            mapper = {"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]},
                      "regularization": {"type": "constant", "coefficient": 1.0}}
            for _ in range(args.warmup):
                client.evaluate(dataset_id, [mapper])
            health, health_httpx = [], []
            for _ in range(min(args.requests, 200)):
                t0 = time.perf_counter()
                lean.handle_request(httpx.Request("GET", url + "/healthz"))
                health.append((time.perf_counter() - t0) * 1e3)
                t0 = time.perf_counter()
                raw.get("/healthz")
                health_httpx.append((time.perf_counter() - t0) * 1e3)
            rtt, compute, queue = [], [], []
            t_all = time.perf_counter()
            for _ in range(args.requests):
                t0 = time.perf_counter()
                res = client.evaluate(dataset_id, [mapper])
                rtt.append((time.perf_counter() - t0) * 1e3)
                compute.append(res.timings["compute_ms"])
                queue.append(res.timings["queue_ms"])
            total = time.perf_counter() - t_all
    finally:
        if local is not None:
            local.stop()

    overhead = [r - c for r, c in zip(rtt, compute, strict=True)]
    print(f"\n{args.requests} sequential requests (msgpack, Python client) to {url}: {args.requests / total:.0f} "
          f"requests/s")
    print(f"{'ms':26} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}")
    print(f"{'round trip':26} {pct(rtt)}")
    print(f"{'compute_ms (worker)':26} {pct(compute)}")
    print(f"{'queue_ms (enqueue->start)':26} {pct(queue)}")
    print(f"{'overhead (rtt - compute)':26} {pct(overhead)}")
    print(f"{'GET /healthz round trip':26} {pct(health)}")
    print(f"{'  ... with httpx.Client':26} {pct(health_httpx)}")
    p50, p99 = np.percentile(overhead, 50), np.percentile(overhead, 99)
    print(f"overhead p50 {p50:.2f} ms (target <= 5: {'met' if p50 <= 5 else 'NOT met'}), "
          f"p99 {p99:.2f} ms (target <= 15: {'met' if p99 <= 15 else 'NOT met'})")


if __name__ == "__main__":
    main()
