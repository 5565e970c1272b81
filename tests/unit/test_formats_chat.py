"""The record formats' finer points: content parts, placeholders, preference shapes, KTO, Alpaca history."""

from __future__ import annotations

import orjson
import pytest

from core.errors import FormatError
from core.formats import read_bundle
from core.formats.base import ImportOptions
from core.formats.simple_bundles import DictBundle


def _items(records, fmt=None, extra=None):
    files = {"d.jsonl": b"\n".join(orjson.dumps(r) for r in records)}
    files.update(extra or {})
    return list(read_bundle(DictBundle(files), ImportOptions(format=fmt)).items)


IMGS = {"a.png": b"x", "b.png": b"y"}


def test_openai_image_url_parts_and_data_urls():
    rec = {
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "Compare"},
                    {"type": "image_url", "image_url": {"url": "a.png"}},
                    {"type": "image_url", "image_url": {"url": "https://example.org/c.jpg"}},
                    {"type": "text", "text": "please"},
                ],
            },
            {"role": "assistant", "content": [{"type": "text", "text": "Same."}]},
        ]
    }
    (item,) = _items([rec], extra=IMGS)
    assert item.messages[0] == {
        "role": "user",
        "text": "Compare\nplease",
        "images": ["a.png", "https://example.org/c.jpg"],
    }
    assert item.messages[1] == {"role": "bot", "text": "Same.", "images": []}


def test_trl_image_parts_take_the_images_list_in_order():
    rec = {
        "images": ["b.png", "a.png"],
        "messages": [
            {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "What?"}]},
            {"role": "assistant", "content": "A"},
            {"role": "user", "content": [{"type": "text", "text": "And?"}, {"type": "image"}]},
        ],
    }
    (item,) = _items([rec], extra=IMGS)
    assert [m["images"] for m in item.messages] == [["b.png"], [], ["a.png"]]


def test_placeholder_anywhere_same_image_repeated():
    rec = {
        "messages": [
            {"role": "user", "content": "Look <image> here and <image> there"},
            {"role": "assistant", "content": "ok"},
        ],
        "images": ["a.png", "a.png"],
    }
    (item,) = _items([rec], extra=IMGS)
    assert item.messages[0]["images"] == ["a.png", "a.png"]
    assert "<image>" not in item.messages[0]["text"]


def test_fewer_placeholders_than_images_is_an_error():
    rec = {"messages": [{"role": "user", "content": "<image>one"}], "images": ["a.png", "b.png"]}
    with pytest.raises(FormatError, match="2 images but only 1"):
        _items([rec], extra=IMGS)


def test_trl_preference_strings_and_implicit_prompt():
    explicit = {"prompt": "Capital of France?", "chosen": "Paris", "rejected": "Lyon"}
    implicit = {
        "chosen": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "4"}],
        "rejected": [{"role": "user", "content": "2+2?"}, {"role": "assistant", "content": "5"}],
    }
    a, b = _items([explicit, implicit])
    assert a.messages == [{"role": "user", "text": "Capital of France?", "images": []}]
    assert [c["text"] for c in a.candidates] == ["Paris", "Lyon"]
    assert a.suggestions == [
        {
            "kind": "preference",
            "target": None,
            "value": {"chosen": 0, "rejected": 1},
            "score": None,
            "agent": "preference",
        }
    ]
    assert [m["text"] for m in b.messages] == ["2+2?"]
    assert [c["text"] for c in b.candidates] == ["4", "5"]


def test_prompt_with_completions_and_scores():
    rec = {
        "prompt": "Name a colour",
        "completions": [
            {"model": "m1", "response": "red", "overall_score": 7},
            {"model": "m2", "response": "blue"},
        ],
    }
    (item,) = _items([rec])
    assert [(c["model"], c["text"]) for c in item.candidates] == [("m1", "red"), ("m2", "blue")]
    assert item.suggestions == [
        {"kind": "score", "target": "c0", "value": 7.0, "score": None, "agent": "preference"}
    ]


def test_kto_unpaired_prompt_completion():
    (item,) = _items([{"prompt": "hi", "completion": "go away", "label": False}])
    assert item.messages == [{"role": "user", "text": "hi", "images": []}]
    assert item.candidates[0]["text"] == "go away"
    assert item.suggestions[0] == {
        "kind": "label",
        "target": "c0",
        "value": False,
        "score": None,
        "agent": "kto",
    }


def test_alpaca_system_history_and_meta():
    rec = {
        "system": "Be brief.",
        "history": [["Hi", "Hello"]],
        "instruction": "Sum",
        "input": "1 2",
        "output": "3",
        "lang": "en",
    }
    (item,) = _items([rec])
    assert [(m["role"], m["text"]) for m in item.messages] == [
        ("system", "Be brief."),
        ("user", "Hi"),
        ("bot", "Hello"),
        ("user", "Sum\n\n1 2"),
        ("bot", "3"),
    ]
    assert item.meta == {"lang": "en"}


def test_source_ids_and_extra_fields_are_kept():
    rec = {"id": 42, "messages": [{"role": "User", "content": "hi", "name": "ann"}], "source": "forum"}
    (item,) = _items([rec])
    assert item.external_id == "42"
    assert item.messages[0] == {"role": "user", "text": "hi", "images": [], "meta": {"name": "ann"}}
    assert item.meta == {"source": "forum"}


def test_sharegpt_top_level_system_prompt_is_the_first_message():
    rec = {
        "system": "You are terse.",
        "conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "yo"}],
    }
    (item,) = _items([rec])
    assert [(m["role"], m["text"]) for m in item.messages] == [
        ("system", "You are terse."),
        ("user", "hi"),
        ("bot", "yo"),
    ]
    assert item.meta == {}
