"""Accept / Content-Type / Prefer parsing and body decoding (unit level; the HTTP behaviour is tested in routes/
and tests/robustness/test_bad_input.py)."""

import json
import os
import time

import msgpack
import numpy as np
import pytest

from service import decoding
from service.bodies import _read_answer, _scratch_files, body_format
from service.contract import problems
from service.contract.models import InversionRequest
from service.contract.validation import InvalidInput
from service.errors import ProblemError
from service.negotiation import choose_media_type
from service.prefer import applied_header, parse_prefer
from tests.service.data import as_json
from tests.service.http import packb


@pytest.mark.parametrize(("accept", "expected"), [
    (None, "application/json"),
    ("*/*", "application/json"),
    ("application/*", "application/json"),
    ("application/vnd.msgpack", "application/vnd.msgpack"),
    ("application/x-msgpack", "application/x-msgpack"),
    ("application/json;q=0.5, application/vnd.msgpack", "application/vnd.msgpack"),
    ("application/vnd.msgpack;q=0.2, */*;q=0.1", "application/vnd.msgpack"),
    ("text/html, application/json;q=0.9", "application/json"),
    ("application/json;q=0, */*", "application/vnd.msgpack"),
])
def test_accept(accept, expected):
    assert choose_media_type(accept) == expected


@pytest.mark.parametrize("accept", ["text/html", "application/xml, text/*", "application/json;q=0"])
def test_not_acceptable(accept):
    with pytest.raises(ProblemError) as err:
        choose_media_type(accept)
    assert err.value.status == 406


@pytest.mark.parametrize(("ctype", "status"), [("text/plain", 415), ("application/xml", 415),
                                               ("application/json", 400), ("application/x-msgpack", 400)])
def test_body_errors(ctype, status):
    with pytest.raises(ProblemError) as err:
        decoding.decode(b"\xc1\xff{", body_format(ctype))
    assert err.value.status == status


GOOD = {"dataset_id": "x", "linear_objects": [{"type": "basis", "images": [[1.0]]}]}


def in_child(raw: bytes, fmt: str, model=InversionRequest):
    """``(problem, model)`` as a decoder process answers and the API reads back (one of them None)."""
    body_path, out_path = _scratch_files(bytearray(raw))
    try:
        outcome, problem = decoding.parse_in_child(body_path, out_path, fmt, model)
        return problem, (_read_answer(out_path, model) if outcome == "ok" else None)
    finally:
        os.unlink(body_path)
        os.unlink(out_path)


def _keys(n: int) -> dict:
    return {**GOOD, **{f"k{i:07d}": 0 for i in range(n)}}


def _nested(depth: int) -> dict:
    value: list = [0]
    for _ in range(depth - 1):
        value = [value]
    return {**GOOD, "x": value}


#: (name, raw body, format, status, words in the problem): every decode failure is a 400, 413 or 422
DECODE_FAILURES = [
    ("JSON nested 1000 deep", b"[" * 1000 + b"]" * 1000, "json", 400, "nests too deeply"),
    ("JSON nested 100000 deep", b"[" * 100_000, "json", 400, "nests too deeply"),
    ("JSON nested 40 deep (decodable)", json.dumps(_nested(40)).encode(), "json", 400, "nests too deeply"),
    ("JSON integer of 5000 digits", b'{"dataset_id": ' + b"7" * 5000 + b"}", "json", 400, "4300 digits"),
    ("JSON not UTF-8", b'{"dataset_id": "\xff"}', "json", 400, "not valid JSON"),
    ("JSON with 200 unknown keys", json.dumps(_keys(200)).encode(), "json", 422, "has 202 members"),
    ("msgpack nested 2000 deep", b"\x91" * 2000 + b"\xc0", "msgpack", 400, "nests too deeply"),
    ("msgpack nested 40 deep", packb(_nested(40)), "msgpack", 400, "nests too deeply"),
    ("msgpack with 200000 unknown keys", packb(_keys(200_000)), "msgpack", 422, "has 200002 members"),
    ("msgpack with integer keys", msgpack.packb({1: 2}), "msgpack", 400, "map key"),
    ("msgpack with extra bytes", packb(GOOD) + b"\x00", "msgpack", 400, "extra bytes"),
    ("msgpack truncated", packb(GOOD)[:-3], "msgpack", 400, "truncated"),
    ("empty body", b"", "json", 400, "empty"),
    ("not an object", b"[1, 2]", "json", 422, "must be an object"),
]


@pytest.mark.parametrize(("raw", "fmt", "status", "words"), [row[1:] for row in DECODE_FAILURES],
                         ids=[row[0] for row in DECODE_FAILURES])
@pytest.mark.parametrize("where", ["api", "child"])
def test_every_decode_failure_is_a_4xx_problem(raw, fmt, status, words, where):
    """``api``: the sparse decode of the API process; ``child``: what a decoder process answers."""
    start = time.perf_counter()
    if where == "child":
        body, model = in_child(raw, fmt)
        assert model is None
    else:
        with pytest.raises((ProblemError, InvalidInput)) as err:
            decoding.parse(raw, fmt, InversionRequest, decoding.SPARSE_VALUES)
        exc = err.value
        body = exc.body if isinstance(exc, ProblemError) else problems.invalid_input(exc.errors)
    assert body["status"] == status and words in json.dumps(body), body
    assert len(json.dumps(body)) < 4000 and time.perf_counter() - start < 2.0


@pytest.mark.parametrize(("body", "dense"), [
    (GOOD, False),
    ({**GOOD, "linear_objects": [{"type": "basis", "images": np.ones((3, 100))}]}, False),  # a binary array map
    ({**GOOD, "linear_objects": [{"type": "basis", "images": np.ones((3, 2000)).tolist()}]}, True),
    ({**GOOD, "linear_objects": [{"type": "basis", "images": [[1.0]] * 5000}]}, True),  # one list over the limit
])
@pytest.mark.parametrize("fmt", ["json", "msgpack"])
def test_the_api_process_decodes_sparse_bodies_only(body, dense, fmt):
    raw = packb(body) if fmt == "msgpack" else json.dumps(as_json(body)).encode()
    if dense:
        with pytest.raises(decoding.Dense):
            decoding.parse(raw, fmt, InversionRequest, decoding.SPARSE_VALUES)
    else:
        assert decoding.parse(raw, fmt, InversionRequest, decoding.SPARSE_VALUES).dataset_id == "x"
    problem, req = in_child(raw, fmt)
    assert problem is None and req.linear_objects[0].images.shape[0] in (1, 3, 5000)


def test_binary_arrays_are_views_of_the_body_not_copies():
    """The API's reader hands ``bin`` data out as views: a large array costs no copy (and no GIL time)."""
    images = np.arange(3 * 100_000, dtype=float).reshape(3, 100_000)
    raw = bytearray(packb({**GOOD, "linear_objects": [{"type": "basis", "images": images}]}))
    req = decoding.parse(raw, "msgpack", InversionRequest, decoding.SPARSE_VALUES)
    decoded = req.linear_objects[0].images
    np.testing.assert_array_equal(decoded, images)
    assert not decoded.flags.writeable and np.shares_memory(decoded, np.frombuffer(raw, dtype=np.uint8))


@pytest.mark.parametrize("value", [0, 127, -1, -32, 200, -200, 70000, -70000, 2**40, -(2**40), 2**64 - 1, 1.5,
                                   np.float32(0.25), None, True, False, "", "é" * 40, "x" * 70000, b"\x00\x01",
                                   [1, [2, [3]]], {"a": {"b": []}}, list(range(300)), {str(i): i for i in range(20)}])
def test_the_sparse_reader_agrees_with_msgpack(value):
    raw = packb({"v": value})
    if isinstance(value, str) and len(value) > decoding.MAX_STRING_BYTES:
        with pytest.raises(decoding.Dense):
            decoding.decode(raw, "msgpack", decoding.SPARSE_VALUES)
        return
    got = decoding.decode(raw, "msgpack", decoding.SPARSE_VALUES)["v"]
    expected = msgpack.unpackb(raw, raw=False)["v"]
    assert (bytes(got) if isinstance(got, memoryview) else got) == expected


def test_prefer():
    p = parse_prefer(["respond-async, wait=10"])
    assert p.respond_async and p.wait_s == 10
    assert applied_header(p, 0) == "respond-async"
    p = parse_prefer(["wait=2.5", "foo=bar"])
    assert not p.respond_async and p.wait_s == 2.5
    assert applied_header(p, 2.5) == "wait=2.5"
    assert parse_prefer(["wait=abc"]).wait_s is None
    assert applied_header(parse_prefer([]), 30) is None
