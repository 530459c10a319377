"""The committed OpenAPI document equals what the app serves, and declares the msgpack media types."""

import json

from service.cli import DEFAULT_OPENAPI, openapi_text

from .procs import ROOT


def test_committed_openapi_is_current():
    committed = (ROOT / DEFAULT_OPENAPI).read_text()
    assert committed == openapi_text(), "openapi/openapi.json is stale: run `inversion-service export-openapi`"


def test_served_openapi_equals_the_committed_file(bare):
    served = bare.client.get("/openapi.json").json()
    assert served == json.loads((ROOT / DEFAULT_OPENAPI).read_text())


def test_msgpack_media_types_are_declared():
    doc = json.loads(openapi_text())
    post = doc["paths"]["/inversions"]["post"]
    for mt in ("application/json", "application/vnd.msgpack", "application/msgpack", "application/x-msgpack"):
        assert mt in post["requestBody"]["content"]
        assert mt in post["responses"]["200"]["content"]
    assert "application/problem+json" in post["responses"]["422"]["content"]
    assert "MsgpackArray" in json.dumps(doc["components"]["schemas"]["ImagingDataset"])
