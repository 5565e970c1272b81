"""RLHF evaluation rules: classes per role, results, number keys, inheritance, validation, rankings,
blind order and suggestions."""

from __future__ import annotations

import pytest

from core import evaluation as ev

HELP = ev.ClassDef(
    id=10,
    name="helpfulness",
    alias="Helpfulness",
    number=1,
    targets=("bot",),
    attributes=(
        {"name": "score", "type": "radio", "options": ["1", "2", "3", "4", "5"], "required": True},
        {"name": "why", "type": "text"},
        {"name": "flags", "type": "checkbox", "options": ["rude", "wrong", "long"]},
        {"name": "stars", "type": "rating", "scale": 5},
    ),
)
INTENT = ev.ClassDef(
    id=11,
    name="intent",
    number=2,
    targets=("user",),
    attributes=({"name": "kind", "type": "radio", "options": ["ask", "attack"], "required": True},),
)
TONE = ev.ClassDef(id=12, name="tone", number=3, targets=("user", "bot"), attributes=())
RESPONSE = ev.ClassDef(id=13, name="ideal", number=4, tool="dialog_response", targets=("bot",))
CLASSES = [HELP, INTENT, TONE, RESPONSE]
MESSAGES = [{"role": "user", "text": "hi"}, {"role": "bot", "text": "hello"}, {"role": "user", "text": "x"}]
CANDIDATES = [{"text": "a", "model": "m1"}, {"text": "b", "model": "m2"}]
RANKING = ev.QuestionDef(id=1, name="ranking", type="ranking", required=True)
PAIRWISE = ev.QuestionDef(id=2, name="preference", type="pairwise", required=True)


def empty() -> dict:
    return {"validity": "valid", "invalid_reason": "", "classifications": {}, "results": []}


def test_classes_offered_by_role():
    assert [c.name for c in ev.offered_classes(CLASSES, ev.bubble_role("m0", MESSAGES))] == ["intent", "tone"]
    assert [c.name for c in ev.offered_classes(CLASSES, ev.bubble_role("m1", MESSAGES))] == [
        "helpfulness",
        "tone",
    ]
    # candidates are bot replies; response classes never appear on the evaluation page
    assert [c.name for c in ev.offered_classes(CLASSES, ev.bubble_role("c1", MESSAGES))] == [
        "helpfulness",
        "tone",
    ]


def test_result_created_once_and_removed():
    work = empty()
    ev.add_result(work, HELP, "c1")
    ev.add_result(work, HELP, "c1")
    ev.add_result(work, TONE, "c1")
    assert [(r["class_id"], r["candidate"], r["message"]) for r in work["results"]] == [
        (10, 1, None),
        (12, 1, None),
    ]
    assert ev.remove_result(work, 10, "c1") is True
    assert ev.remove_result(work, 10, "c1") is False
    assert [r["class_id"] for r in ev.results_for(work, "c1")] == [12]


def test_defaults_fill_a_new_result():
    cls = ev.ClassDef(
        id=1, name="x", attributes=({"name": "a", "type": "radio", "options": ["p"], "default": "p"},)
    )
    work = empty()
    assert ev.add_result(work, cls, "m1")["values"] == {"a": "p"}


def test_number_key_chooses_class_then_picks_options():
    work = empty()
    offered = ev.offered_classes(CLASSES, "bot")
    out = ev.handle_number_key(work, key="1", ref="m1", offered=offered, focus=ev.Focus())
    assert out.changed and out.focus.class_id == HELP.id and out.focus.attribute == 0
    out = ev.handle_number_key(work, key="4", ref="m1", offered=offered, focus=out.focus)
    assert ev.find_result(work, HELP.id, "m1")["values"] == {"score": "4"}
    # Tab skips the text attribute and lands on the checkbox; keys toggle its options
    focus = ev.Focus(HELP.id, ev.next_attribute(HELP, out.focus.attribute))
    assert focus.attribute == 2
    ev.handle_number_key(work, key="2", ref="m1", offered=offered, focus=focus)
    ev.handle_number_key(work, key="1", ref="m1", offered=offered, focus=focus)
    assert ev.find_result(work, HELP.id, "m1")["values"]["flags"] == ["rude", "wrong"]
    ev.handle_number_key(work, key="2", ref="m1", offered=offered, focus=focus)
    assert ev.find_result(work, HELP.id, "m1")["values"]["flags"] == ["rude"]
    focus = ev.Focus(HELP.id, ev.next_attribute(HELP, 2))
    ev.handle_number_key(work, key="5", ref="m1", offered=offered, focus=focus)
    assert ev.find_result(work, HELP.id, "m1")["values"]["stars"] == 5
    assert ev.next_attribute(HELP, 3) == 0  # wraps round


def test_number_key_out_of_range_changes_nothing():
    work = empty()
    offered = ev.offered_classes(CLASSES, "bot")
    out = ev.handle_number_key(work, key="9", ref="m1", offered=offered, focus=ev.Focus())
    assert not out.changed and work["results"] == []
    out = ev.handle_number_key(work, key="7", ref="m1", offered=offered, focus=ev.Focus(HELP.id, 0))
    assert not out.changed and work["results"] == []
    # the class of another role is not chosen by its number
    out = ev.handle_number_key(work, key="2", ref="m1", offered=offered, focus=ev.Focus())
    assert not out.changed


def test_zero_is_the_tenth_option_and_class_ten():
    attribute = {"name": "s", "type": "radio", "options": [str(i) for i in range(1, 11)]}
    assert ev.value_for_key(attribute, None, "0") == (True, "10")
    ten = ev.ClassDef(id=5, name="ten", number=10)
    assert ev.class_for_key([ten], "0") is ten


def test_inheritance_same_role_only_and_only_when_on():
    inh = ev.Inheritance(enabled=True)
    inh.remember("bot", HELP.id)
    assert inh.preselect("bot", ev.offered_classes(CLASSES, "bot")) == HELP.id
    assert inh.preselect("user", ev.offered_classes(CLASSES, "user")) is None  # never crosses roles
    inh.remember("user", TONE.id)
    assert inh.preselect("user", ev.offered_classes(CLASSES, "user")) == TONE.id
    assert inh.preselect("bot", ev.offered_classes(CLASSES, "bot")) == HELP.id
    # a bubble that does not offer the class gets nothing
    assert inh.preselect("bot", [TONE]) is None
    inh.enabled = False
    assert inh.preselect("bot", ev.offered_classes(CLASSES, "bot")) is None


def test_validation_lists_missing_required_in_bubble_order():
    work = empty()
    ev.add_result(work, HELP, "c1")
    ev.add_result(work, INTENT, "m2")
    ev.add_result(work, INTENT, "m0")
    missing = ev.validate(
        work, classes=CLASSES, questions=[RANKING, PAIRWISE], messages=MESSAGES, candidates=CANDIDATES
    )
    assert [m.ref for m in missing] == ["m0", "m2", "c1", None, None]
    assert missing[0].message == "Message 1: intent needs kind."
    assert missing[2].message == "Candidate B: Helpfulness needs score."
    assert missing[3].message == "ranking: answer it."


def test_validation_passes_when_complete_and_checks_answers():
    work = empty()
    ev.set_value(work, HELP, "c1", "score", "4")
    work["classifications"] = {"1": [1, 0], "2": ev.pairwise_answer(1, 0, strength=3)}
    assert (
        ev.validate(
            work, classes=CLASSES, questions=[RANKING, PAIRWISE], messages=MESSAGES, candidates=CANDIDATES
        )
        == []
    )
    work["classifications"] = {"1": [1], "2": {"chosen": 1, "rejected": 1, "strength": 2}}
    texts = [
        m.message
        for m in ev.validate(
            work, classes=CLASSES, questions=[RANKING, PAIRWISE], messages=MESSAGES, candidates=CANDIDATES
        )
    ]
    assert texts == [
        "ranking: not every candidate is ranked (missing: A).",
        "preference: the chosen and rejected candidates are the same.",
    ]


def test_invalid_item_needs_only_a_reason():
    work = empty()
    ev.add_result(work, HELP, "c1")
    work["validity"] = "invalid"
    assert [
        m.message
        for m in ev.validate(
            work, classes=CLASSES, questions=[RANKING], messages=MESSAGES, candidates=CANDIDATES
        )
    ] == ["Invalid item: give the reason."]
    work["invalid_reason"] = "garbled"
    assert (
        ev.validate(work, classes=CLASSES, questions=[RANKING], messages=MESSAGES, candidates=CANDIDATES)
        == []
    )


def test_ranking_rules():
    assert ev.ranking_errors([1, 0, 2], 3) == []
    assert ev.ranking_errors([1, 1, 0, 2], 3) == ["a candidate is ranked twice"]
    assert ev.ranking_errors([[0, 1], 2], 3) == ["two candidates share a rank (ties are not allowed here)"]
    assert ev.ranking_errors([[0, 1], 2], 3, allow_ties=True) == []
    assert ev.ranking_errors([0, 5], 2) == [
        "the ranking names a candidate this item does not have",
        "not every candidate is ranked (missing: B)",
    ]
    assert ev.ranks_to_ranking({0: 2, 1: 1, 2: 3}) == [1, 0, 2]
    assert ev.ranks_to_ranking({0: 1, 1: 1, 2: 2}) == [[0, 1], 2]
    assert ev.ranking_to_ranks([[0, 1], 2]) == {0: 1, 1: 1, 2: 3}


def test_pairwise_rules():
    assert ev.pairwise_errors({"tie": True}, 2) == []
    assert ev.pairwise_errors(ev.pairwise_answer(0, 1, 1), 2) == []
    assert ev.pairwise_errors({"chosen": 0, "rejected": 1, "strength": 7}, 2) == [
        "the strength must be a whole number from 1 to 3"
    ]
    assert ev.pairwise_errors({"tie": True}, 2, allow_tie=False) == ["a tie is not allowed here"]
    assert ev.pairwise_errors({"chosen": 0}, 2) == ["choose the better candidate or a tie"]


def test_candidate_scores_through_classes():
    work = empty()
    ev.set_value(work, HELP, "c0", "score", "4")
    ev.set_value(work, HELP, "c0", "stars", 2)
    ev.set_value(work, HELP, "c1", "score", "5")
    ev.set_value(work, HELP, "m1", "score", "1")  # a message, not a candidate
    assert ev.candidate_scores(work, CLASSES) == {0: 3.0, 1: 5.0}
    ev.add_result(work, HELP, "c2")  # a result with no value yet has no score
    assert ev.candidate_scores(work, CLASSES) == {0: 3.0, 1: 5.0}


def test_candidate_order_is_stable_per_annotator_and_keeps_original_indexes():
    a = ev.candidate_order(6, user_id=1, item_id=7, shuffle=True)
    assert a == ev.candidate_order(6, user_id=1, item_id=7, shuffle=True)
    assert sorted(a) == list(range(6))
    others = {tuple(ev.candidate_order(6, user_id=u, item_id=7, shuffle=True)) for u in range(2, 12)}
    assert len(others) > 1  # different annotators see different orders
    assert ev.candidate_order(6, user_id=1, item_id=7, shuffle=False) == list(range(6))
    shown = ev.shown_candidates(CANDIDATES, [1, 0], hide_model_names=True)
    assert [(c["label"], c["index"], "model" in c) for c in shown] == [("A", 1, False), ("B", 0, False)]
    assert ev.shown_candidates(CANDIDATES, [0, 1], hide_model_names=False)[0]["model"] == "m1"
    assert ev.bubble_name("c0", [1, 0]) == "Candidate B"
    assert ev.blind_settings({"shuffle_candidates": True}) == (True, False)


def test_result_from_shown_position_stores_original_index():
    order = ev.candidate_order(3, user_id=3, item_id=9, shuffle=True)
    refs = ev.bubble_refs(MESSAGES, [{}, {}, {}], order)
    work = empty()
    first_shown = refs[len(MESSAGES)]
    ev.set_value(work, HELP, first_shown, "score", "3")
    assert work["results"][0]["candidate"] == order[0]


def test_suggestions_are_accepted_into_answers_and_never_results_until_then():
    work = empty()
    questions = [RANKING, PAIRWISE]
    assert (
        ev.accept_suggestion(
            work,
            {"kind": "preference", "value": {"chosen": 1, "rejected": 0}},
            classes=CLASSES,
            questions=questions,
        )
        is None
    )
    assert work["classifications"]["2"] == {"chosen": 1, "rejected": 0, "strength": 2}
    assert (
        ev.accept_suggestion(work, {"kind": "ranking", "value": [1, 0]}, classes=CLASSES, questions=questions)
        is None
    )
    assert work["classifications"]["1"] == [1, 0]
    assert (
        ev.accept_suggestion(
            work,
            {"kind": "score", "target": "c0", "value": 3.6, "agent": "judge"},
            classes=CLASSES,
            questions=questions,
        )
        is None
    )
    assert ev.find_result(work, HELP.id, "c0")["values"] == {"score": "4"}
    labeler = ev.ClassDef(
        id=20,
        name="ok",
        targets=("bot",),
        attributes=({"name": "verdict", "type": "radio", "options": ["Good", "Bad"]},),
    )
    assert (
        ev.accept_suggestion(
            work, {"kind": "label", "target": "c1", "value": False}, classes=[labeler], questions=[]
        )
        is None
    )
    assert ev.find_result(work, 20, "c1")["values"] == {"verdict": "Bad"}
    assert (
        ev.accept_suggestion(empty(), {"kind": "ranking", "value": [0]}, classes=[], questions=[])
        == "this dataset has no ranking question"
    )
    assert ev.describe_suggestion(
        {"kind": "preference", "value": {"chosen": 1, "rejected": 0}, "agent": "hh-rlhf"}, [1, 0]
    ) == ("Candidate A is preferred to Candidate B (hh-rlhf)")


def test_parse_ref_rejects_garbage():
    with pytest.raises(ValueError):
        ev.parse_ref("x1")


def test_suggestion_state_open_accepted_overruled():
    questions = [RANKING, PAIRWISE]
    pref = {"kind": "preference", "value": {"chosen": 0, "rejected": 1}}
    work = empty()
    assert ev.suggestion_state(work, pref, classes=CLASSES, questions=questions) == "open"
    ev.accept_suggestion(work, pref, classes=CLASSES, questions=questions)
    assert ev.suggestion_state(work, pref, classes=CLASSES, questions=questions) == "accepted"
    work["classifications"]["2"] = ev.pairwise_answer(1, 0, strength=3)
    assert ev.suggestion_state(work, pref, classes=CLASSES, questions=questions) == "overruled"
    score = {"kind": "score", "target": "c1", "value": 2}
    assert ev.suggestion_state(work, score, classes=CLASSES, questions=questions) == "open"
    ev.set_value(work, HELP, "c1", "score", "5")
    assert ev.suggestion_state(work, score, classes=CLASSES, questions=questions) == "overruled"
    assert ev.suggestion_state(work, pref, classes=CLASSES, questions=[]) == "unusable"


def test_validation_can_leave_required_answers_to_the_shell():
    work = empty()
    work["classifications"] = {"1": [0]}
    texts = [
        m.message
        for m in ev.validate(
            work,
            classes=CLASSES,
            questions=[RANKING, PAIRWISE],
            messages=MESSAGES,
            candidates=CANDIDATES,
            require_answers=False,
        )
    ]
    assert texts == ["ranking: not every candidate is ranked (missing: B)."]


def test_set_rank_swaps_without_ties_and_groups_with_ties():
    # B best, then A; giving A rank 1 without ties swaps them
    assert ev.set_rank([1, 0], 0, 1, allow_ties=False) == [0, 1]
    # a candidate that had no rank takes rank 1; the holder becomes unranked
    assert ev.set_rank([1], 0, 1, allow_ties=False) == [0]
    # with ties, both share rank 1 and C (rank 3) stays after them
    assert ev.set_rank([1, 0, 2], 0, 1, allow_ties=True) == [[0, 1], 2]
    assert ev.ranking_to_ranks(ev.set_rank([1, 0, 2], 0, 1, allow_ties=True)) == {0: 1, 1: 1, 2: 3}
    # clearing a rank
    assert ev.set_rank([1, 0], 1, None, allow_ties=False) == [0]
    assert ev.set_rank(None, 2, 1, allow_ties=False) == [2]


def test_ranking_errors_name_missing_candidates_by_the_letter_shown():
    # shown order C-original first: original 2 is "A", original 0 is "B", original 1 is "C"
    assert ev.ranking_errors([2], 3, order=[2, 0, 1]) == ["not every candidate is ranked (missing: B, C)"]
    assert ev.ranking_errors([2], 3) == ["not every candidate is ranked (missing: A, B)"]
