"""Shapes every export writer shares: the export item, the ontology lookups, chat messages, options.

The store hands each writer one **export item** at a time (a plain dict, never the whole dataset):
    {"id": str, "name": str, "position": int,
     "messages": [{"role": "user"|"bot"|"system", "text": str, "images": [ref, ...], "meta": {...}}],
     "candidates": [{"text": str, "model": str, "images": [ref, ...], "meta": {...}}],
     "meta": {...}, "suggestions": [{"kind", "target", "value", "score", "agent"}],
     "annotations": [{"annotator": str, "status": str, "validity": "valid"|"invalid", "invalid_reason": str,
                      "updated_at": str | None, "submitted_at": str | None,
                      "classifications": {classification name: answer},
                      "results": [{"class": name, "message": int | None, "candidate": int | None,
                                   "values": {...}, "text": str | None, "role": str | None,
                                   "source_text": str | None}],
                      native only, where set: "final": True, "needs_review": True,
                      "review": {"by", "reason", "rounds", "at"}, "original": work, "seconds": float}],
     "history": [{"at", "action", "by", "annotator", "status", "reason", "rounds", "before", "after"}]}
The annotations are the annotators' work, or (the export's `final` filter) the items' final answers alone;
a native export carries both, the final one marked. History is read for native exports only; a work there
(original, before, after) has the validity, classifications and results keys of an annotation.
Image refs are already what the export writes (a file name inside the archive made by the exporter, or a
blob URL); writers never see asset ids or paths from the data.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

OPENAI_ROLE = {"user": "user", "bot": "assistant", "system": "system"}
IMAGE_TOKEN = "<image>"
PAIR_MODES = ("all", "best")  # every ordered pair / best-vs-rest


@dataclass
class Options:
    """What the person exporting chose that changes the records themselves."""

    pair_mode: str = "all"


def as_number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value).strip())
    except ValueError:
        return None


def score_scale(attribute: dict[str, Any]) -> tuple[float, float] | None:
    """(low, high) of a numeric attribute (rating, number, radio with numeric options), else None.

    Only such attributes count as a per-candidate **score**: DPO pairs prefer the higher value, KTO labels
    a value above the middle of (low, high) desirable and one below it undesirable.
    """
    kind = attribute.get("type")
    if kind == "rating":
        options = attribute.get("options") or []
        high = as_number(attribute.get("max")) or as_number(attribute.get("scale")) or (len(options) or 5)
        return (as_number(attribute.get("min")) or 1.0, float(high))
    if kind == "number":
        low, high = as_number(attribute.get("min")), as_number(attribute.get("max"))
        return (low, high) if low is not None and high is not None and low < high else None
    if kind == "radio":
        numbers = [as_number(o) for o in attribute.get("options") or []]
        if len(numbers) >= 2 and all(n is not None for n in numbers):
            return (min(numbers), max(numbers))  # type: ignore[type-var]
    return None


@dataclass
class Schema:
    """Lookups over an ontology dict (the DESIGN.md ontology JSON), deleted classes included by name."""

    classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    classifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    _scores: dict[str, list[tuple[str, tuple[float, float], str]]] = field(default_factory=dict, repr=False)
    _types: dict[str, str] | None = field(default=None, repr=False)

    @classmethod
    def from_ontology(cls, ontology: dict[str, Any] | None) -> Schema:
        ontology = ontology or {}
        return cls(
            classes={c["name"]: c for c in ontology.get("classes", [])},
            classifications={q["name"]: q for q in ontology.get("classifications", [])},
        )

    def response_classes(self) -> list[str]:
        return [n for n, c in self.classes.items() if c.get("tool") == "dialog_response"]

    def score_attributes(self, class_name: str) -> list[tuple[str, tuple[float, float], str]]:
        """(attribute name, scale, "class.attribute") for the numeric attributes of an evaluation class
        (memoized: asked once per result)."""
        hit = self._scores.get(class_name)
        if hit is None:
            hit = self._scores[class_name] = [
                (attr, scale, f"{class_name}.{attr}") for attr, scale in self._score_attributes(class_name)
            ]
        return hit

    def question_types(self) -> dict[str, str]:
        """Classification name → type (memoized)."""
        if self._types is None:
            self._types = {name: q.get("type", "") for name, q in self.classifications.items()}
        return self._types

    def _score_attributes(self, class_name: str) -> list[tuple[str, tuple[float, float]]]:
        cls = self.classes.get(class_name) or {}
        if cls.get("tool", "dialog_evaluation") != "dialog_evaluation":
            return []
        out = []
        for attr in cls.get("attributes") or []:
            scale = score_scale(attr)
            if scale is not None:
                out.append((attr["name"], scale))
        return out

    def questions_of_type(self, *types: str) -> list[str]:
        return [n for n, q in self.classifications.items() if q.get("type") in types]

    def has_preferences(self) -> bool:
        """True when the ontology can give preference pairs: a ranking, a pairwise question or a score."""
        if self.questions_of_type("ranking", "pairwise"):
            return True
        return any(self.score_attributes(name) for name in self.classes)

    def attribute_names(self) -> list[str]:
        """Every attribute name in class order, once (spreadsheet columns)."""
        seen: dict[str, None] = {}
        for cls in self.classes.values():
            for attr in cls.get("attributes") or []:
                seen.setdefault(attr["name"], None)
        return list(seen)


def chat(message: dict[str, Any], role: str | None = None) -> dict[str, str]:
    """An OpenAI-style message: user/assistant/system and a string; one `<image>` token per image.

    Content stays a string in every record (so a JSONL loads as one Arrow schema); images go in the record's
    `images` list in order, each marked by an `<image>` token where it sits (the LLaMA-Factory/ShareGPT
    convention), so a vision trainer can pair them.
    """
    return {
        "role": OPENAI_ROLE.get(role or message.get("role", "bot"), "assistant"),
        "content": content(message),
    }


def content(message: dict[str, Any]) -> str:
    """A chat message's content: the text after one `<image>` token per image (see `chat`)."""
    text = message.get("text") or ""
    images = message.get("images")
    return IMAGE_TOKEN * len(images) + text if images else text


def images_in(*messages: dict[str, Any]) -> list[str]:
    return [ref for m in messages for ref in (m.get("images") or [])]


def usable_annotations(item: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The annotations a training format may learn from: valid ones (invalid items are left out)."""
    for ann in item.get("annotations") or []:
        if ann.get("validity", "valid") == "valid":
            yield ann
