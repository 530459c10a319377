"""Dataset and request checks: every error names its field and says what is wrong."""

import numpy as np
import pytest

from service.contract import datasets
from service.contract.models import ImagingDataset, InversionRequest
from service.contract.validation import InvalidInput, check_imaging, check_inversion

from ..data import imaging


def errors_of(fn, *args):
    with pytest.raises(InvalidInput) as err:
        fn(*args)
    return err.value.errors


def dataset(**changes):
    return ImagingDataset.model_validate({**imaging(), **changes})


def meta_of(ds):
    canonical = datasets.canonical_imaging(ds)
    return datasets.imaging_meta("id", canonical)


def test_valid_dataset_passes():
    check_imaging(dataset())


@pytest.mark.parametrize(("changes", "field", "words"), [
    ({"noise_map": np.zeros((12, 12))}, "noise_map", "non-positive values inside the mask"),
    ({"noise_map": np.full((12, 12), np.inf)}, "noise_map", "non-finite"),
    ({"data": np.full((12, 12), np.nan)}, "data", "non-finite values inside the mask"),
    ({"psf": np.ones((2, 3))}, "psf", "odd sides"),
    ({"psf": np.zeros((3, 3))}, "psf", "sums to zero"),
    ({"psf": np.full((3, 3), np.nan)}, "psf", "non-finite"),
    ({"mask": np.ones((12, 12), dtype=bool)}, "mask", "at least one pixel"),
    ({"noise_map": np.ones((11, 12))}, "noise_map", "shape [11, 12]"),
])
def test_bad_datasets(changes, field, words):
    [(loc, msg)] = errors_of(check_imaging, dataset(**changes))
    assert loc == ("body", field) and words in msg


def test_masked_pixels_may_hold_anything():
    body = imaging()
    body["data"][body["mask"]] = np.nan
    body["noise_map"][body["mask"]] = 0.0
    check_imaging(ImagingDataset.model_validate(body))


def request(*objects):
    return InversionRequest.model_validate({"dataset_id": "id", "linear_objects": list(objects)})


def test_source_grid_rows_must_match_the_dataset():
    meta = meta_of(dataset())
    req = request({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]},
                   "source_grid": np.zeros((meta.sub_pixels_pixelization - 1, 2))})
    [(loc, msg)] = errors_of(check_inversion, req, meta, 10)
    assert loc == ("body", "linear_objects", 0, "source_grid") and f"({meta.sub_pixels_pixelization}, 2)" in msg


def test_batch_axes_must_agree_and_respect_the_limit():
    meta = meta_of(dataset())
    grid = np.zeros((3, meta.sub_pixels_pixelization, 2))
    req = request({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]}, "source_grid": grid,
                   "regularization": {"type": "constant", "coefficient": [1.0, 2.0]}})
    [(loc, msg)] = errors_of(check_inversion, req, meta, 10)
    assert loc == ("body", "linear_objects", 0, "regularization", "coefficient") and "length 2" in msg
    ok = request({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]}, "source_grid": grid})
    assert check_inversion(ok, meta, 10) == 3
    [(_, msg)] = errors_of(check_inversion, ok, meta, 2)
    assert "limit of 2" in msg


def test_delaunay_needs_three_vertices_and_fewer_zeroed():
    meta = meta_of(dataset())
    few = request({"type": "mapper", "mesh": {"type": "delaunay", "vertices": [[0, 0], [1, 1]]}})
    assert "at least 3 vertices" in errors_of(check_inversion, few, meta, 10)[0][1]
    zeroed = request({"type": "mapper", "mesh": {"type": "delaunay", "vertices": np.eye(3)[:, :2],
                                                  "zeroed_pixels": 3}})
    assert errors_of(check_inversion, zeroed, meta, 10)[0][0][-1] == "zeroed_pixels"


def test_adaptive_schemes_need_an_adapt_image_of_length_n():
    meta = meta_of(dataset())
    req = request({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]},
                   "regularization": {"type": "adapt"}})
    assert errors_of(check_inversion, req, meta, 10)[0][0][-1] == "adapt_image"
    wrong = request({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]},
                     "regularization": {"type": "adapt"}, "adapt_image": np.ones(meta.pixels + 1)})
    assert f"({meta.pixels},)" in errors_of(check_inversion, wrong, meta, 10)[0][1]


def test_split_schemes_need_delaunay():
    meta = meta_of(dataset())
    req = request({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]},
                   "regularization": {"type": "constant_split"}})
    assert "delaunay" in errors_of(check_inversion, req, meta, 10)[0][1]


def test_basis_images_slim_or_native():
    meta = meta_of(dataset())
    assert check_inversion(request({"type": "basis", "images": np.ones((2, meta.pixels))}), meta, 10) is None
    assert check_inversion(request({"type": "basis", "images": np.ones((2, 12, 12))}), meta, 10) is None
    assert check_inversion(request({"type": "basis", "images": np.ones((5, 2, meta.pixels))}), meta, 10) == 5
    bad = request({"type": "basis", "images": np.ones((2, meta.pixels + 3))})
    assert errors_of(check_inversion, bad, meta, 10)[0][0][-1] == "images"


def test_gaussians_need_positive_sigmas():
    meta = meta_of(dataset())
    req = request({"type": "gaussians", "centre": [0, 0], "ell_comps": [0, 0], "sigmas": [0.1, -1]})
    assert errors_of(check_inversion, req, meta, 10) == [(("body", "linear_objects", 0, "sigmas"), "must be positive")]
