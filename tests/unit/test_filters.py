"""The item filter model (core/filters.py): round trip, validation messages, the summary."""

from datetime import date

import pytest

from core.filters import FilterError, ItemFilter


def test_round_trip_keeps_every_field():
    flt = ItemFilter(
        search="refund policy", status=["submitted", "final"], annotators=["ann1"], label="helpfulness",
        attribute="score", value="5", question="topic", answer="code", validity="invalid", comments=False,
        disagree=True, models=["m-large"], imported_from=date(2026, 1, 1), imported_to=date(2026, 1, 31),
    )  # fmt: skip
    data = flt.to_dict()
    assert data["imported_from"] == "2026-01-01" and data["comments"] is False
    assert ItemFilter.from_dict(data) == flt
    assert ItemFilter.from_dict(ItemFilter().to_dict()).is_empty()
    assert ItemFilter(status=["draft"]).to_json() == '{"status": ["draft"]}'
    assert ItemFilter.from_dict({"status": "draft", "models": ["a", "a", " "]}) == ItemFilter(
        status=["draft"], models=["a"]
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"colour": "red"}, "unknown field 'colour'"),
        ({"status": ["done"]}, "field status: unknown 'done'"),
        ({"validity": "maybe"}, "validity: 'maybe' is not valid or invalid"),
        ({"attribute": "score"}, "attribute: choose a class"),
        ({"label": "x", "value": "5"}, "value: choose an attribute"),
        ({"question": "topic"}, "question and answer: set both"),
        ({"imported_from": "31/01/2026"}, "imported_from: '31/01/2026' is not a day"),
        ({"imported_from": "2026-02-01", "imported_to": "2026-01-01"}, "2026-02-01 is after 2026-01-01"),
        ({"disagree": "yes"}, "disagree: expected true or false"),
        ({"annotators": 3}, "annotators: expected a list of text"),
        ([1], "expected an object"),
    ],
)
def test_bad_filters_say_what_is_wrong(data, message):
    with pytest.raises(FilterError, match=message):
        ItemFilter.from_dict(data)


def test_describe():
    assert ItemFilter().describe() == "all items"
    flt = ItemFilter(status=["submitted"], annotators=["ann1"], models=["m-large"])
    assert flt.describe() == "status: submitted · annotator: ann1 · model: m-large"
    flt = ItemFilter(search=" refund ", label="helpfulness", attribute="score", value="5", comments=True,
                     disagree=True, imported_from=date(2026, 1, 1))  # fmt: skip
    assert flt.describe() == (
        'search: "refund" · class: helpfulness · score = 5 · has comments · annotators disagree · imported 2026-01-01 – …'
    )


def test_a_filter_knows_whether_a_kept_draft_can_change_what_it_selects():
    """A draft (an annotation in status "draft", its work not in its results) changes "untouched", "draft"
    and "has work by these annotators" (no status); nothing else a filter asks."""
    unchanged = [{}, {"search": "refund"}, {"status": ["submitted", "rejected"]}, {"status": ["final"]},
                 {"annotators": ["ann1"], "status": ["submitted"]}, {"label": "q", "attribute": "s", "value": "1"},
                 {"question": "topic", "answer": "x"}, {"validity": "invalid"}, {"comments": True},
                 {"disagree": True}, {"models": ["m"]}, {"imported_from": "2026-01-01"}]  # fmt: skip
    changed = [{"status": ["untouched"]}, {"status": ["draft"]}, {"status": ["submitted", "draft"]},
               {"annotators": ["ann1"]}, {"annotators": ["ann1"], "status": ["untouched"]}]  # fmt: skip
    for spec in unchanged:
        assert ItemFilter.from_dict(spec).unchanged_by_drafts(), spec
    for spec in changed:
        assert not ItemFilter.from_dict(spec).unchanged_by_drafts(), spec
