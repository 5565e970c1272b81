"""The native reader's fast path accepts and refuses exactly what the full path does, with the same messages."""

from __future__ import annotations

import orjson
import pytest

from core.errors import FormatError
from core.formats import read_bundle
from core.formats.base import ImportOptions
from core.formats.simple_bundles import DictBundle


def _items(records: list, **options) -> list:  # type: ignore[no-untyped-def]
    files = {"d.jsonl": b"\n".join(orjson.dumps(r) for r in records)}
    return list(read_bundle(DictBundle(files), ImportOptions(format="native", **options)).items)


def test_plain_turns_and_replies_come_out_as_the_full_path_makes_them() -> None:
    [item] = _items(
        [
            {
                "id": "c1",
                "messages": [
                    {"role": "user", "content": "hi"},
                    {"role": "Assistant", "content": "capitalised role: full path"},
                    {"role": "human", "text": "text key"},
                    {"role": "gpt", "content": "with meta", "meta": {"k": 1}},
                    {"role": "system", "content": 7},
                ],
                "responses": ["plain string", {"content": "a", "model": "m1"}, {"content": "b", "model": ""},
                              {"content": "c"}, {"content": "d", "meta": {"x": 1}}],
            }
        ]
    )  # fmt: skip
    assert item.messages == [
        {"role": "user", "text": "hi", "images": []},
        {"role": "bot", "text": "capitalised role: full path", "images": []},
        {"role": "user", "text": "text key", "images": []},
        {"role": "bot", "text": "with meta", "images": [], "meta": {"k": 1}},
        {"role": "system", "text": "7", "images": []},
    ]
    assert item.candidates == [
        {"text": "plain string", "images": []},
        {"text": "a", "model": "m1", "images": []},
        {"text": "b", "images": []},
        {"text": "c", "images": []},
        {"text": "d", "images": [], "meta": {"x": 1}},
    ]


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"messages": [{"from": "human", "value": "x"}]}, r"messages\[0\]\.role: unknown role None"),
        (
            {"messages": [{"role": "narrator", "content": "x"}]},
            r"messages\[0\]\.role: unknown role 'narrator'",
        ),
        (
            {"messages": [{"role": "user", "content": "ok"}, {"role": "user", "content": "a\u0000b"}]},
            r"messages\[1\]\.content: text contains a NUL byte",
        ),
        (
            {"messages": [{"role": "user", "content": "x" * 11}]},
            r"messages\[0\]\.content: text is 11 characters",
        ),
        (
            {"messages": [{"role": "user", "content": ["x"]}]},
            r"messages\[0\]\.content: expected text, got list",
        ),
        (
            {"messages": [{"role": "user", "content": "x"}], "responses": [{"content": "y" * 11}]},
            r"responses\[0\]\.content: text is 11 characters",
        ),
        (
            {
                "messages": [{"role": "user", "content": "x"}],
                "responses": ["ok", {"content": "y", "model": "m\u0000"}],
            },
            r"responses\[1\]\.model: text contains a NUL byte",
        ),
        ({"messages": []}, r"messages: empty dialogue"),
        (["not", "an", "object"], r"expected a JSON object, got list"),
    ],
)
def test_bad_turns_give_the_full_paths_message(record: object, message: str) -> None:
    with pytest.raises(FormatError, match=message) as err:
        _items([{"messages": [{"role": "user", "content": "fine"}]}, record], max_message_chars=10)
    assert "d.jsonl" in str(err.value) and "line 2" in str(err.value)


def test_a_reply_without_text_is_read_as_empty_like_before() -> None:
    [item] = _items([{"messages": [{"role": "user", "content": "x"}], "responses": [{"model": "m"}]}])
    assert item.candidates == [{"text": "", "model": "m", "images": []}]
