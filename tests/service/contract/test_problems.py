"""Problem bodies: 422 error lists are capped and say how many errors were left out."""

from service.contract import problems


def test_short_lists_are_listed_whole():
    body = problems.invalid_input([(("body", "a"), "bad"), (("body", "b"), "worse")])
    assert body["status"] == 422 and body["detail"] == "a: bad (and 1 more)"
    assert body["errors"] == [{"loc": ["body", "a"], "msg": "bad"}, {"loc": ["body", "b"], "msg": "worse"}]


def test_long_lists_are_capped_and_count_the_rest():
    errors = [(("body", f"k{i}"), f"unknown field 'k{i}'") for i in range(1_000)]
    body = problems.invalid_input(errors)
    assert len(body["errors"]) == problems.MAX_ERRORS + 1
    assert body["errors"][:2] == [{"loc": ["body", "k0"], "msg": "unknown field 'k0'"},
                                  {"loc": ["body", "k1"], "msg": "unknown field 'k1'"}]
    assert body["errors"][-1] == {"loc": [], "msg": f"{1_000 - problems.MAX_ERRORS} more errors were left out"}
    assert body["detail"] == f"k0: unknown field 'k0' (and 999 more; the first {problems.MAX_ERRORS} are listed)"


def test_long_messages_and_names_are_shortened():
    key = "k" * 100_000
    body = problems.invalid_input([(("body", key), f"unknown field {key!r}")])
    [item] = body["errors"]
    assert len(item["msg"]) <= problems.MAX_MSG_CHARS and "100016 characters" in item["msg"]
    assert len(item["loc"][1]) <= problems.MAX_LOC_CHARS
    assert len(body["detail"]) < problems.MAX_MSG_CHARS + problems.MAX_LOC_CHARS + 10
