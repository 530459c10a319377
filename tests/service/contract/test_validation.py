"""Dataset and request checks: every error names its field and says what is wrong."""

import numpy as np
import pytest

from service.contract import datasets
from service.contract.models import ImagingDataset, InversionRequest, ResolvedSettings
from service.contract.validation import InvalidInput, check_imaging, check_inversion
from service.contract.vocabulary import NON_NEGATIVE_PARAMETERS, POSITIVE_PARAMETERS, REGULARIZATIONS

from ..data import imaging

SETTINGS = ResolvedSettings(use_mixed_precision=False, use_positive_only_solver=True, use_edge_zeroed_pixels=True,
                            use_border_relocator=False, no_regularization_add_to_curvature_diag_value=1e-3)


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
    [(loc, msg)] = errors_of(check_inversion, req, meta, 10, SETTINGS)
    assert loc == ("body", "linear_objects", 0, "source_grid") and f"({meta.sub_pixels_pixelization}, 2)" in msg


def test_batch_axes_must_agree_and_respect_the_limit():
    meta = meta_of(dataset())
    grid = np.zeros((3, meta.sub_pixels_pixelization, 2))
    req = request({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]}, "source_grid": grid,
                   "regularization": {"type": "constant", "coefficient": [1.0, 2.0]}})
    [(loc, msg)] = errors_of(check_inversion, req, meta, 10, SETTINGS)
    assert loc == ("body", "linear_objects", 0, "regularization", "coefficient") and "length 2" in msg
    ok = request({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]}, "source_grid": grid})
    assert check_inversion(ok, meta, 10, SETTINGS) == 3
    [(_, msg)] = errors_of(check_inversion, ok, meta, 2, SETTINGS)
    assert "limit of 2" in msg


def test_delaunay_needs_three_vertices_and_fewer_zeroed():
    meta = meta_of(dataset())
    few = request({"type": "mapper", "mesh": {"type": "delaunay", "vertices": [[0, 0], [1, 1]]}})
    assert "at least 3 vertices" in errors_of(check_inversion, few, meta, 10, SETTINGS)[0][1]
    zeroed = request({"type": "mapper", "mesh": {"type": "delaunay", "vertices": np.eye(3)[:, :2],
                                                  "zeroed_pixels": 3}})
    assert errors_of(check_inversion, zeroed, meta, 10, SETTINGS)[0][0][-1] == "zeroed_pixels"


def test_adaptive_schemes_need_an_adapt_image_of_length_n():
    meta = meta_of(dataset())
    req = request({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]},
                   "regularization": {"type": "adapt"}})
    assert errors_of(check_inversion, req, meta, 10, SETTINGS)[0][0][-1] == "adapt_image"
    wrong = request({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]},
                     "regularization": {"type": "adapt"}, "adapt_image": np.ones(meta.pixels + 1)})
    assert f"({meta.pixels},)" in errors_of(check_inversion, wrong, meta, 10, SETTINGS)[0][1]


def test_split_schemes_need_delaunay():
    meta = meta_of(dataset())
    req = request({"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]},
                   "regularization": {"type": "constant_split"}})
    assert "delaunay" in errors_of(check_inversion, req, meta, 10, SETTINGS)[0][1]


def test_basis_images_slim_or_native():
    meta = meta_of(dataset())
    assert check_inversion(request({"type": "basis", "images": np.ones((2, meta.pixels))}), meta, 10, SETTINGS) is None
    assert check_inversion(request({"type": "basis", "images": np.ones((2, 12, 12))}), meta, 10, SETTINGS) is None
    assert check_inversion(request({"type": "basis", "images": np.ones((5, 2, meta.pixels))}), meta, 10, SETTINGS) == 5
    bad = request({"type": "basis", "images": np.ones((2, meta.pixels + 3))})
    assert errors_of(check_inversion, bad, meta, 10, SETTINGS)[0][0][-1] == "images"


def test_gaussians_need_positive_sigmas():
    meta = meta_of(dataset())
    req = request({"type": "gaussians", "centre": [0, 0], "ell_comps": [0, 0], "sigmas": [0.1, -1]})
    assert errors_of(check_inversion, req, meta, 10, SETTINGS) == [
        (("body", "linear_objects", 0, "sigmas"), "must be positive")]


def test_traced_over_sampled_grids_need_their_pixel_centres_where_the_mesh_or_relocation_uses_them():
    meta = meta_of(dataset(over_sample_size_pixelization=2))
    grid = np.zeros((meta.sub_pixels_pixelization, 2))
    rect = {"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]}, "source_grid": grid}
    assert check_inversion(request(rect), meta, 10, SETTINGS) is None
    relocating = SETTINGS.model_copy(update={"use_border_relocator": True})
    [(loc, msg)] = errors_of(check_inversion, request(rect), meta, 10, relocating)
    assert loc[-1] == "source_grid_slim" and "border relocation" in msg
    density = {**rect, "mesh": {"type": "rectangular_bilinear_adapt_density", "shape": [4, 4]}}
    [(loc, msg)] = errors_of(check_inversion, request(density), meta, 10, SETTINGS)
    assert loc[-1] == "source_grid_slim" and "rectangular_bilinear_adapt_density" in msg
    centres = np.zeros((meta.pixels, 2))
    assert check_inversion(request({**density, "source_grid_slim": centres}), meta, 10, relocating) is None


@pytest.mark.parametrize("obj", [{"type": "gaussians", "centre": [0, 0], "ell_comps": [0, 0], "sigmas": [0.1, 0.2]},
                                 {"type": "basis", "images": np.ones((2, 12, 12))}])
def test_objects_without_a_mesh_take_chain_regularizations_only(obj):
    meta = meta_of(dataset())
    assert check_inversion(request({**obj, "regularization": {"type": "zeroth"}}), meta, 10, SETTINGS) is None
    [(loc, msg)] = errors_of(check_inversion, request({**obj, "regularization": {"type": "gaussian_kernel"}}), meta,
                             10, SETTINGS)
    assert loc == ("body", "linear_objects", 0, "regularization", "type") and "needs a mesh" in msg


def _regularized(name: str, pixels: int, **params) -> dict:
    """A mapper that the scheme ``name`` accepts (Delaunay for split schemes, an adapt image for adaptive ones)."""
    scheme = REGULARIZATIONS[name]
    mesh = ({"type": "delaunay", "vertices": [[0, 0], [1, 0], [0, 1], [1, 1]]} if scheme.split
            else {"type": "rectangular_uniform", "shape": [4, 4]})
    obj = {"type": "mapper", "mesh": mesh, "regularization": {"type": name, **params}}
    return {**obj, "adapt_image": np.ones(pixels)} if scheme.adaptive else obj


NEGATIVE_PARAMETERS = [(name, p) for name, s in REGULARIZATIONS.items() for p in s.parameters
                       if p in NON_NEGATIVE_PARAMETERS]


@pytest.mark.parametrize(("name", "parameter"), NEGATIVE_PARAMETERS)
def test_negative_coefficients_are_refused_for_every_scheme_and_lane(name, parameter):
    """autoarray refuses negative coefficients; the service used to square the sign away (or give NaN)."""
    meta = meta_of(dataset())
    loc = ("body", "linear_objects", 0, "regularization", parameter)
    [(where, msg)] = errors_of(check_inversion, request(_regularized(name, meta.pixels, **{parameter: -1.5})), meta,
                               10, SETTINGS)
    assert where == loc and "non-negative" in msg and "-1.5" in msg
    lanes = request(_regularized(name, meta.pixels, **{parameter: [1.0, 0.0, 2.0, -1.5, -2.0]}))
    [(where, msg)] = errors_of(check_inversion, lanes, meta, 10, SETTINGS)
    assert where == loc and "lane 3 is -1.5 (and 1 more lane)" in msg
    assert check_inversion(request(_regularized(name, meta.pixels, **{parameter: 0.0})), meta, 10, SETTINGS) is None


def test_every_coefficient_and_scale_is_checked():
    """Each parameter of the vocabulary is either sign-checked here or documented as finite-only."""
    parameters = {p for s in REGULARIZATIONS.values() for p in s.parameters}
    assert parameters - NON_NEGATIVE_PARAMETERS - POSITIVE_PARAMETERS == {"signal_scale"}
    assert {n for n, _ in NEGATIVE_PARAMETERS} == set(REGULARIZATIONS)


@pytest.mark.parametrize("name", ["gaussian_kernel", "exponential_kernel"])
def test_kernel_scale_must_be_positive_in_every_lane(name):
    meta = meta_of(dataset())
    [(where, msg)] = errors_of(check_inversion, request(_regularized(name, meta.pixels, scale=[0.5, 0.0])), meta,
                               10, SETTINGS)
    assert where[-1] == "scale" and "must be positive: lane 1 is 0.0" in msg


@pytest.mark.parametrize("obj", [{"type": "gaussians", "centre": [0, 0], "ell_comps": [0, 0], "sigmas": [0.1, 0.2]},
                                 {"type": "basis", "images": np.ones((2, 12, 12))}])
@pytest.mark.parametrize("scheme", ["constant", "zeroth"])
def test_objects_without_a_mesh_refuse_negative_coefficients_too(obj, scheme):
    meta = meta_of(dataset())
    req = request({**obj, "regularization": {"type": scheme, "coefficient": -2.0}})
    [(loc, msg)] = errors_of(check_inversion, req, meta, 10, SETTINGS)
    assert loc[-1] == "coefficient" and "got -2.0" in msg


def test_a_negative_signal_scale_is_accepted():
    """autoarray leaves signal_scale (an exponent) unchecked; the service requires only that it is finite."""
    meta = meta_of(dataset())
    assert check_inversion(request(_regularized("adapt", meta.pixels, signal_scale=-1.0)), meta, 10,
                           SETTINGS) is None
