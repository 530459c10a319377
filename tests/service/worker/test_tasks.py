"""The job function's result layout (without a worker process)."""

import numpy as np

from service.contract.responses import SCALAR_NAMES
from worker.tasks import build_result


def test_build_result_scalars_batches_and_outputs():
    payload = {"job_id": "j", "dataset_id": "d", "batch_size": 2,
               "request": {"settings": {"use_mixed_precision": False}, "outputs": ["model_image"]}}
    out = {name: np.array([1.0, 2.0]) for name in SCALAR_NAMES}
    out.update(batch_size=2, compiled=True, compute_ms=3.0, model_image=np.ones((2, 5)),
               reconstruction=np.ones((2, 3)), solver_certified=[1.0, 0.0])
    result = build_result(payload, out, queue_ms=1.5, compute_ms=9.0)
    assert result["figure_of_merit"].tolist() == [1.0, 2.0] and result["batch_size"] == 2
    assert result["timings"] == {"queue_ms": 1.5, "compute_ms": 3.0, "compiled": True}
    assert "reconstruction" not in result and result["model_image"].shape == (2, 5)
    assert result["solver_certified"] == [True, False]
    single = build_result({**payload, "batch_size": None}, {n: np.float64(1) for n in SCALAR_NAMES}, 0, 1)
    assert isinstance(single["log_evidence"], float) and single["timings"]["compiled"] is False
