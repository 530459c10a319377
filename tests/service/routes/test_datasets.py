"""``/datasets`` over real HTTP: idempotent registration, metadata, grids, deletion, and every refusal."""

import msgpack
import numpy as np
import pytest

from service.contract import grids

from ..data import as_json, imaging
from ..http import MSGPACK, assert_problem, decoded, packb, post_msgpack


def test_registration_is_idempotent_across_encodings(bare):
    c = bare.client
    body = imaging(seed=11)
    first = c.post("/datasets", json=as_json(body))
    assert first.status_code == 201, first.text
    info = first.json()
    assert first.headers["location"] == f"/datasets/{info['dataset_id']}"
    again = c.post("/datasets", json=as_json(body))
    assert again.status_code == 200 and again.json() == info
    packed = post_msgpack(c, "/datasets", body)
    assert packed.status_code == 200 and decoded(packed)["dataset_id"] == info["dataset_id"]
    mask = body["mask"]
    assert info["pixels"] == int((~mask).sum()) and info["shape_native"] == [12, 12]
    assert info["sub_pixels_pixelization"] == info["pixels"] and info["kind"] == "imaging"


def test_metadata_grids_and_delete(bare):
    c = bare.client
    body = imaging(seed=12, sub=3)
    dataset_id = c.post("/datasets", json=as_json(body)).json()["dataset_id"]
    meta = c.get(f"/datasets/{dataset_id}").json()
    assert meta["image_grid"] is None and meta["sub_pixels_pixelization"] == 9 * meta["pixels"]

    r = c.get(f"/datasets/{dataset_id}", params={"include": "grids"}, headers={"accept": MSGPACK})
    info = decoded(r)
    scales, origin = (0.2, 0.2), (0.0, 0.0)
    np.testing.assert_array_equal(info["image_grid"], grids.pixel_centres(body["mask"], scales, origin))
    np.testing.assert_array_equal(info["pixelization_grid"], grids.over_sampled_grid(body["mask"], scales, origin, 3))
    js = c.get(f"/datasets/{dataset_id}?include=grids").json()
    np.testing.assert_allclose(np.array(js["pixelization_grid"]), info["pixelization_grid"], rtol=0, atol=1e-15)

    assert c.delete(f"/datasets/{dataset_id}").status_code == 204
    assert_problem(c.get(f"/datasets/{dataset_id}"), 404, words="no dataset")
    assert_problem(c.delete(f"/datasets/{dataset_id}"), 404)


@pytest.mark.parametrize(("change", "field", "words"), [
    (lambda b: b["noise_map"].__setitem__(~b["mask"], -1.0), "noise_map", "non-positive values inside the mask"),
    (lambda b: b["data"].__setitem__((6, 6), np.nan), "data", "1 non-finite value inside the mask"),
    (lambda b: b.__setitem__("psf", np.ones((4, 3))), "psf", "odd sides"),
    (lambda b: b.__setitem__("mask", np.ones((12, 12), dtype=bool)), "mask", "at least one pixel"),
    (lambda b: b.__setitem__("noise_map", np.ones((12, 11))), "noise_map", "shape"),
    (lambda b: b.__setitem__("over_sample_size_lp", 0), "over_sample_size_lp", "greater than or equal to 1"),
    (lambda b: b.__setitem__("kind", "spectrum"), "kind", "imaging"),
    (lambda b: b.__setitem__("colour", "red"), "colour", "unknown field"),
])
def test_invalid_datasets_name_the_field(bare, change, field, words):
    body = imaging()
    change(body)
    assert_problem(bare.client.post("/datasets", json=as_json(body)), 422, ["body", field], words)


@pytest.mark.parametrize("dtype", [">f8", "|O", "|V8"])
def test_unsafe_dtypes_refused(bare, dtype):
    body = imaging()
    body["noise_map"] = {"dtype": dtype, "shape": [12, 12], "data": b"\0" * 8 * 144}
    assert_problem(post_msgpack(bare.client, "/datasets", body), 422, ["body", "noise_map"], "not accepted")


def test_byte_length_mismatch_refused(bare):
    body = imaging()
    body["data"] = {"dtype": "<f8", "shape": [12, 12], "data": b"\0" * (8 * 144 - 8)}
    assert_problem(post_msgpack(bare.client, "/datasets", body), 422, ["body", "data"], "needs 1152")


def test_truncated_msgpack_and_bad_json(bare):
    raw = packb(imaging())
    r = bare.client.post("/datasets", content=raw[: len(raw) // 2], headers={"content-type": MSGPACK})
    assert_problem(r, 400, ["body"], "not valid msgpack")
    r = bare.client.post("/datasets", content=b'{"kind": ', headers={"content-type": "application/json"})
    assert_problem(r, 400, ["body"], "not valid JSON")
    r = bare.client.post("/datasets", content=msgpack.packb([1, 2]), headers={"content-type": MSGPACK})
    assert_problem(r, 422, ["body"], "must be an object")


def test_415_and_406(bare):
    assert_problem(bare.client.post("/datasets", content=b"x", headers={"content-type": "text/csv"}), 415)
    r = bare.client.post("/datasets", json=as_json(imaging()), headers={"accept": "text/html"})
    assert_problem(r, 406, words="acceptable")


def test_body_size_limit(bare):
    big = imaging(ny=400, nx=400, radius=10)  # ~4 MB as msgpack, the bare stack allows 2 MB
    assert_problem(post_msgpack(bare.client, "/datasets", big), 413, words="limited to")


def test_masked_non_finite_values_are_fine(bare):
    body = imaging(seed=13)
    body["data"][body["mask"]] = np.nan
    body["noise_map"][body["mask"]] = np.inf
    r = post_msgpack(bare.client, "/datasets", body)
    assert r.status_code in (200, 201), r.text
