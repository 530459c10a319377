"""HTTP helpers for the service tests: msgpack bodies, problem checks, job polling."""

from __future__ import annotations

import time
from typing import Any

import httpx
import msgpack

from service.contract import arrays, serializer

MSGPACK = "application/vnd.msgpack"


def packb(obj: Any) -> bytes:
    return msgpack.packb(obj, default=arrays.msgpack_default, use_bin_type=True)


def post_msgpack(client: httpx.Client, url: str, body: Any, **kw: Any) -> httpx.Response:
    headers = {"content-type": MSGPACK, "accept": MSGPACK, **kw.pop("headers", {})}
    return client.post(url, content=packb(body), headers=headers, **kw)


def decoded(r: httpx.Response) -> Any:
    """The body of a response in either media type, msgpack arrays decoded to numpy."""
    if "msgpack" in r.headers["content-type"]:
        return serializer.loads(r.content)
    return r.json()


def assert_problem(r: httpx.Response, status: int, loc: list | None = None, words: str | None = None) -> dict:
    """``r`` is an RFC 9457 problem with ``status``, naming ``loc`` (and ``words`` in its message)."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json"), r.headers["content-type"]
    body = r.json()
    assert {"type", "title", "status"} <= body.keys() and body["status"] == status
    text = r.text
    assert "Traceback" not in text and "/work/" not in text and ".py" not in text, text
    if loc is not None:
        locs = [e["loc"] for e in body.get("errors") or []]
        assert loc in locs, locs
        if words:
            msgs = [e["msg"] for e in body["errors"] if e["loc"] == loc]
            assert any(words in m for m in msgs), msgs
    elif words:
        assert words in text, text
    return body


def wait_job(client: httpx.Client, location: str, timeout_s: float = 120.0, until=("finished", "failed", "canceled"),
             **kw: Any) -> dict:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        r = client.get(location, **kw)
        assert r.status_code == 200, r.text
        body = decoded(r)
        if body["status"] in until:
            return body
        time.sleep(0.05)
    raise TimeoutError(f"{location} not done in {timeout_s} s")


def register(client: httpx.Client, body: dict) -> str:
    from .data import as_json

    r = client.post("/datasets", json=as_json(body))
    assert r.status_code in (200, 201), r.text
    return r.json()["dataset_id"]
