"""SFT response results: counting characters and words, limit checks, one result per class, diffs.

Counting rules (the text box's JavaScript counts the same way, see components/response_box):
- **Characters** are Unicode code points (Python's `len`), so an emoji or a CJK character is one character
  and the limit means the same thing in the browser, the database and the exports.
- **Words**: every Chinese character (Han), Hiragana and Katakana character counts as one word, because
  Chinese and Japanese are written without spaces. Everything else is split on whitespace and on those
  CJK characters; a piece counts as one word when it holds at least one letter or digit, so "don't",
  "state-of-the-art" and "3.14" are one word each and a lone "—" or "。" is none. Mixed text counts both:
  "我用Python写代码" is 6 words (5 Han characters + "Python").
- Korean (Hangul) is written with spaces between words, so it counts like English. Thai has no spaces
  between words and no dictionary is shipped here, so a Thai run counts as one word per space-separated
  piece (an undercount; the character count is exact).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Any, Protocol

# Han (CJK unified ideographs incl. extension A and compatibility), Hiragana, Katakana (incl. phonetic
# extensions and half-width forms). Extension B+ (astral) Han are matched too.
CJK_PATTERN = (
    "\u3040-\u309f\u30a0-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
    "\U00020000-\U0003134f"
)
_CJK = re.compile(f"[{CJK_PATTERN}]")
_SPLIT = re.compile(f"[\\s{CJK_PATTERN}]+")


def count_chars(text: str) -> int:
    """Characters as the limits count them: Unicode code points."""
    return len(text or "")


def count_words(text: str) -> int:
    """Words: space-separated words, plus one per Chinese/Japanese character (module docstring)."""
    if not text:
        return 0
    cjk = len(_CJK.findall(text))
    others = sum(1 for piece in _SPLIT.split(text) if any(ch.isalnum() for ch in piece))
    return cjk + others


class ResponseClass(Protocol):
    """What the limit checks read from an OntologyClass (tool "dialog_response")."""

    id: int | None
    name: str
    alias: str
    min_chars: int | None
    max_chars: int | None


def class_label(cls: ResponseClass) -> str:
    return cls.alias or cls.name


def limit_problem(cls: ResponseClass, text: str) -> str | None:
    """Why `text` is outside the class's character limits, naming the class; None when it is inside."""
    n = count_chars(text)
    low, high = cls.min_chars, cls.max_chars
    if not text.strip():
        return f"{class_label(cls)}: the reply is empty (write it, or delete it)"
    if low and n < low:
        return f"{class_label(cls)}: {n} characters, at least {low} needed"
    if high and n > high:
        return f"{class_label(cls)}: {n} characters, at most {high} allowed"
    return None


def limit_problems(work: dict[str, Any], classes: list[ResponseClass]) -> list[str]:
    """One message per response result outside its class's limits (results of unknown classes skipped)."""
    by_id = {c.id: c for c in classes}
    problems = []
    for result in response_results(work):
        cls = by_id.get(result.get("class_id"))
        if cls is None:
            continue
        problem = limit_problem(cls, result.get("text") or "")
        if problem:
            problems.append(problem)
    return problems


def _is_response(result: dict[str, Any]) -> bool:
    return result.get("message") is None and result.get("candidate") is None


def response_results(work: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in work.get("results", []) if _is_response(r)]


def find_result(work: dict[str, Any], class_id: int) -> dict[str, Any] | None:
    """The item's response result for `class_id`, or None."""
    for result in work.get("results", []):
        if _is_response(result) and result.get("class_id") == class_id:
            return result
    return None


def set_text(work: dict[str, Any], class_id: int, role: str, text: str) -> bool:
    """Write `text` as the class's reply, creating its one result if needed; True when work changed.

    An empty text on a class without a result creates nothing (opening a class is not writing a reply).
    """
    result = find_result(work, class_id)
    if result is None:
        if text == "":
            return False
        work.setdefault("results", []).append(
            {
                "class_id": class_id,
                "message": None,
                "candidate": None,
                "values": {},
                "text": text,
                "role": role,
                "source_text": None,
            }
        )
        return True
    if result.get("text") == text and result.get("role") == role:
        return False
    result["text"] = text
    result["role"] = role
    return True


def start_from(work: dict[str, Any], class_id: int, role: str, source_text: str) -> dict[str, Any]:
    """Start the class's reply from a model reply: the text becomes a copy, the original is kept."""
    set_text(work, class_id, role, source_text)
    result = find_result(work, class_id)
    assert result is not None  # set_text created it (or it existed)
    result["text"] = source_text
    result["source_text"] = source_text
    return result


def delete_result(work: dict[str, Any], class_id: int) -> bool:
    """Remove the class's response result; True when there was one."""
    before = len(work.get("results", []))
    work["results"] = [
        r for r in work.get("results", []) if not (_is_response(r) and r.get("class_id") == class_id)
    ]
    return len(work["results"]) != before


@dataclass(frozen=True)
class DiffPart:
    """A run of the word diff: op is "same", "added" or "removed"."""

    op: str
    text: str


_TOKEN = re.compile(f"\\s+|[{CJK_PATTERN}]|[^\\s{CJK_PATTERN}]+")


def word_diff(original: str, rewrite: str) -> list[DiffPart]:
    """Word-level diff of `original` → `rewrite` (CJK by character); whitespace kept, so joining the
    "same" and "added" parts gives back `rewrite` and "same" + "removed" gives back `original`."""
    a = _TOKEN.findall(original or "")
    b = _TOKEN.findall(rewrite or "")
    parts: list[DiffPart] = []

    def push(op: str, tokens: list[str]) -> None:
        if not tokens:
            return
        text = "".join(tokens)
        if parts and parts[-1].op == op:
            parts[-1] = DiffPart(op, parts[-1].text + text)
        else:
            parts.append(DiffPart(op, text))

    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if tag == "equal":
            push("same", a[i1:i2])
        else:
            push("removed", a[i1:i2])
            push("added", b[j1:j2])
    return parts
