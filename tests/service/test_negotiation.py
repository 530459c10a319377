"""Accept / Content-Type / Prefer parsing (unit level; the HTTP behaviour is tested in routes/)."""

import pytest

from service.errors import ProblemError
from service.negotiation import choose_media_type, decode_body
from service.prefer import applied_header, parse_prefer


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
        decode_body(b"\xc1\xff{", ctype)
    assert err.value.status == status


def test_prefer():
    p = parse_prefer(["respond-async, wait=10"])
    assert p.respond_async and p.wait_s == 10
    assert applied_header(p, 0) == "respond-async"
    p = parse_prefer(["wait=2.5", "foo=bar"])
    assert not p.respond_async and p.wait_s == 2.5
    assert applied_header(p, 2.5) == "wait=2.5"
    assert parse_prefer(["wait=abc"]).wait_s is None
    assert applied_header(parse_prefer([]), 30) is None
