"""Full-text search, the parts that need no database: the text an item is found by, queries, highlights.

Both engines (SQLite FTS5 with the unicode61 tokenizer, PostgreSQL full text with the `simple`
configuration) find whole words, case-insensitively, with no stemming. Chinese and Japanese have no spaces
between words, so every CJK character of an item's text is indexed as a word of its own and a run of them in
a query becomes a phrase of those characters: "机器学习" finds the four characters in a row, wherever they
stand. That keeps the index a word index (a trigram index of the same text is several times bigger).

Queries: words (all must match, in any order), "quoted phrases" (the words in a row), and `word*` for
every word starting with `word`. Punctuation separates words as it does in the index.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

# CJK ideographs (with extensions and compatibility forms), kana, and their half-width forms.
_CJK = "\u3040-\u30ff\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f\U00020000-\U0003134f"
_CJK_CHAR = re.compile(f"([{_CJK}])")
# A word: letters and digits (no underscore: FTS5's unicode61 separates at it too), or one CJK character.
_WORD = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")
_QUERY = re.compile(r'"([^"]*)"?|(\S+)')
_SEPARATORS = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Term:
    """Words that must stand in a row (one word for a plain term); `prefix`: the last word may go on."""

    words: tuple[str, ...]
    prefix: bool = False


def document(text: str, *, separate: bool = False) -> str:
    """The text as the index takes it: CJK characters spaced apart; with `separate` (PostgreSQL, whose parser
    keeps "a.b" or "x-y" whole), every run of non-word characters made one space, as FTS5 splits them."""
    if text.isascii():
        return _SEPARATORS.sub(" ", text) if separate else text
    text = _CJK_CHAR.sub(r" \1 ", text)
    return _SEPARATORS.sub(" ", text) if separate else text


def words_of(text: str) -> list[str]:
    """The words of `text` as the index sees them, lower-cased."""
    return [w.lower() for w in _WORD.findall(text)]


def parse(query: str) -> list[Term]:
    """The terms of a query (see the module's docstring); [] when it has no word at all."""
    terms = []
    for phrase, bare in _QUERY.findall(query or ""):
        raw = phrase if phrase else bare
        prefix = not phrase and raw.endswith("*")
        words = words_of(raw)
        if not words:
            continue
        if phrase:
            terms.append(Term(tuple(words)))
            continue
        # a bare token holding punctuation or CJK ("e-mail", "机器学习") is the phrase of its words
        terms.append(Term(tuple(words), prefix=prefix and not _CJK_CHAR.match(words[-1])))
    return terms


def fts5_query(terms: list[Term]) -> str:
    """The terms as an FTS5 MATCH expression (every word quoted, so no word is read as an operator)."""
    parts = []
    for t in terms:
        quoted = '"' + " ".join(t.words) + '"'
        parts.append(quoted + "*" if t.prefix else quoted)
    return " AND ".join(parts)


def pg_tsquery(terms: list[Term]) -> str:
    """The terms as a PostgreSQL tsquery text for to_tsquery('simple', …)."""
    parts = []
    for t in terms:
        lexemes = [f"'{w}'" for w in t.words]
        if t.prefix:
            lexemes[-1] += ":*"
        parts.append(lexemes[0] if len(lexemes) == 1 else "(" + " <-> ".join(lexemes) + ")")
    return " & ".join(parts)


def _pattern(terms: list[Term]) -> re.Pattern[str] | None:
    """One regex finding every term: a word with word boundaries (the last one open for a prefix term), the
    words of a phrase in a row with only separators between them."""
    alternatives = set()
    for t in terms:
        parts = []
        for i, w in enumerate(t.words):
            if _CJK_CHAR.match(w):
                parts.append(re.escape(w))
            elif t.prefix and i == len(t.words) - 1:
                parts.append(rf"(?<![^\W_]){re.escape(w)}[^\W_{_CJK}]*")
            else:
                parts.append(rf"(?<![^\W_]){re.escape(w)}(?![^\W_{_CJK}])")
        alternatives.add(r"[\W_]*".join(parts))
    if not alternatives:
        return None
    return re.compile("|".join(sorted(alternatives, key=len, reverse=True)), re.IGNORECASE)


def spans(text: str, query: str) -> list[tuple[int, int]]:
    """Where the query's words stand in `text`: (start, end) pairs in order, for highlighting."""
    pattern = _pattern(parse(query))
    out: list[tuple[int, int]] = []
    for m in pattern.finditer(text) if pattern else ():
        if out and out[-1][1] == m.start():  # "机器学习": one mark, not four
            out[-1] = (out[-1][0], m.end())
        else:
            out.append(m.span())
    return out


def marked_html(text: str, query: str, width: int = 160) -> str:
    """`text` as HTML (escaped) with <mark> round the query's words; cut to about `width` characters
    round the first match (… where cut). With no match, the start of the text."""
    found = spans(text, query)
    start = 0
    if found and found[0][0] > width // 3:
        start = found[0][0] - width // 3
    end = min(len(text), start + width)
    out = ["…" if start else ""]
    at = start
    for a, b in found:
        if b <= start or a >= end:
            continue
        a, b = max(a, start), min(b, end)
        out.append(html.escape(text[at:a]))
        out.append(f"<mark>{html.escape(text[a:b])}</mark>")
        at = b
    out.append(html.escape(text[at:end]))
    out.append("…" if end < len(text) else "")
    return "".join(out)
