"""Warm-up requests are valid contract requests, for the shipped config and for other meshes."""

import numpy as np

from service.config import InversionDefaults, WarmSpec, load_config
from worker.warmup import synth_requests


def test_shipped_warm_list_builds_valid_requests():
    cfg = load_config()
    labels = [label for spec in cfg.worker.warm for label, _, _ in synth_requests(spec, cfg.settings)]
    assert labels == ["small-rectangular fp64 B=1", "small-rectangular mixed B=1"]


def test_every_object_kind_and_batches():
    spec = WarmSpec(
        name="all", over_sample_size_pixelization=2, precisions=["fp64"], batch_sizes=[1, 4],
        linear_objects=[
            {"type": "gaussians", "count": 6},
            {"type": "basis", "count": 2},
            {"type": "mapper", "mesh": {"type": "delaunay", "pixels": 30, "zeroed_pixels": 4},
             "regularization": {"type": "adapt_split"}, "source_grid": "traced"},
        ],
    )
    out = list(synth_requests(spec, InversionDefaults()))
    assert [label for label, _, _ in out] == ["all fp64 B=1", "all fp64 B=4"]
    _, dataset, request = out[1]
    gauss, basis, mapper = request.linear_objects
    assert gauss.sigmas.shape == (4, 6) and basis.images.shape[0] == 2
    assert mapper.mesh.vertices.shape == (34, 2) and mapper.source_grid.shape[0] == 4
    assert np.ndim(mapper.regularization.inner_coefficient) == 1
    assert request.settings.use_mixed_precision is False and dataset["mask"].dtype == bool
