"""The item filter shared by the Datasets list, the tool pages' "Show" menu, Export and the report.

An `ItemFilter` selects items of one dataset. Its fields combine with AND; a list field matches any of its
values (OR). An empty field does not filter. What each field means for an item (store/filters.py turns it
into SQL, exactly as written here):

- `search`: the item matches the full-text query (messages, candidates, written replies, comments).
- Annotation conditions: `status`, `annotators`, `label` (+ `attribute`, `value`), `question` + `answer`
  and `validity` all hold for ONE annotation of the item (the same annotation, not one each):
  - `status`: the annotation's status is one of the chosen: "draft" (a draft or saved work, not
    submitted), "submitted" (submitted, not yet accepted or rejected), "accepted", "rejected", "final" (the
    item's adjudicated final answer, `Annotation.final`; the other statuses are the annotators' own work,
    never the final answer). "untouched" is the odd one out: the item has no annotation (by the chosen
    annotators when `annotators` is set, by anyone otherwise; a final answer counts as one) — so
    ["untouched", "draft"] reads "nobody has submitted anything here".
  - `annotators`: the annotation is by one of these users (usernames). With no `status`, any status.
  - `label`: the annotation has a result of this class (its name); with `attribute` and `value`, one whose
    attribute has that value (a checkbox attribute: contains it). Drafts never count here (a draft's work
    is not in results until saved).
  - `question` + `answer`: the annotation's answer to this classification (its name) is `answer`: radio
    and text equal it, checkbox contains it; ranking: `answer` is the candidate label ranked first ("A",
    "B", …); pairwise: the chosen candidate's label, or "tie". Drafts never count.
  - `validity`: "valid" or "invalid" as marked on the annotation. Drafts never count.
- `comments`: True: the item has at least one comment (resolved or not); False: it has none.
- `disagree`: the item has at least two submitted or accepted annotations (final answers aside) that differ
  in their classification answers (the stored answers compared as a whole) or in their results (a
  class on a bubble with its values present in one and not in another).
- `models`: one of the item's candidates was written by one of these models (its model name).
- `imported_from` / `imported_to`: the item was imported on or after / on or before these days (UTC, both
  inclusive).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, fields
from datetime import date
from typing import Any

STATUSES = ("untouched", "draft", "submitted", "accepted", "rejected", "final")
VALIDITIES = ("valid", "invalid")


class FilterError(ValueError):
    """A filter that cannot be read: one line naming the field and what is wrong."""


@dataclass
class ItemFilter:
    """Which items of a dataset to show, annotate, export or report (module doc: what each field means)."""

    search: str = ""
    status: list[str] = field(default_factory=list)
    annotators: list[str] = field(default_factory=list)
    label: str = ""
    attribute: str = ""
    value: str = ""
    question: str = ""
    answer: str = ""
    validity: str = ""
    comments: bool | None = None
    disagree: bool = False
    models: list[str] = field(default_factory=list)
    imported_from: date | None = None
    imported_to: date | None = None

    def is_empty(self) -> bool:
        return self == ItemFilter()

    def without_search(self) -> ItemFilter:
        return ItemFilter.from_dict({**self.to_dict(), "search": ""})

    def annotation_level(self) -> bool:
        """Whether any condition on one annotation is set (status aside)."""
        return bool(self.annotators or self.label or self.question or self.validity)

    def unchanged_by_drafts(self) -> bool:
        """Whether keeping a draft (what the tool pages do with unsaved work on leaving an item: an annotation
        in status "draft" if there was none, its work not in its results and answers) never changes which
        items this filter selects: no "untouched" or "draft" status, and annotators only beside a status."""
        return not ({"untouched", "draft"} & set(self.status)) and not (self.annotators and not self.status)

    def to_dict(self) -> dict[str, Any]:
        """The set fields only, JSON-safe (dates as "YYYY-MM-DD"); from_dict reads it back."""
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value in ("", [], None, False):
                continue
            out[f.name] = value.isoformat() if isinstance(value, date) else value
        if self.comments is False:
            out["comments"] = False
        return out

    def to_json(self) -> str:
        """Canonical JSON (sorted keys): equal filters give equal text, for cache keys."""
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: Any) -> ItemFilter:
        """Read a filter; FilterError names the first bad field ("filter field status: unknown 'done' …")."""
        if data is None:
            return cls()
        if not isinstance(data, dict):
            raise FilterError(f"filter: expected an object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise FilterError(f"filter: unknown field {unknown[0]!r} (known: {', '.join(sorted(known))})")
        kw: dict[str, Any] = {}
        for name in ("search", "label", "attribute", "value", "question", "answer", "validity"):
            if name in data and data[name] is not None:
                kw[name] = _text(name, data[name])
        for name in ("status", "annotators", "models"):
            if name in data and data[name] is not None:
                kw[name] = _texts(name, data[name])
        for name in ("imported_from", "imported_to"):
            if data.get(name) not in (None, ""):
                kw[name] = _day(name, data[name])
        if data.get("comments") is not None:
            kw["comments"] = _flag("comments", data["comments"])
        if data.get("disagree") is not None:
            kw["disagree"] = _flag("disagree", data["disagree"])
        flt = cls(**kw)
        flt.check()
        return flt

    def check(self) -> None:
        """FilterError when the fields do not make one filter (unknown status, attribute without class …)."""
        bad = [s for s in self.status if s not in STATUSES]
        if bad:
            raise FilterError(f"filter field status: unknown {bad[0]!r} (choose from {', '.join(STATUSES)})")
        if self.validity and self.validity not in VALIDITIES:
            raise FilterError(f"filter field validity: {self.validity!r} is not valid or invalid")
        if self.attribute and not self.label:
            raise FilterError("filter field attribute: choose a class (label) too")
        if self.value and not self.attribute:
            raise FilterError("filter field value: choose an attribute too")
        if bool(self.question) != bool(self.answer):
            raise FilterError("filter fields question and answer: set both or neither")
        if self.imported_from and self.imported_to and self.imported_from > self.imported_to:
            raise FilterError(
                f"filter fields imported_from/imported_to: {self.imported_from} is after {self.imported_to}"
            )

    def describe(self) -> str:
        """A short summary: 'search: "refund" · status: submitted · annotator: ann1 · model: m-large'."""
        parts: list[str] = []
        if self.search.strip():
            parts.append(f'search: "{self.search.strip()}"')
        if self.status:
            parts.append("status: " + ", ".join(self.status))
        if self.annotators:
            parts.append(
                ("annotators: " if len(self.annotators) > 1 else "annotator: ") + ", ".join(self.annotators)
            )
        if self.label:
            text = f"class: {self.label}"
            if self.attribute:
                text += f" · {self.attribute}" + (f" = {self.value}" if self.value else "")
            parts.append(text)
        if self.question:
            parts.append(f"{self.question} = {self.answer}")
        if self.validity:
            parts.append(f"validity: {self.validity}")
        if self.comments is not None:
            parts.append("has comments" if self.comments else "no comments")
        if self.disagree:
            parts.append("annotators disagree")
        if self.models:
            parts.append(("models: " if len(self.models) > 1 else "model: ") + ", ".join(self.models))
        if self.imported_from or self.imported_to:
            lo = self.imported_from.isoformat() if self.imported_from else "…"
            hi = self.imported_to.isoformat() if self.imported_to else "…"
            parts.append(f"imported {lo} – {hi}")
        return " · ".join(parts) if parts else "all items"


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise FilterError(f"filter field {name}: expected text, got {type(value).__name__}")
    if len(value) > 500:
        raise FilterError(f"filter field {name}: longer than 500 characters")
    return value.strip() if name != "search" else value


def _texts(name: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        raise FilterError(f"filter field {name}: expected a list of text, got {type(value).__name__}")
    out: list[str] = []
    for v in value:
        text = _text(name, v)
        if text and text not in out:
            out.append(text)
    return out


def _day(name: str, value: Any) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise FilterError(f"filter field {name}: {value!r} is not a day like 2026-01-31") from None


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise FilterError(f"filter field {name}: expected true or false, got {value!r}")
    return value
