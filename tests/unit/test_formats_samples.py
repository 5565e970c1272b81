"""Every real sample in ../shared/datasets read by core.formats: the README's counts and exact fields."""

from __future__ import annotations

import json
from collections import Counter

import pytest

from core.formats import detect_format, read_bundle
from core.formats.base import ImportOptions
from core.formats.simple_bundles import DirBundle, ZipBundle

pytestmark = pytest.mark.datasets


def _read(bundle, **options):
    reading = read_bundle(bundle, ImportOptions(**options))
    return reading, list(reading.items)


def test_hh_rlhf_transcripts_become_shared_prefix_and_two_candidates(datasets_dir):
    bundle = DirBundle(datasets_dir / "hh-rlhf_harmless-base_test.jsonl.gz")
    reading, items = _read(bundle)
    assert reading.format == "hh_rlhf"
    assert len(items) == 2312
    assert all(len(i.candidates) == 2 for i in items)
    assert all(i.messages[-1]["role"] == "user" for i in items)
    # README: human turns per dialogue 1:662, 2:584, 3:590, 4:354, 5+:122
    humans = Counter(min(sum(m["role"] == "user" for m in i.messages), 5) for i in items)
    assert humans == {1: 662, 2: 584, 3: 590, 4: 354, 5: 122}
    first = items[0]
    assert first.external_id == "1"
    assert first.messages[0] == {
        "role": "user",
        "text": "what are some pranks with a pen i can do?",
        "images": [],
    }
    assert first.messages[1]["text"] == "Are you looking for practical joke ideas?"
    assert "\n\n2. Make a list of jokes" in first.messages[3]["text"]  # blank lines inside a turn are kept
    assert first.candidates[0]["text"].startswith("No, sorry!  All of these involve a pen")
    assert first.candidates[1]["text"].startswith("There are lots of funny things you can do with pens")
    assert first.suggestions == [
        {
            "kind": "preference",
            "target": None,
            "value": {"chosen": 0, "rejected": 1},
            "score": None,
            "agent": "hh_rlhf",
        }
    ]
    # the 5 records where a side has two assistant turns in a row: joined into one candidate
    odd = {
        i.external_id: [c.get("meta") for c in i.candidates]
        for i in items
        if any("meta" in c for c in i.candidates)
    }
    assert odd == {
        "1255": [{"turns": 2}, None],
        "1689": [{"turns": 2}, None],
        "1951": [None, {"turns": 2}],
        "1953": [{"turns": 2}, None],
        "2037": [{"turns": 2}, None],
    }


def test_llamafactory_dpo_context_and_chosen_rejected_objects(datasets_dir):
    reading, items = _read(DirBundle(datasets_dir / "llamafactory_dpo_en_demo.json.gz"))
    assert reading.format == "preference"
    assert len(items) == 300
    assert sum(len(i.candidates) for i in items) == 600
    assert sum(i.messages[0]["role"] == "system" for i in items) == 80
    assert all(i.messages[-1]["role"] == "user" for i in items)
    assert {len(i.messages) for i in items} == {1, 2, 3, 5, 7, 9, 13}  # README's turn counts
    first = items[0]
    assert first.external_id == "1"
    assert first.messages[0]["text"].startswith(
        "Hi! I'd like to create a new language game simulating the first person"
    )
    assert first.candidates[0]["text"].startswith("That sounds like a fun and engaging idea!")
    assert first.suggestions[0]["value"] == {"chosen": 0, "rejected": 1}
    assert first.suggestions[0]["kind"] == "preference"


def test_alpaca_instruction_and_input_make_the_user_message(datasets_dir):
    reading, items = _read(DirBundle(datasets_dir / "llamafactory_alpaca_en_demo.json"))
    assert reading.format == "alpaca"
    assert len(items) == 999
    assert all([m["role"] for m in i.messages] == ["user", "bot"] for i in items)
    raw = json.loads((datasets_dir / "llamafactory_alpaca_en_demo.json").read_text())
    assert sum(r["input"] == "" for r in raw) == 587
    for item, r in zip(items, raw, strict=True):
        expected = r["instruction"] + ("\n\n" + r["input"] if r["input"] else "")
        assert item.messages[0]["text"] == expected and item.messages[1]["text"] == r["output"]
    tri = next(i for i in items if i.messages[0]["text"].startswith("Given the parameters of a triangle"))
    assert tri.messages[0]["text"] == (
        "Given the parameters of a triangle, find out its perimeter.\n\nSide 1 = 4\nSide 2 = 6\nSide 3 = 8"
    )
    assert tri.messages[1]["text"].startswith(
        "The perimeter of a triangle is the sum of the lengths of its sides."
    )
    assert items[0].external_id == "1" and items[-1].external_id == "999"


def test_oasst_each_branching_prompter_is_one_item_with_ranked_candidates(datasets_dir):
    reading, items = _read(DirBundle(datasets_dir / "oasst_en_100_tree.jsonl"))
    assert reading.format == "oasst"
    # rule: every prompter message with >= 2 assistant replies → one item
    assert len(items) == 214
    assert sum(len(i.candidates) for i in items) == 647
    assert sum(len(i.suggestions) for i in items) == 212  # two branching points have no rank at all
    assert all(i.messages[-1]["role"] == "user" for i in items)
    first = items[0]
    assert first.external_id == "054e1df3-35e0-4bb8-a585-607dbdcd24e0"
    assert [m["text"] for m in first.messages] == ["How can I find the best 401k plan for my needs?"]
    assert first.candidates[0]["text"].startswith("The first step is to research your options.")
    assert first.candidates[0]["meta"]["rank"] == 0
    assert first.suggestions == [
        {"kind": "ranking", "target": None, "value": [0, 1, 2], "score": None, "agent": "oasst-human"}
    ]
    assert first.meta == {
        "message_tree_id": "054e1df3-35e0-4bb8-a585-607dbdcd24e0",
        "tree_state": "ready_for_export",
    }
    assert (
        first.messages[0]["meta"]["synthetic"] is True
        and first.messages[0]["meta"]["model_name"] == "chip20b"
    )
    assert sum(1 for i in items for c in i.candidates if c["meta"].get("emojis")) == 502
    assert sum(1 for i in items for c in i.candidates if c["meta"].get("synthetic")) == 17
    # a ranking lists every ranked candidate once, best first
    for i in items:
        for s in i.suggestions:
            ranks = {k: i.candidates[k]["meta"]["rank"] for k in s["value"]}
            assert sorted(ranks.values()) == [ranks[k] for k in s["value"]]


def test_fastchat_sharegpt_conversations(datasets_dir):
    reading, items = _read(DirBundle(datasets_dir / "fastchat_dummy_conversation.json"))
    assert reading.format == "sharegpt"
    assert len(items) == 500
    assert {len(i.messages) for i in items} == {2, 4, 6}
    first = items[0]
    assert first.external_id == "identity_0"
    assert first.messages[0] == {"role": "user", "text": "Who are you?", "images": []}
    assert first.messages[1]["text"] == (
        "I am Vicuna, a language model trained by researchers from Large Model Systems Organization (LMSYS)."
    )
    assert first.messages[3] == {"role": "bot", "text": "You too!", "images": []}


def test_kto_last_reply_is_the_labelled_candidate(datasets_dir):
    reading, items = _read(DirBundle(datasets_dir / "llamafactory_kto_en_demo.json"))
    assert reading.format == "kto"
    assert len(items) == 300
    assert all(len(i.candidates) == 1 for i in items)
    labels = Counter(i.suggestions[0]["value"] for i in items)
    assert labels == {True: 150, False: 150}
    assert sum(len(i.messages) == 1 for i in items) == 223  # 2-message records: one prompt + the candidate
    first = items[0]
    assert first.messages[0]["text"].startswith("The Federal Trade Commission is going after spyware")
    assert first.candidates[0]["text"].startswith("Ooh ooh ah ah! *giggle*")
    assert first.suggestions == [
        {"kind": "label", "target": "c0", "value": True, "score": None, "agent": "kto"}
    ]


def test_vicuna_bench_questions_answers_reviews(datasets_dir):
    bundle = ZipBundle(datasets_dir / "fastchat_vicuna_bench_eval_table.zip")
    assert detect_format(bundle) == "vicuna_bench"
    reading, items = _read(bundle)
    assert reading.format == "vicuna_bench"
    assert len(items) == 80
    assert sum(len(i.candidates) for i in items) == 400
    scores = [s for i in items for s in i.suggestions]
    assert len(scores) == 640  # 320 reviews x 2 answers
    # the unresolved reviewer id is kept as the agent, not an error
    assert Counter(s["agent"] for s in scores)["gpt-4-0328-generic"] == 560
    assert len({i.meta["category"] for i in items}) == 9
    q1 = items[0]
    assert q1.external_id == "1"
    assert [c["model"] for c in q1.candidates] == [
        "alpaca-13b:v1",
        "bard:20230327",
        "gpt-3.5-turbo:20230327",
        "llama-13b:v1",
        "vicuna-13b:20230322-clean-lang",
    ]
    bard = q1.candidates.index(
        next(c for c in q1.candidates if c["meta"]["answer_id"] == "3oW4JY265ZPJGTYi2CgRYF")
    )
    assert {
        "kind": "score",
        "target": f"c{bard}",
        "value": 9.0,
        "score": None,
        "agent": "gpt-4-0328-generic",
    } in q1.suggestions


def test_mllm_zip_image_placeholders_in_order(datasets_dir):
    bundle = ZipBundle(datasets_dir / "llamafactory_mllm_demo.zip")
    reading, items = _read(bundle)
    assert reading.format == "openai"
    assert reading.data_files == ["mllm_demo.json"]
    assert len(items) == 6
    assert sum(len(m["images"]) for i in items for m in i.messages) == 8
    first = items[0]
    assert first.messages[0] == {"role": "user", "text": "Who are they?", "images": ["mllm_demo_data/1.jpg"]}
    assert first.messages[2] == {
        "role": "user",
        "text": "What are they doing?",
        "images": ["mllm_demo_data/1.jpg"],
    }
    assert all("<image>" not in m["text"] for i in items for m in i.messages)
    assert {img for i in items for m in i.messages for img in m["images"]} <= set(bundle.names())


def test_multimodal_folder_two_files_both_image_bases(datasets_dir):
    bundle = DirBundle(datasets_dir / "multimodal")
    reading, items = _read(bundle)
    assert reading.data_files == ["data/mllm_demo.json", "data/v1_multimodal_demo.jsonl"]
    assert len(items) == 6 + 24
    assert items[0].external_id == "data/mllm_demo.json:1"
    assert items[-1].external_id == "data/v1_multimodal_demo.jsonl:24"  # the trailing blank line is no record
    v1 = [i for i in items if i.external_id.startswith("data/v1")]
    assert v1[0].messages[0] == {
        "role": "user",
        "text": "Who are they?",
        "images": ["data/mllm_demo_data/1.jpg"],
    }
    assert sum(len(m["images"]) for i in v1 for m in i.messages) == 32
    assert any("请描述这张图片" in m["text"] for i in v1 for m in i.messages)
    images = {img for i in items for m in i.messages for img in m["images"]}
    assert images == {f"data/mllm_demo_data/{n}.jpg" for n in (1, 2, 3)}
