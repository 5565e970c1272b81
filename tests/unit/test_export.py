"""Export rules in core/export: preference pairs, KTO labels, SFT context, agreement, formula escaping."""

import pytest

from core.export import FORMATS, Options, Schema, dpo, kto, native, requirement_problem, sft
from core.export.agreement import annotators_agree
from core.export.pairs import pairs_from_groups, pairwise_pair, rank_groups
from core.export.table import safe_cell

ONTOLOGY = {
    "classes": [
        {"name": "quality", "tool": "dialog_evaluation", "targets": ["bot"],
         "attributes": [{"name": "stars", "type": "rating", "scale": 5}, {"name": "why", "type": "text"}]},
        {"name": "ideal", "tool": "dialog_response", "role": "bot"},
    ],
    "classifications": [{"name": "rank", "type": "ranking"}, {"name": "ab", "type": "pairwise"}],
}  # fmt: skip
SCHEMA = Schema.from_ontology(ONTOLOGY)


def item(*annotations):
    return {
        "id": "i1",
        "messages": [{"role": "user", "text": "hi"}, {"role": "bot", "text": "old"}],
        "candidates": [{"text": "A"}, {"text": "B"}, {"text": "C"}],
        "annotations": list(annotations),
    }


def ann(who="alice", validity="valid", results=(), **answers):
    return {"annotator": who, "status": "submitted", "validity": validity, "classifications": answers,
            "results": list(results)}  # fmt: skip


def test_ranking_of_three_gives_every_ordered_pair():
    assert pairs_from_groups(rank_groups([1, 0, 2], 3)) == [(1, 0), (1, 2), (0, 2)]


def test_ranking_best_vs_rest():
    assert pairs_from_groups(rank_groups([1, 0, 2], 3), "best") == [(1, 0), (1, 2)]


def test_tie_gives_no_pair_between_tied_candidates():
    assert pairs_from_groups(rank_groups([[0, 1], 2], 3)) == [(0, 2), (1, 2)]
    assert pairs_from_groups(rank_groups([[0, 1, 2]], 3)) == []
    assert pairs_from_groups(rank_groups({"0": 1, "1": 1, "2": 2}, 3)) == [(0, 2), (1, 2)]


def test_ranking_ignores_candidates_out_of_range():
    assert rank_groups([5, 0, 0, 1], 2) == [[0], [1]]


def test_pairwise_answers():
    assert pairwise_pair({"chosen": 1, "rejected": 0, "strength": 2}, 2) == (1, 0, 2)
    assert pairwise_pair({"tie": True}, 2) is None
    assert pairwise_pair({"chosen": 1}, 2) is None


def test_dpo_records_name_source_and_annotator():
    recs = list(dpo.records(item(ann(rank=[2, 0, 1])), SCHEMA, Options()))
    assert [(r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in recs] == [
        ("C", "A"), ("C", "B"), ("A", "B")
    ]  # fmt: skip
    assert recs[0]["prompt"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "old"}]
    assert recs[0]["meta"]["source"] == "ranking" and recs[0]["meta"]["annotator"] == "alice"


def test_dpo_invalid_annotation_and_ties_give_nothing():
    assert list(dpo.records(item(ann(validity="invalid", rank=[0, 1, 2])), SCHEMA, Options())) == []
    assert list(dpo.records(item(ann(ab={"tie": True}, rank=[[0, 1, 2]])), SCHEMA, Options())) == []


def test_dpo_scores_prefer_the_higher_and_skip_equal():
    results = [
        {"class": "quality", "candidate": 0, "values": {"stars": 4}},
        {"class": "quality", "candidate": 1, "values": {"stars": 4}},
        {"class": "quality", "candidate": 2, "values": {"stars": 1}},
    ]
    recs = list(dpo.records(item(ann(results=results)), SCHEMA, Options()))
    assert [(r["meta"]["chosen"], r["meta"]["rejected"]) for r in recs] == [(0, 2), (1, 2)]
    assert {r["meta"]["source"] for r in recs} == {"scores"}


def test_kto_labels_from_scores_and_pairwise():
    results = [
        {"class": "quality", "candidate": 0, "values": {"stars": 5}},
        {"class": "quality", "candidate": 1, "values": {"stars": 3}},  # the middle: no label
        {"class": "quality", "candidate": 2, "values": {"stars": 2}},
    ]
    recs = list(kto.records(item(ann(results=results, ab={"chosen": 1, "rejected": 2})), SCHEMA, Options()))
    got = [(r["completion"][0]["content"], r["label"], r["meta"]["source"]) for r in recs]
    assert got == [
        ("B", True, "pairwise"),
        ("C", False, "pairwise"),
        ("A", True, "scores"),
        ("C", False, "scores"),
    ]


def test_sft_reply_replaces_a_turn_of_its_own_role_else_follows():
    result = {"class": "ideal", "text": "better", "role": "bot", "source_text": "old"}
    (rec,) = sft.records(item(ann(results=[result])), SCHEMA, Options())
    assert rec["messages"] == [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "better"}]
    assert rec["meta"]["original"] == "old"
    user_reply = {"class": "ideal", "text": "and you?", "role": "user"}
    (rec,) = sft.records(item(ann(results=[user_reply])), SCHEMA, Options())
    assert rec["messages"][-1] == {"role": "user", "content": "and you?"} and len(rec["messages"]) == 3


def test_images_become_tokens_and_an_images_list():
    it = item(ann(rank=[0, 1]))
    it["messages"][0]["images"] = ["images/abc.png"]
    rec = next(dpo.records(it, SCHEMA, Options()))
    assert rec["prompt"][0]["content"] == "<image>hi" and rec["images"] == ["images/abc.png"]


@pytest.mark.parametrize(
    "value", ["=1+1", "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "＝1+1", "＋1", "－1", "＠x", '=HYPERLINK("x")']
)
def test_formula_cells_are_escaped(value):
    assert safe_cell(value) == "'" + value


def test_plain_cells_and_numbers_are_kept():
    assert safe_cell("hello") == "hello" and safe_cell(-3) == -3 and safe_cell(["a", "b"]) == "a; b"


def test_agreement_ignores_free_text_and_needs_two():
    a = ann(
        "a", results=[{"class": "quality", "candidate": 0, "values": {"stars": 4, "why": "x"}}], rank=[0, 1]
    )
    b = ann(
        "b", results=[{"class": "quality", "candidate": 0, "values": {"stars": 4, "why": "y"}}], rank=[0, 1]
    )
    c = ann("c", results=[{"class": "quality", "candidate": 0, "values": {"stars": 2}}], rank=[0, 1])
    assert annotators_agree([a, b], SCHEMA)
    assert not annotators_agree([a, c], SCHEMA)
    assert not annotators_agree([a], SCHEMA)


def test_requirements_name_what_is_missing():
    assert "unknown" in requirement_problem("parquet", SCHEMA)
    empty = Schema.from_ontology({"classes": [], "classifications": []})
    assert "no Dialog Response" in requirement_problem("sft", empty)
    assert "ranking" in requirement_problem("dpo", empty)
    assert requirement_problem("dpo", SCHEMA) is None and set(FORMATS) == {
        "native",
        "sft",
        "dpo",
        "kto",
        "csv",
        "xlsx",
    }


def test_native_record_is_stable_and_sorted():
    it = item(ann("zoe", rank=[0, 1]), ann("adam", results=[{"class": "ideal", "text": "t", "role": "bot"}]))
    rec = native.record(it)
    assert [a["annotator"] for a in rec["annotations"]] == ["adam", "zoe"]
    assert rec["messages"][0] == {"role": "user", "content": "hi"}
    assert rec["responses"][0] == {"content": "A"}


def test_dpo_lines_are_the_records_bytes():
    import orjson

    it = item(
        ann("a", rank=[[2, 0], 1], ab={"chosen": 1, "rejected": 0, "strength": 1}),
        ann("b", results=[{"class": "quality", "candidate": 1, "values": {"stars": 2}}]),
    )
    it["messages"][0]["images"] = ["images/x.png"]
    it["candidates"][2]["images"] = ["images/y.png"]
    # Every role chat() maps (a missing, empty or unknown one is the assistant's), escapes, non-ASCII.
    it["messages"] += [
        {"role": "system", "text": 'be "kind"\\ \n\t\x01 \u2028 ünï 😀'},
        {"text": "no role"},
        {"role": None, "text": "role null"},
        {"role": "", "text": ""},
        {"role": "tool", "text": "unknown role"},
        {"role": "bot"},
    ]
    for mode in ("all", "best"):
        expected = b"".join(
            orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in dpo.records(it, SCHEMA, Options(mode))
        )
        assert b"".join(dpo.lines(it, SCHEMA, Options(mode))) == expected and expected


def test_remembered_pairs_are_the_rules_pairs():
    """pair_tuples remembers the pairs of rankings and scores it has seen: a remembered answer gives the
    pairs the rules give, and answers that only look alike (True for 1, a tie) are not mixed up."""
    import random

    from core.export import pairs
    from core.export.pairs import pair_tuples, score_groups

    def expected(annotation, n, mode):
        out = []
        rank = annotation["classifications"].get("rank")
        if rank is not None:
            out += [("ranking", "rank", a, b, None) for a, b in pairs_from_groups(rank_groups(rank, n), mode)]
        scores = {r["candidate"]: float(r["values"]["stars"]) for r in annotation["results"]}
        if scores:
            out += [
                ("scores", "quality.stars", a, b, None)
                for a, b in pairs_from_groups(score_groups(scores), mode)
            ]
        return out

    rng = random.Random(3)
    answers = [
        [1, 0, 2],
        [True, 0, 2],
        [1.0, 0, 2],
        [[1, 0], 2],
        [1, [0, 2]],
        {"0": 2, "1": 1, "2": 2},
        [2, 1],
    ]
    cases = []
    for _ in range(300):
        rank = rng.choice(answers + [rng.sample(range(3), 3)])
        stars = [rng.choice([1, 2, 2.0, 3, 5]) for _ in range(3)]
        results = [{"class": "quality", "candidate": k, "values": {"stars": s}} for k, s in enumerate(stars)]
        cases.append((ann(rank=rank, results=results), rng.choice([2, 3]), rng.choice(["all", "best"])))
    for _ in range(2):  # the second time every answer is remembered
        for annotation, n, mode in cases:
            if n == 2:
                for r in annotation["results"]:
                    if r["candidate"] >= n:
                        r["candidate"] = 0  # out of range results are dropped by the rules; keep it simple
            assert pair_tuples(annotation, SCHEMA, n, mode) == expected(annotation, n, mode), annotation
    assert pairs._RANKINGS and pairs._SCORES


def test_native_turns_of_every_shape_follow_the_rules():
    """_turn's quick paths for plain messages and candidates give what the general rules give."""
    from core.export.native import _turn

    def general(m, key="content"):
        out = {}
        if "role" in m:
            out["role"] = m["role"]
        out[key] = m.get("text") or ""
        for extra in ("model", "images", "meta"):
            if m.get(extra):
                out[extra] = list(m[extra]) if extra == "images" else m[extra]
        return out

    shapes = [
        {"role": "user", "text": "hi"}, {"role": "bot", "text": ""}, {"role": "bot", "text": None},
        {"text": "A", "model": "m1"}, {"text": "A", "model": ""}, {"text": None, "model": None},
        {"model": "m", "text": "order"}, {"text": "t", "role": "user"}, {"role": "user"}, {"text": "only"},
        {"role": "user", "text": "x", "images": ["a.png"]}, {"text": "y", "model": "m", "meta": {"k": 1}},
        {"role": "bot", "text": "z", "model": "m2"},
    ]  # fmt: skip
    for shape in shapes:
        for key in ("content", "text"):
            got = _turn(shape, key)
            assert got == general(shape, key) and list(got) == list(general(shape, key)), shape
