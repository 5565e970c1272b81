"""Response results: counting, limits, one result per class, start from the model's reply, diff."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from core.response import (
    count_chars,
    count_words,
    delete_result,
    find_result,
    limit_problem,
    limit_problems,
    set_text,
    start_from,
    word_diff,
)


@dataclass
class Cls:
    id: int
    name: str
    alias: str = ""
    min_chars: int | None = None
    max_chars: int | None = None


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", 0),
        ("   \n\t ", 0),
        ("Hello world", 2),
        ("  Hello,   world!  ", 2),
        ("don't stop state-of-the-art 3.14", 4),
        ("a — b", 2),  # a lone dash is no word
        ("你好世界", 4),  # Chinese: one word a character
        ("你好，世界。", 4),  # full-width punctuation is no word
        ("こんにちは", 5),  # Hiragana
        ("カタカナ", 4),  # Katakana
        ("我用Python写代码", 6),  # 5 Han + "Python"
        ("Use 中文 words", 4),
        ("안녕하세요 세계", 2),  # Korean is written with spaces
        ("line one\nline two", 4),
        ("😀 ok", 1),  # an emoji alone is no word
    ],
)
def test_count_words(text: str, words: int) -> None:
    assert count_words(text) == words


def test_count_chars_counts_code_points() -> None:
    assert count_chars("你好") == 2
    assert count_chars("😀a") == 2  # one emoji is one character (not two UTF-16 units)
    assert count_chars("a\nb") == 3


def test_limit_problem_names_the_class() -> None:
    cls = Cls(1, "ideal_reply", alias="Ideal reply", min_chars=5, max_chars=10)
    assert limit_problem(cls, "hello") is None
    assert limit_problem(cls, "0123456789") is None
    assert limit_problem(cls, "hey") == "Ideal reply: 3 characters, at least 5 needed"
    assert limit_problem(cls, "01234567890") == "Ideal reply: 11 characters, at most 10 allowed"
    assert limit_problem(Cls(2, "free"), "x") is None  # no limits
    assert limit_problem(Cls(2, "free"), " \n") == "free: the reply is empty (write it, or delete it)"


def test_limit_problems_over_work() -> None:
    classes = [Cls(1, "a", min_chars=3), Cls(2, "b", max_chars=2)]
    work = {"results": []}
    set_text(work, 1, "bot", "ok")
    set_text(work, 2, "user", "fine")
    work["results"].append({"class_id": 1, "message": 0, "candidate": None, "text": None})  # evaluation
    assert limit_problems(work, classes) == [
        "a: 2 characters, at least 3 needed",
        "b: 4 characters, at most 2 allowed",
    ]


def test_one_result_per_class() -> None:
    work: dict = {"results": []}
    assert set_text(work, 1, "bot", "") is False  # opening a class writes nothing
    assert work["results"] == []
    assert set_text(work, 1, "bot", "first") is True
    assert set_text(work, 2, "user", "other class") is True
    assert set_text(work, 1, "bot", "first, edited") is True
    assert set_text(work, 1, "bot", "first, edited") is False
    assert [r["class_id"] for r in work["results"]] == [1, 2]
    result = find_result(work, 1)
    assert result == {
        "class_id": 1,
        "message": None,
        "candidate": None,
        "values": {},
        "text": "first, edited",
        "role": "bot",
        "source_text": None,
    }
    assert find_result(work, 2)["text"] == "other class"


def test_delete_result() -> None:
    work: dict = {"results": []}
    set_text(work, 1, "bot", "x")
    set_text(work, 2, "bot", "y")
    assert delete_result(work, 1) is True
    assert delete_result(work, 1) is False
    assert find_result(work, 1) is None
    assert find_result(work, 2)["text"] == "y"


def test_start_from_model_reply_keeps_original() -> None:
    work: dict = {"results": []}
    set_text(work, 1, "bot", "my draft")
    result = start_from(work, 1, "bot", "The model said this.")
    assert result["text"] == "The model said this."
    assert result["source_text"] == "The model said this."
    set_text(work, 1, "bot", "The model said that.")
    assert find_result(work, 1)["source_text"] == "The model said this."
    assert len(work["results"]) == 1


def test_word_diff() -> None:
    parts = word_diff("The cat sat on the mat.", "The cat lay on the warm mat.")
    assert [(p.op, p.text) for p in parts] == [
        ("same", "The cat "),
        ("removed", "sat"),
        ("added", "lay"),
        ("same", " on the "),
        ("added", "warm "),
        ("same", "mat."),
    ]
    assert "".join(p.text for p in parts if p.op != "removed") == "The cat lay on the warm mat."
    assert "".join(p.text for p in parts if p.op != "added") == "The cat sat on the mat."


def test_word_diff_chinese_by_character() -> None:
    parts = word_diff("我喜欢猫", "我喜欢狗")
    assert [(p.op, p.text) for p in parts] == [("same", "我喜欢"), ("removed", "猫"), ("added", "狗")]
