"""Sampler adapters against the real service (emcee, dynesty, nautilus via the example), and the dynesty pool's
batching on its own."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from inversion_client.samplers import DynestyPool, ServiceLikelihood, emcee_log_prob, nautilus_likelihood

from tests.service.data import rect_constant

ROOT = Path(__file__).resolve().parents[2]


def log_coefficient(theta):
    """One evaluation: the tiny stack's warm mapper with coefficient 10**theta[0]."""
    return [rect_constant(10.0 ** theta[0])]


def test_vectorized_likelihood_shapes_and_values(api, dataset_id):
    like = nautilus_likelihood(api, dataset_id, log_coefficient, chunk_size=4)
    thetas = np.array([[-0.5], [0.0], [0.5], [1.0], [1.5]])
    out = like(thetas)
    assert out.shape == (5,) and out.dtype == np.float64
    assert like.n_requests == 2 and like.n_points == 5  # chunks of 4 + 1
    direct = api.evaluate(dataset_id, [rect_constant(10.0 ** thetas[:4, 0])]).figure_of_merit
    np.testing.assert_allclose(out[:4], direct, rtol=1e-12)
    single = like(thetas[1])
    assert isinstance(single, float) and single == pytest.approx(out[1], rel=1e-12)


def test_emcee_log_prob_is_vectorized_and_minus_inf_outside_the_bounds(api, dataset_id):
    log_prob = emcee_log_prob(api, dataset_id, log_coefficient, bounds=[[-2.0, 2.0]], log_prior=lambda t: -t[0] ** 2)
    walkers = np.array([[-3.0], [0.0], [0.5], [1.0], [1.5], [2.5]])
    out = log_prob(walkers)
    assert out.shape == (6,)
    assert out[0] == -np.inf and out[5] == -np.inf and log_prob.n_points == 4  # never sent
    ref = ServiceLikelihood(api, dataset_id, log_coefficient)(walkers[1:5])
    np.testing.assert_allclose(out[1:5], ref - walkers[1:5, 0] ** 2, rtol=1e-12)


def test_emcee_runs_with_vectorize(api, dataset_id):
    emcee = pytest.importorskip("emcee")
    log_prob = emcee_log_prob(api, dataset_id, log_coefficient, bounds=[[-2.0, 3.0]])
    rng = np.random.default_rng(2)
    sampler = emcee.EnsembleSampler(4, 1, log_prob, vectorize=True)
    sampler.run_mcmc(rng.uniform(-0.5, 1.5, (4, 1)), 5, progress=False)
    assert sampler.get_chain().shape == (5, 4, 1)
    assert np.isfinite(sampler.get_log_prob()).all()
    assert log_prob.n_requests <= 11  # initial state + one request per half-step, 4 walkers -> 2 per request


def test_non_finite_figure_of_merit_becomes_minus_inf(api, dataset_id):
    """Unregularized, linearly dependent basis images with no diagonal addition: the service answers NaN."""
    n = api.get_dataset(dataset_id).pixels
    rng = np.random.default_rng(0)
    a, b = rng.random(n), rng.random(n)

    def objects(theta):
        return [{"type": "basis", "images": np.stack([a, (1 - theta[0]) * b + theta[0] * a])}]

    settings = {"use_positive_only_solver": False, "no_regularization_add_to_curvature_diag_value": 0.0}
    like = ServiceLikelihood(api, dataset_id, objects, settings=settings)
    out = like(np.array([[0.0], [1.0]]))
    assert np.isfinite(out[0]) and out[1] == -np.inf
    raw = api.evaluate(dataset_id, [{"type": "basis", "images": np.stack([a, a])}], settings=settings)
    assert np.isnan(raw.figure_of_merit)


# ------------------------------------------------------------------------------------------------ dynesty
class _Recorder:
    """A stand-in vectorized likelihood that records the batch sizes it is asked for."""

    def __init__(self):
        self.batches = []
        self.lock = threading.Lock()

    def __call__(self, thetas):
        with self.lock:
            self.batches.append(len(thetas))
        return -np.sum(np.asarray(thetas) ** 2, axis=1)


def test_dynesty_pool_batches_the_calls_of_all_threads():
    rec = _Recorder()
    pool = DynestyPool(rec, size=6)

    def walk(x):  # like a random walk: three likelihood calls in sequence for each point
        return [pool.loglikelihood(np.array([x + k])) for k in range(3)]

    out = pool.map(walk, range(6))
    assert out == [[-float((x + k) ** 2) for k in range(3)] for x in range(6)]
    assert rec.batches == [6, 6, 6]
    assert pool.loglikelihood(np.array([2.0])) == -4.0  # outside a map: direct
    assert pool.map(walk, []) == []


def test_dynesty_pool_propagates_errors():
    def broken(thetas):
        raise RuntimeError("boom")

    pool = DynestyPool(broken, size=2)
    with pytest.raises(RuntimeError, match="boom"):
        pool.map(pool.loglikelihood, [np.zeros(1), np.ones(1)])


def test_dynesty_sampler_with_the_pool(api, dataset_id):
    dynesty = pytest.importorskip("dynesty")
    like = ServiceLikelihood(api, dataset_id, log_coefficient)
    pool = DynestyPool(like, size=4)
    sampler = dynesty.NestedSampler(pool.loglikelihood, lambda u: -1.0 + 3.0 * u, 1, nlive=12, pool=pool,
                                    queue_size=pool.size, sample="unif", bound="single",
                                    rstate=np.random.default_rng(3))
    sampler.run_nested(maxiter=40, print_progress=False)
    assert np.isfinite(sampler.results.logz[-1])
    assert like.n_requests < like.n_points  # batched: several points per request


# ------------------------------------------------------------------------------------------------ nautilus
@pytest.mark.slow
def test_nautilus_quick_example_fits_the_einstein_radius(stack, tmp_path):
    pytest.importorskip("nautilus")
    summary_path = tmp_path / "summary.json"
    proc = subprocess.run([sys.executable, str(ROOT / "examples" / "nautilus_fit.py"), "--url", stack.url, "--quick",
                           "--json", str(summary_path)], capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "log evidence" in proc.stdout and "einstein_radius" in proc.stdout
    summary = json.loads(summary_path.read_text())
    assert np.isfinite(summary["log_evidence"])
    assert summary["n_requests"] < summary["n_like"] / 10  # batches, not single points
    theta_e = summary["parameters"]["einstein_radius"]
    assert abs(theta_e["q50"] - 0.8) < 0.05 and theta_e["q16"] < theta_e["q50"] < theta_e["q84"]
