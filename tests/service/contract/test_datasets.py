"""The stored form of datasets: the id depends on content only."""

import numpy as np

from service.contract import datasets
from service.contract.models import ImagingDataset

from ..data import as_json, imaging


def dataset_id(body):
    ds = ImagingDataset.model_validate(body)
    return datasets.content_id(datasets.pack(datasets.canonical_imaging(ds)))


def test_id_is_independent_of_encoding_and_masked_values():
    body = imaging()
    ref = dataset_id(body)
    assert dataset_id(as_json(body)) == ref
    assert dataset_id({**body, "pixel_scales": [0.2, 0.2], "data": body["data"].astype(">f8")}) == ref
    masked = {**body, "data": body["data"].copy()}
    masked["data"][body["mask"]] = 123.0
    assert dataset_id(masked) == ref


def test_id_changes_with_content():
    body = imaging()
    assert dataset_id({**body, "over_sample_size_lp": 2}) != dataset_id(body)
    assert dataset_id({**body, "data": body["data"] + 1e-12}) != dataset_id(body)


def test_unpack_gives_engine_form():
    ds = ImagingDataset.model_validate(imaging(sub=2))
    canonical = datasets.canonical_imaging(ds)
    back = datasets.unpack(datasets.pack(canonical))
    assert back["pixel_scales"] == (0.2, 0.2) and back["mask"].dtype == bool
    np.testing.assert_array_equal(back["data"], canonical["data"])
    meta = datasets.imaging_meta("x", canonical)
    assert meta.sub_pixels_pixelization == 4 * meta.pixels
