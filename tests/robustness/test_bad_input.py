"""Every malformed request gets a 4xx problem naming the field, and the service stays ready afterwards.

One table: each row builds a request against the shared ``robust`` stack (1 MB bodies, B <= 64, 50k sub-pixels)
and states the answer's status, problem type and the ``errors[*].loc`` that must name the culprit.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgpack
import numpy as np
import pytest

from service.contract import problems
from tests.service.data import as_json, imaging, inversion, rect_constant
from tests.service.http import MSGPACK, assert_problem, packb

INVALID, MALFORMED, TOO_LARGE = problems.INVALID_INPUT, problems.MALFORMED_BODY, problems.TOO_LARGE
LO = ["body", "linear_objects", 0]


@dataclass
class Ctx:
    dataset_id: str
    pixels: int
    sub_pixels: int


@dataclass
class Row:
    name: str
    build: Callable[[Ctx], tuple[str, str, dict[str, Any]]]  # -> (method, path, httpx keyword arguments)
    status: int
    type: str
    loc: list | None


def dataset(**changes: Any) -> Callable[[Ctx], tuple]:
    """POST /datasets (msgpack) with ``changes`` applied to a valid 12 x 12 dataset (callables get the body)."""

    def build(ctx: Ctx) -> tuple:
        body = imaging(seed=7)
        for key, value in changes.items():
            if callable(value):
                value(body)
            else:
                body[key] = value
        return "POST", "/datasets", {"content": packb(body), "headers": {"content-type": MSGPACK}}

    return build


def raw(path: str, content: bytes, ctype: str = MSGPACK, **headers: str) -> Callable[[Ctx], tuple]:
    return lambda ctx: ("POST", path, {"content": content, "headers": {"content-type": ctype, **headers}})


def inv(*objects: Any, **extra: Any) -> Callable[[Ctx], tuple]:
    """POST /inversions (msgpack); objects may be callables of the context (for dataset-sized arrays)."""

    def build(ctx: Ctx) -> tuple:
        objs = [o(ctx) if callable(o) else o for o in objects] or [rect_constant()]
        body = {**inversion(ctx.dataset_id, *objs), **extra}
        return "POST", "/inversions", {"content": packb(body), "headers": {"content-type": MSGPACK}}

    return build


def inv_json(body: Callable[[Ctx], Any]) -> Callable[[Ctx], tuple]:
    return lambda ctx: ("POST", "/inversions", {"json": as_json(body(ctx))})


def mapper(**fields: Any) -> dict:
    return {"type": "mapper", "mesh": {"type": "rectangular_uniform", "shape": [4, 4]},
            "regularization": {"type": "constant", "coefficient": 1.0}, **fields}


def delaunay(vertices: Any) -> dict:
    return {"type": "mapper", "mesh": {"type": "delaunay", "vertices": np.asarray(vertices, dtype=float)},
            "regularization": {"type": "constant", "coefficient": 1.0}}


def _set_inside(name: str, value: float) -> Callable[[dict], None]:
    def change(body: dict) -> None:
        body[name][~body["mask"]] = np.where(np.arange((~body["mask"]).sum()) % 7 == 0, value, 0.05)
    return change


def _set_pixel(name: str, value: float) -> Callable[[dict], None]:
    return lambda body: body[name].__setitem__((6, 6), value)


BIG = imaging(ny=300, nx=300, radius=20)  # about 1.4 MB as msgpack; the robust stack accepts 1 MB
MID = imaging(ny=150, nx=150, radius=20)  # 383 kB as binary msgpack, 429 kB with plain lists, 1.1 MB as JSON
JSON = "application/json"


def keys(n: int, **body: Any) -> dict:
    return {**body, **{f"k{i:06d}": 0 for i in range(n)}}


def reg(scheme: str, **params: Any) -> Callable[[Ctx], dict]:
    """A rectangular mapper regularized by ``scheme`` (with an adapt image, which every scheme tolerates)."""
    return lambda ctx: mapper(regularization={"type": scheme, **params}, adapt_image=np.ones(ctx.pixels))

ROWS = [
    # ----------------------------------------------------------------------------------- datasets: values
    Row("noise non-positive inside the mask", dataset(noise_map=_set_inside("noise_map", -1.0)), 422, INVALID,
        ["body", "noise_map"]),
    Row("noise zero inside the mask", dataset(noise_map=_set_inside("noise_map", 0.0)), 422, INVALID,
        ["body", "noise_map"]),
    Row("noise infinite inside the mask", dataset(noise_map=_set_pixel("noise_map", np.inf)), 422, INVALID,
        ["body", "noise_map"]),
    Row("noise NaN inside the mask", dataset(noise_map=_set_pixel("noise_map", np.nan)), 422, INVALID,
        ["body", "noise_map"]),
    Row("data NaN", dataset(data=_set_pixel("data", np.nan)), 422, INVALID, ["body", "data"]),
    Row("data Inf", dataset(data=_set_pixel("data", -np.inf)), 422, INVALID, ["body", "data"]),
    Row("even-sized PSF", dataset(psf=np.ones((4, 4))), 422, INVALID, ["body", "psf"]),
    Row("PSF with NaN", dataset(psf=np.array([[0, 1, 0], [1, np.nan, 1], [0, 1, 0.0]])), 422, INVALID,
        ["body", "psf"]),
    Row("PSF summing to zero", dataset(psf=np.array([[1, 0, 0], [0, 0, 0], [0, 0, -1.0]])), 422, INVALID,
        ["body", "psf"]),
    Row("noise map of another shape", dataset(noise_map=np.ones((12, 11))), 422, INVALID, ["body", "noise_map"]),
    Row("mask of another shape", dataset(mask=np.zeros((11, 12), bool)), 422, INVALID, ["body", "mask"]),
    Row("1-D data", dataset(data=np.ones(12)), 422, INVALID, ["body", "data"]),
    Row("fully masked data", dataset(mask=np.ones((12, 12), bool)), 422, INVALID, ["body", "mask"]),
    Row("over-sampling beyond the sub-pixel limit", dataset(over_sample_size_pixelization=32), 422, INVALID,
        ["body", "over_sample_size_pixelization"]),
    Row("over-sampling zero", dataset(over_sample_size_lp=0), 422, INVALID, ["body", "over_sample_size_lp"]),
    Row("pixel scale zero", dataset(pixel_scales=0.0), 422, INVALID, ["body", "pixel_scales"]),
    Row("non-finite origin", dataset(origin=[np.nan, 0.0]), 422, INVALID, ["body", "origin"]),
    # ----------------------------------------------------------------------------------- datasets: types
    Row("string pixel scale", dataset(pixel_scales="small"), 422, INVALID, ["body", "pixel_scales"]),
    Row("string data", dataset(data="an image"), 422, INVALID, ["body", "data"]),
    Row("complex data", dataset(data=np.ones((12, 12), complex)), 422, INVALID, ["body", "data"]),
    Row("mask of twos", dataset(mask=np.full((12, 12), 2.0)), 422, INVALID, ["body", "mask"]),
    Row("unknown kind", dataset(kind="spectrum"), 422, INVALID, ["body", "kind"]),
    Row("unknown field", dataset(colour="red"), 422, INVALID, ["body", "colour"]),
    Row("missing field", dataset(noise_map=lambda b: b.pop("noise_map")), 422, INVALID, ["body", "noise_map"]),
    # ----------------------------------------------------------------------------------- wire format
    Row("truncated msgpack", raw("/datasets", packb(imaging())[:1500]), 400, MALFORMED, ["body"]),
    Row("truncated msgpack inversion", raw("/inversions", packb({"dataset_id": "x", "linear_objects": []})[:9]),
        400, MALFORMED, ["body"]),
    Row("invalid JSON", raw("/datasets", b'{"kind": "imaging", ', "application/json"), 400, MALFORMED, ["body"]),
    Row("empty body", raw("/inversions", b"", "application/json"), 400, MALFORMED, ["body"]),
    Row("body not an object", raw("/datasets", msgpack.packb([1, 2, 3])), 422, INVALID, ["body"]),
    Row("big-endian dtype", dataset(noise_map={"dtype": ">f8", "shape": [12, 12], "data": b"\0" * 1152}), 422,
        INVALID, ["body", "noise_map"]),
    Row("object dtype", dataset(data={"dtype": "|O", "shape": [12, 12], "data": b"\0" * 1152}), 422, INVALID,
        ["body", "data"]),
    Row("void dtype", dataset(psf={"dtype": "|V8", "shape": [3, 3], "data": b"\0" * 72}), 422, INVALID,
        ["body", "psf"]),
    Row("bytes shorter than the shape", dataset(data={"dtype": "<f8", "shape": [12, 12], "data": b"\0" * 1144}),
        422, INVALID, ["body", "data"]),
    Row("bytes longer than the shape", dataset(mask={"dtype": "|b1", "shape": [12, 12], "data": b"\0" * 145}),
        422, INVALID, ["body", "mask"]),
    Row("negative shape", dataset(data={"dtype": "<f8", "shape": [-1, 12], "data": b""}), 422, INVALID,
        ["body", "data"]),
    Row("body over the size limit", raw("/datasets", packb(BIG)), 413, TOO_LARGE, ["body"]),
    Row("JSON nested 1000 deep", raw("/inversions", b"[" * 1000 + b"]" * 1000, JSON), 400, MALFORMED, ["body"]),
    Row("JSON integer of 5000 digits", raw("/datasets", b'{"kind": "imaging", "psf": ' + b"9" * 5000 + b"}", JSON),
        400, MALFORMED, ["body"]),
    Row("msgpack nested 2000 deep", raw("/inversions", b"\x91" * 2000 + b"\xc0"), 400, MALFORMED, ["body"]),
    Row("80000 unknown keys", raw("/inversions", packb(keys(80_000, dataset_id="x", linear_objects=[]))), 422,
        INVALID, ["body"]),
    Row("20000 unknown keys in JSON", raw("/inversions", json.dumps(keys(20_000, dataset_id="x")).encode(), JSON),
        422, INVALID, ["body"]),
    Row("80000 unknown settings", inv(settings=keys(80_000)), 422, INVALID, ["body", "settings"]),
    Row("JSON body over the JSON limit", raw("/datasets", json.dumps(as_json(MID)).encode(), JSON), 413, TOO_LARGE,
        ["body"]),
    Row("plain-list msgpack over the JSON limit", raw("/datasets", msgpack.packb(as_json(MID))), 413, TOO_LARGE,
        ["body"]),
    Row("JSON integer beyond float64", inv_json(lambda ctx: inversion(ctx.dataset_id, rect_constant(10**400))), 422,
        INVALID, [*LO, "regularization", "coefficient"]),
    Row("100000 linear objects", inv_json(lambda ctx: {"dataset_id": ctx.dataset_id, "linear_objects": [0] * 100_000}),
        422, INVALID, ["body", "linear_objects"]),
    # ----------------------------------------------------------------------------------- inversions
    Row("unknown dataset", lambda ctx: inv(dataset_id="f" * 64)(ctx), 404, problems.NOT_FOUND,
        ["body", "dataset_id"]),
    Row("empty object list", inv_json(lambda ctx: {"dataset_id": ctx.dataset_id, "linear_objects": []}), 422,
        INVALID, ["body", "linear_objects"]),
    Row("objects not a list", inv_json(lambda ctx: {"dataset_id": ctx.dataset_id, "linear_objects": "mapper"}),
        422, INVALID, ["body", "linear_objects"]),
    Row("dataset id a number", inv_json(lambda ctx: {"dataset_id": 5, "linear_objects": [rect_constant()]}), 422,
        INVALID, ["body", "dataset_id"]),
    Row("unknown object type", inv({"type": "pixelization"}), 422, INVALID, LO),
    Row("unknown mesh", inv(mapper(mesh={"type": "voronoi", "shape": [4, 4]})), 422, INVALID, [*LO, "mesh"]),
    Row("unknown regularization", inv(mapper(regularization={"type": "smooth", "coefficient": 1.0})), 422,
        INVALID, [*LO, "regularization"]),
    Row("unknown setting", inv(settings={"use_gpu": True}), 422, INVALID, ["body", "settings", "use_gpu"]),
    Row("setting of the wrong type", inv(settings={"use_mixed_precision": "maybe"}), 422, INVALID,
        ["body", "settings", "use_mixed_precision"]),
    Row("negative diagonal setting", inv(settings={"no_regularization_add_to_curvature_diag_value": -1}), 422,
        INVALID, ["body", "settings", "no_regularization_add_to_curvature_diag_value"]),
    Row("unknown output", inv(outputs=["everything"]), 422, INVALID, ["body", "outputs", 0]),
    Row("mesh too small", inv(mapper(mesh={"type": "rectangular_uniform", "shape": [2, 8]})), 422, INVALID,
        [*LO, "mesh", "shape"]),
    Row("adapt-density mesh not square",
        inv(mapper(mesh={"type": "rectangular_bilinear_adapt_density", "shape": [4, 5]})), 422, INVALID,
        [*LO, "mesh", "shape"]),
    Row("too few vertices", inv(delaunay([[0, 0], [1, 1]])), 422, INVALID, [*LO, "mesh", "vertices"]),
    Row("collinear vertices", inv(delaunay([[0, 0], [0, 1], [0, 2], [0, 3]])), 422, INVALID,
        [*LO, "mesh", "vertices"]),
    Row("coincident vertices", inv(delaunay([[0.5, 0.5]] * 5)), 422, INVALID, [*LO, "mesh", "vertices"]),
    Row("one flat batch element", inv(delaunay([[[0, 0], [1, 0], [0, 1]], [[0, 0], [1, 1], [2, 2]]])), 422,
        INVALID, [*LO, "mesh", "vertices"]),
    Row("infinite vertex", inv(delaunay([[0, 0], [1, 0], [0, np.inf]])), 422, INVALID, [*LO, "mesh", "vertices"]),
    Row("vertices of the wrong width", inv(delaunay(np.zeros((5, 3)))), 422, INVALID, [*LO, "mesh", "vertices"]),
    Row("zeroed pixels = all vertices",
        inv({**delaunay([[0, 0], [1, 0], [0, 1]]), "mesh": {"type": "delaunay", "vertices": [[0, 0], [1, 0], [0, 1]],
                                                           "zeroed_pixels": 3}}), 422, INVALID,
        [*LO, "mesh", "zeroed_pixels"]),
    Row("source grid of another shape", inv(mapper(source_grid=np.zeros((7, 2)))), 422, INVALID,
        [*LO, "source_grid"]),
    Row("source grid with NaN", inv(lambda ctx: mapper(source_grid=np.full((ctx.sub_pixels, 2), np.nan))), 422,
        INVALID, [*LO, "source_grid"]),
    Row("source grid with Inf", inv(lambda ctx: mapper(source_grid=np.full((ctx.sub_pixels, 2), np.inf))), 422,
        INVALID, [*LO, "source_grid"]),
    Row("adapt image missing", inv(mapper(regularization={"type": "adapt"})), 422, INVALID, [*LO, "adapt_image"]),
    Row("adapt image of another length", inv(mapper(regularization={"type": "adapt"}, adapt_image=np.ones(5))),
        422, INVALID, [*LO, "adapt_image"]),
    Row("split scheme on a rectangular mesh", inv(mapper(regularization={"type": "constant_split"})), 422,
        INVALID, [*LO, "regularization"]),
    Row("coefficient a string", inv(mapper(regularization={"type": "constant", "coefficient": "high"})), 422,
        INVALID, [*LO, "regularization", "coefficient"]),
    Row("coefficient NaN", inv(mapper(regularization={"type": "constant", "coefficient": np.nan})), 422, INVALID,
        [*LO, "regularization", "coefficient"]),
    Row("coefficient 2-D", inv(mapper(regularization={"type": "constant", "coefficient": np.ones((2, 2))})), 422,
        INVALID, [*LO, "regularization", "coefficient"]),
    Row("negative constant coefficient", inv(reg("constant", coefficient=-1.5)), 422, INVALID,
        [*LO, "regularization", "coefficient"]),
    Row("negative zeroth coefficient on gaussians",
        inv({"type": "gaussians", "centre": [0, 0], "ell_comps": [0, 0], "sigmas": [0.1],
             "regularization": {"type": "zeroth", "coefficient": -2.0}}), 422, INVALID,
        [*LO, "regularization", "coefficient"]),
    Row("negative inner coefficient", inv(reg("adapt", inner_coefficient=-1.0)), 422, INVALID,
        [*LO, "regularization", "inner_coefficient"]),
    Row("negative brightness coefficient", inv(reg("brightness_zeroth", coefficient=-1.0)), 422, INVALID,
        [*LO, "regularization", "coefficient"]),
    Row("negative gaussian kernel coefficient", inv(reg("gaussian_kernel", coefficient=-1.0)), 422, INVALID,
        [*LO, "regularization", "coefficient"]),
    Row("negative exponential kernel coefficient", inv(reg("exponential_kernel", coefficient=-1.0)), 422, INVALID,
        [*LO, "regularization", "coefficient"]),
    Row("negative coefficient in one batch lane", inv(reg("constant", coefficient=np.array([1.0, 2.0, -1.5]))), 422,
        INVALID, [*LO, "regularization", "coefficient"]),
    Row("non-positive kernel scale",
        inv(mapper(regularization={"type": "gaussian_kernel", "coefficient": 1.0, "scale": 0.0})), 422, INVALID,
        [*LO, "regularization", "scale"]),
    Row("batch axes that disagree",
        inv({"type": "gaussians", "centre": np.zeros((2, 2)), "ell_comps": np.zeros((3, 2)), "sigmas": [0.1]}),
        422, INVALID, [*LO, "ell_comps"]),
    Row("batch axes of two objects that disagree",
        inv(rect_constant(np.ones(3)), {"type": "gaussians", "centre": np.zeros((4, 2)), "ell_comps": [0, 0],
                                        "sigmas": [0.1]}), 422, INVALID, ["body", "linear_objects", 1, "centre"]),
    Row("batch over the limit", inv(rect_constant(np.ones(65))), 422, INVALID,
        [*LO, "regularization", "coefficient"]),
    Row("empty batch", inv(rect_constant(np.ones(0))), 422, INVALID, [*LO, "regularization", "coefficient"]),
    Row("negative sigma", inv({"type": "gaussians", "centre": [0, 0], "ell_comps": [0, 0], "sigmas": [0.1, -1]}),
        422, INVALID, [*LO, "sigmas"]),
    Row("centre not a pair", inv({"type": "gaussians", "centre": [0, 0, 0], "ell_comps": [0, 0], "sigmas": [1]}),
        422, INVALID, [*LO, "centre"]),
    Row("basis images of another size", inv({"type": "basis", "images": np.ones((2, 5))}), 422, INVALID,
        [*LO, "images"]),
    Row("kernel scheme on gaussians (judged by the worker)",
        inv({"type": "gaussians", "centre": [0, 0], "ell_comps": [0, 0], "sigmas": [0.1, 0.2],
             "regularization": {"type": "gaussian_kernel", "coefficient": 1.0, "scale": 1.0}}), 422, INVALID,
        [*LO, "regularization", "type"]),
    # ----------------------------------------------------------------------------------- other routes
    Row("unknown include", lambda ctx: ("GET", f"/datasets/{ctx.dataset_id}", {"params": {"include": "all"}}), 422,
        INVALID, ["query", "include"]),
]


@pytest.fixture(scope="module")
def ctx(robust_dataset) -> Ctx:
    dataset_id, meta = robust_dataset
    return Ctx(dataset_id, meta["pixels"], meta["sub_pixels_pixelization"])


def test_every_malformed_request_is_a_4xx_problem_naming_the_field(robust, ctx):
    client, failures = robust.client, []
    for row in ROWS:
        method, path, kwargs = row.build(ctx)
        kwargs.setdefault("headers", {})["prefer"] = "wait=60"
        r = client.request(method, path, **kwargs)
        try:
            body = assert_problem(r, row.status, row.loc)
            assert body["type"] == row.type, body
            assert body.get("detail"), body
        except AssertionError as exc:
            failures.append(f"{row.name}: {exc}")
    assert not failures, "\n".join(failures)

    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["ready"], ready.text
    assert all(w.alive() for w in robust.workers)
    good = client.post("/inversions", json=inversion(ctx.dataset_id), headers={"prefer": "wait=60"})
    assert good.status_code == 200 and np.isfinite(good.json()["figure_of_merit"]), good.text


def test_media_type_errors(robust, ctx):
    r = robust.client.post("/datasets", content=b"a,b", headers={"content-type": "text/csv"})
    assert assert_problem(r, 415)["type"] == problems.UNSUPPORTED_MEDIA_TYPE
    r = robust.client.get(f"/datasets/{ctx.dataset_id}", headers={"accept": "text/html"})
    assert assert_problem(r, 406)["type"] == problems.NOT_ACCEPTABLE


def test_a_singular_system_is_a_nan_figure_of_merit_not_an_error(robust, ctx):
    """Unregularized, identical basis images with no diagonal addition: H is singular; documented NaN answer."""
    body = inversion(ctx.dataset_id, {"type": "basis", "images": np.ones((2, ctx.pixels))},
                     settings={"no_regularization_add_to_curvature_diag_value": 0.0, "use_positive_only_solver": False})
    r = robust.client.post("/inversions", json=as_json(body), headers={"prefer": "wait=60"})
    assert r.status_code == 200, r.text
    assert r.json()["figure_of_merit"] in ("NaN", "-Infinity")
    assert all(w.alive() for w in robust.workers)


def test_error_lists_are_capped_and_count_the_rest(robust, ctx):
    body = keys(50, **inversion(ctx.dataset_id))
    r = robust.client.post("/inversions", content=packb(body), headers={"content-type": MSGPACK})
    problem = assert_problem(r, 422, ["body", "k000000"], "unknown field")
    assert len(problem["errors"]) == problems.MAX_ERRORS + 1
    assert problem["errors"][-1] == {"loc": [], "msg": f"{50 - problems.MAX_ERRORS} more errors were left out"}
    assert "(and 49 more; the first 20 are listed)" in problem["detail"]


def test_json_and_plain_list_bodies_have_their_own_limit(robust):
    """Bodies whose arrays are text (JSON) or plain lists (msgpack) take their own, lower limit, named in the 413;
    the same dataset as binary msgpack is accepted, and so are such bodies under the limit (decoded in a decoder
    process)."""
    for content, ctype in [(json.dumps(as_json(MID)).encode(), JSON), (msgpack.packb(as_json(MID)), MSGPACK)]:
        problem = assert_problem(robust.client.post("/datasets", content=content, headers={"content-type": ctype}),
                                 413)
        assert "300000 bytes (limits.max_json_body_bytes)" in problem["detail"], problem
    r = robust.client.post("/datasets", content=packb(MID), headers={"content-type": MSGPACK})
    assert r.status_code in (200, 201), r.text
    small = imaging(ny=60, nx=60, radius=5)
    ids = set()
    for content, ctype in [(json.dumps(as_json(small)).encode(), JSON), (msgpack.packb(as_json(small)), MSGPACK),
                           (packb(small), MSGPACK)]:
        r = robust.client.post("/datasets", content=content, headers={"content-type": ctype})
        assert r.status_code in (200, 201), r.text
        ids.add(r.json()["dataset_id"])
    assert len(ids) == 1  # the three encodings describe one dataset
