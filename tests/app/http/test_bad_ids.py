"""Integer ids written in ways ``str.isdigit`` accepts and ``int()`` refuses are a 422, never a 500 (issue 16.1)."""

import pytest

from tests.app.conftest import post, post_rank
from tests.app.http.test_routes import assert_error

# "--5": two signs; "²", "-²": superscripts are digits to isdigit, not to int(); "٣": an Arabic-Indic
# digit, which int() would read as 3 — a different spelling of an id is not a lossless coercion.
NOT_INTEGERS = ["--5", "²", "-²", "٣", "5\u0663"]


@pytest.mark.parametrize("raw", NOT_INTEGERS)
@pytest.mark.parametrize("form", ["records", "columns"])
def test_score_answers_422_naming_the_integer_field(client, sample_records, raw, form):
    record = {**sample_records[0], "user": raw}
    body = {"records": [record]} if form == "records" else {"columns": {k: [v] for k, v in record.items()}}
    assert_error(post(client, body), 422, "invalid_request", "user")


@pytest.mark.parametrize("raw", NOT_INTEGERS)
def test_rank_answers_422_for_context_and_candidates(client, sample_records, raw):
    record = sample_records[0]
    context = {k: v for k, v in record.items() if k in ("user", "device")}
    candidate = {k: v for k, v in record.items() if k not in context}
    bad_context = post_rank(client, {"context": {**context, "user": raw}, "candidates": [candidate]})
    assert_error(bad_context, 422, "invalid_request", "user")
    bad_candidate = post_rank(client, {"context": context, "candidates": [candidate, {**candidate, "item": raw}]})
    assert_error(bad_candidate, 422, "invalid_request", "item")


def test_plain_integer_strings_still_score(client, sample_records):
    record = {**sample_records[0], "user": f" 0{sample_records[0]['user']} "}
    assert post(client, {"records": [record]}).status_code == 200
