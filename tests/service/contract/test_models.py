"""Request models: settings resolution, unknown fields, discriminated unions, error locations."""

import numpy as np
import pytest
from pydantic import ValidationError

from service.config import InversionDefaults
from service.contract.models import InversionRequest, ResolvedSettings, Settings, resolve_settings
from service.contract.validation import errors_from_pydantic

DEFAULTS = ResolvedSettings(**InversionDefaults().model_dump())


def test_settings_has_exactly_autoarrays_five_fields():
    assert set(Settings.model_fields) == {
        "use_mixed_precision", "use_positive_only_solver", "use_edge_zeroed_pixels", "use_border_relocator",
        "no_regularization_add_to_curvature_diag_value"}


def test_autoarray_defaults():
    assert DEFAULTS.model_dump() == {
        "use_mixed_precision": False, "use_positive_only_solver": True, "use_edge_zeroed_pixels": True,
        "use_border_relocator": False, "no_regularization_add_to_curvature_diag_value": 1e-3}


@pytest.mark.parametrize("given", [{}, {"use_positive_only_solver": False},
                                   {"use_mixed_precision": True, "use_positive_only_solver": False,
                                    "use_edge_zeroed_pixels": False, "use_border_relocator": True,
                                    "no_regularization_add_to_curvature_diag_value": 0.5}])
def test_resolution_is_field_by_field(given):
    resolved = resolve_settings(Settings(**given), DEFAULTS)
    assert resolved.model_dump() == {**DEFAULTS.model_dump(), **given}


def test_unknown_setting_is_named():
    with pytest.raises(ValidationError) as err:
        InversionRequest.model_validate({"dataset_id": "x", "linear_objects": [{"type": "basis", "images": [[1]]}],
                                         "settings": {"use_gpu": True}})
    assert errors_from_pydantic(err.value) == [(("body", "settings", "use_gpu"), "unknown field 'use_gpu'")]


def test_union_tags_are_not_in_locations():
    body = {"dataset_id": "x", "linear_objects": [
        {"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [2, 9]},
         "regularization": {"type": "constant", "coefficient": "big"}}]}
    with pytest.raises(ValidationError) as err:
        InversionRequest.model_validate(body)
    locs = {loc for loc, _ in errors_from_pydantic(err.value)}
    assert locs == {("body", "linear_objects", 0, "mesh", "shape"),
                    ("body", "linear_objects", 0, "regularization", "coefficient")}


def test_unknown_mesh_names_the_choices():
    body = {"dataset_id": "x", "linear_objects": [{"type": "mapper", "mesh": {"type": "voronoi"}}]}
    with pytest.raises(ValidationError) as err:
        InversionRequest.model_validate(body)
    [(loc, msg)] = errors_from_pydantic(err.value)
    assert loc == ("body", "linear_objects", 0, "mesh") and "rectangular_uniform" in msg and "voronoi" in msg


def test_batched_numbers_and_arrays():
    req = InversionRequest.model_validate({"dataset_id": "x", "linear_objects": [
        {"type": "gaussians", "centre": [0, 0], "ell_comps": [0, 0], "sigmas": [[0.1, 0.2]] * 3,
         "regularization": {"type": "zeroth", "coefficient": [1, 2, 3]}}]})
    obj = req.linear_objects[0]
    assert obj.sigmas.shape == (3, 2) and obj.centre.dtype == np.float64
    assert obj.regularization.coefficient.tolist() == [1.0, 2.0, 3.0]


def test_non_finite_regularization_number_refused():
    with pytest.raises(ValidationError, match="finite"):
        InversionRequest.model_validate({"dataset_id": "x", "linear_objects": [
            {"type": "basis", "images": [[1.0]], "regularization": {"type": "zeroth", "coefficient": "NaN"}}]})


def test_empty_linear_objects_refused():
    with pytest.raises(ValidationError) as err:
        InversionRequest.model_validate({"dataset_id": "x", "linear_objects": []})
    assert errors_from_pydantic(err.value)[0][0] == ("body", "linear_objects")


@pytest.mark.parametrize(("field", "value", "words"), [
    ("linear_objects", [0] * 1_000_000, "has 1000000 entries; at most 256"),
    ("outputs", ["model_image"] * 65, "has 65 entries; at most 64"),
])
def test_long_lists_are_one_error_not_one_per_entry(field, value, words):
    body = {"dataset_id": "x", "linear_objects": [{"type": "basis", "images": [[1.0]]}], field: value}
    with pytest.raises(ValidationError) as err:
        InversionRequest.model_validate(body)
    [(loc, msg)] = errors_from_pydantic(err.value)
    assert loc == ("body", field) and words in msg


@pytest.mark.parametrize("place", ["coefficient", "pixel_scales"])
def test_integers_beyond_float64_are_validation_errors(place):
    """JSON integers have no size limit; 10**400 must be a 422 naming the field, not an OverflowError (500)."""
    from service.contract.models import ImagingDataset

    huge = 10**400
    with pytest.raises(ValidationError) as err:
        if place == "coefficient":
            InversionRequest.model_validate({"dataset_id": "x", "linear_objects": [
                {"type": "basis", "images": [[1.0]], "regularization": {"type": "zeroth", "coefficient": huge}}]})
        else:
            ImagingDataset.model_validate({"kind": "imaging", "data": [[1.0]], "noise_map": [[1.0]], "psf": [[1.0]],
                                           "mask": [[False]], "pixel_scales": huge})
    [(loc, msg)] = errors_from_pydantic(err.value)
    assert loc[-1] == place and "beyond the range of a float64" in msg
