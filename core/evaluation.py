"""RLHF evaluation rules: classes per bubble, results, number hotkeys, class inheritance, validation,
rankings and pairwise answers, blind candidate order, and suggestions (kept apart from results).

Pure Python over the working copy ("work", see store/annotations.py): no streamlit, no database.
A bubble is named by a reference: "m3" (message 3) or "c1" (candidate 1, always its ORIGINAL index in
Item.candidates, whatever order the page shows them in).
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import dataclass, field
from typing import Any

from core.dialogue import candidate_label

EVALUATION_TOOL = "dialog_evaluation"
NUMBER_KEYS = ("1", "2", "3", "4", "5", "6", "7", "8", "9", "0")
PAIRWISE_STRENGTHS = {1: "slightly better", 2: "better", 3: "much better"}
# Words that make a radio attribute able to take a yes/no ("label") suggestion, true word first.
LABEL_WORDS = (
    ("good", "bad"),
    ("yes", "no"),
    ("true", "false"),
    ("acceptable", "unacceptable"),
    ("👍", "👎"),
)


# ---------------------------------------------------------------- ontology shapes


@dataclass(frozen=True)
class ClassDef:
    """An evaluation class as the page needs it (built from an OntologyClass row or a dict)."""

    id: int
    name: str
    alias: str = ""
    number: int = 0
    color: str = "#3b5bdb"
    tool: str = EVALUATION_TOOL
    targets: tuple[str, ...] = ("bot",)
    attributes: tuple[dict[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return self.alias or self.name

    @classmethod
    def from_obj(cls, obj: Any) -> ClassDef:
        get = obj.get if isinstance(obj, dict) else lambda k, d=None: getattr(obj, k, d)
        return cls(
            id=int(get("id")),
            name=str(get("name", "")),
            alias=str(get("alias", "") or ""),
            number=int(get("number", 0) or 0),
            color=str(get("color", "#3b5bdb") or "#3b5bdb"),
            tool=str(get("tool", EVALUATION_TOOL) or EVALUATION_TOOL),
            targets=tuple(get("targets", None) or ("bot",)),
            attributes=tuple(dict(a) for a in (get("attributes", None) or ())),
        )


@dataclass(frozen=True)
class QuestionDef:
    """An item-level classification (radio, checkbox, text, ranking, pairwise)."""

    id: int
    name: str
    type: str
    title: str = ""
    options: tuple[str, ...] = ()
    required: bool = False
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.title or self.name

    @property
    def allow_ties(self) -> bool:
        """Ranking: may candidates share a rank."""
        return bool(self.settings.get("allow_ties", False))

    @property
    def allow_tie(self) -> bool:
        """Pairwise: may the answer be a tie (on unless the ontology says not)."""
        return bool(self.settings.get("allow_tie", True))

    @property
    def strengths(self) -> tuple[str, ...]:
        """Pairwise strength labels, weakest first; an answer's strength is 1-based into them."""
        return tuple(self.settings.get("strengths") or PAIRWISE_STRENGTHS.values())

    @classmethod
    def from_obj(cls, obj: Any) -> QuestionDef:
        get = obj.get if isinstance(obj, dict) else lambda k, d=None: getattr(obj, k, d)
        return cls(
            id=int(get("id")),
            name=str(get("name", "")),
            type=str(get("type", "")),
            title=str(get("title", "") or ""),
            options=tuple(str(o) for o in (get("options", None) or ())),
            required=bool(get("required", False)),
            settings=dict(get("settings", None) or {}),
        )


# ---------------------------------------------------------------- bubbles and results


def bubble_refs(
    messages: list[dict[str, Any]], candidates: list[dict[str, Any]], order: list[int]
) -> list[str]:
    """Every bubble in the order the page shows them: messages, then candidates in display order."""
    return [f"m{i}" for i in range(len(messages))] + [f"c{k}" for k in order]


def parse_ref(ref: str) -> tuple[str, int]:
    """("message" | "candidate", index) for "m3" / "c1"."""
    if len(ref) < 2 or ref[0] not in "mc" or not ref[1:].isdigit():
        raise ValueError(f"not a bubble reference: {ref!r}")
    return ("message" if ref[0] == "m" else "candidate"), int(ref[1:])


def result_ref(result: dict[str, Any]) -> str | None:
    if result.get("message") is not None:
        return f"m{int(result['message'])}"
    if result.get("candidate") is not None:
        return f"c{int(result['candidate'])}"
    return None


def bubble_role(ref: str, messages: list[dict[str, Any]]) -> str:
    """The role of a bubble: a message's own role; candidates are bot replies."""
    kind, index = parse_ref(ref)
    if kind == "candidate":
        return "bot"
    return str(messages[index].get("role", "user"))


def bubble_name(ref: str, order: list[int] | None = None) -> str:
    """What the annotator reads: "Message 4" (1-based) or "Candidate B" (by its shown position)."""
    kind, index = parse_ref(ref)
    if kind == "message":
        return f"Message {index + 1}"
    position = order.index(index) if order and index in order else index
    return f"Candidate {candidate_label(position)}"


def offered_classes(classes: list[ClassDef], role: str) -> list[ClassDef]:
    """The evaluation classes a bubble of `role` can carry (a bot-only class is not offered to users)."""
    return [c for c in classes if c.tool == EVALUATION_TOOL and role in c.targets]


def find_result(work: dict[str, Any], class_id: int, ref: str) -> dict[str, Any] | None:
    for result in work.get("results", []):
        if int(result["class_id"]) == int(class_id) and result_ref(result) == ref:
            return result
    return None


def results_for(work: dict[str, Any], ref: str) -> list[dict[str, Any]]:
    return [r for r in work.get("results", []) if result_ref(r) == ref]


def default_values(cls: ClassDef) -> dict[str, Any]:
    return {a["name"]: a["default"] for a in cls.attributes if a.get("default") not in (None, "", [])}


def add_result(work: dict[str, Any], cls: ClassDef, ref: str) -> dict[str, Any]:
    """The result of `cls` on bubble `ref`, created (with the attributes' defaults) if it is not there."""
    found = find_result(work, cls.id, ref)
    if found is not None:
        return found
    kind, index = parse_ref(ref)
    result = {
        "class_id": cls.id,
        "message": index if kind == "message" else None,
        "candidate": index if kind == "candidate" else None,
        "values": default_values(cls),
        "text": None,
        "role": None,
        "source_text": None,
    }
    work.setdefault("results", []).append(result)
    return result


def remove_result(work: dict[str, Any], class_id: int, ref: str) -> bool:
    """Delete the result of `class_id` on `ref`; True if there was one."""
    before = len(work.get("results", []))
    work["results"] = [
        r
        for r in work.get("results", [])
        if not (int(r["class_id"]) == int(class_id) and result_ref(r) == ref)
    ]
    return len(work["results"]) != before


def set_value(work: dict[str, Any], cls: ClassDef, ref: str, attribute: str, value: Any) -> None:
    """Set one attribute value, creating the result on first use."""
    result = add_result(work, cls, ref)
    values = dict(result.get("values") or {})
    if value in (None, "", []):
        values.pop(attribute, None)
    else:
        values[attribute] = value
    result["values"] = values


# ---------------------------------------------------------------- number hotkeys and Tab


def key_index(key: str) -> int | None:
    """0-based option index for a number key: "1" → 0 … "9" → 8, "0" → 9."""
    return NUMBER_KEYS.index(key) if key in NUMBER_KEYS else None


def class_for_key(offered: list[ClassDef], key: str) -> ClassDef | None:
    """The offered class whose number is the key ("0" is class 10)."""
    index = key_index(key)
    if index is None:
        return None
    number = index + 1
    return next((c for c in offered if c.number == number), None)


def rating_max(attribute: dict[str, Any]) -> int:
    """The number of stars of a rating attribute (ontology key "scale", default 5)."""
    return int(attribute.get("scale") or attribute.get("max") or 5)


def value_for_key(attribute: dict[str, Any], current: Any, key: str) -> tuple[bool, Any]:
    """(applies, new value) when number `key` is pressed on `attribute`.

    radio: the option at that position; checkbox: toggle that option; rating: that many stars;
    number: the digit itself; text: never (a digit is typed into the box instead).
    """
    index = key_index(key)
    if index is None:
        return False, current
    kind = attribute.get("type", "radio")
    options = [str(o) for o in attribute.get("options") or ()]
    if kind == "radio":
        return (True, options[index]) if index < len(options) else (False, current)
    if kind == "checkbox":
        if index >= len(options):
            return False, current
        chosen = list(current or [])
        option = options[index]
        chosen = [o for o in chosen if o != option] if option in chosen else [*chosen, option]
        return True, [o for o in options if o in chosen]
    if kind == "rating":
        stars = index + 1
        return (True, stars) if stars <= rating_max(attribute) else (False, current)
    if kind == "number":
        number = int(key)
        lo, hi = attribute.get("min"), attribute.get("max")
        if (lo is not None and number < lo) or (hi is not None and number > hi):
            return False, current
        return True, number
    return False, current


def keyable_attributes(cls: ClassDef) -> list[int]:
    """Indexes of the attributes number hotkeys and Tab visit (text boxes take typed digits instead)."""
    return [i for i, a in enumerate(cls.attributes) if a.get("type", "radio") != "text"]


def next_attribute(cls: ClassDef, current: int) -> int:
    """Tab: the next attribute the hotkeys act on, wrapping round to the first."""
    order = keyable_attributes(cls) or list(range(len(cls.attributes)))
    if not order:
        return 0
    later = [i for i in order if i > current]
    return later[0] if later else order[0]


@dataclass
class Focus:
    """Where the keyboard acts on the selected bubble: the chosen class and the focused attribute."""

    class_id: int | None = None
    attribute: int = 0


@dataclass
class KeyOutcome:
    focus: Focus
    changed: bool = False  # the work changed
    note: str = ""  # what happened, for a toast


def handle_number_key(
    work: dict[str, Any], *, key: str, ref: str, offered: list[ClassDef], focus: Focus
) -> KeyOutcome:
    """A number key on the selected bubble: with no class chosen it chooses the class by its number
    (creating its result); with a class chosen it picks an option of the focused attribute."""
    current = next((c for c in offered if c.id == focus.class_id), None)
    if current is None:
        cls = class_for_key(offered, key)
        if cls is None:
            return KeyOutcome(focus, note=f"No class number {key} here.")
        add_result(work, cls, ref)
        first = keyable_attributes(cls)
        return KeyOutcome(Focus(cls.id, first[0] if first else 0), changed=True, note=f"{cls.label} added.")
    if not current.attributes:
        return KeyOutcome(focus)
    index = min(focus.attribute, len(current.attributes) - 1)
    attribute = current.attributes[index]
    existing = find_result(work, current.id, ref)
    before = (existing or {}).get("values", {}).get(attribute["name"])
    applies, value = value_for_key(attribute, before, key)
    if not applies:
        return KeyOutcome(focus, note=f"{attribute['name']} has no option {key}.")
    set_value(work, current, ref, attribute["name"], value)
    return KeyOutcome(Focus(current.id, index), changed=True)


# ---------------------------------------------------------------- class inheritance


@dataclass
class Inheritance:
    """Class Inheritance: the class last chosen per role, offered again on the next bubble of that role."""

    enabled: bool = False
    last_by_role: dict[str, int] = field(default_factory=dict)

    def remember(self, role: str, class_id: int | None) -> None:
        if class_id is not None:
            self.last_by_role[role] = int(class_id)

    def preselect(self, role: str, offered: list[ClassDef]) -> int | None:
        """The class to pre-select on a newly selected bubble of `role`, or None.

        Only when on, only from the same role (never crosses user ↔ bot), and only if this bubble
        offers that class. Pre-selecting focuses the class; its result is made by the first value set.
        """
        if not self.enabled:
            return None
        class_id = self.last_by_role.get(role)
        if class_id is None or all(c.id != class_id for c in offered):
            return None
        return class_id


# ---------------------------------------------------------------- rankings and pairwise answers


def ranking_groups(ranking: list[Any]) -> list[list[int]]:
    """A ranking as tie groups, best first: [1, 0] → [[1], [0]]; [[0, 1], 2] → [[0, 1], [2]]."""
    return [[int(x) for x in entry] if isinstance(entry, list) else [int(entry)] for entry in ranking]


def ranks_to_ranking(ranks: dict[int, int]) -> list[Any]:
    """{candidate: rank (1 = best)} → candidate indexes best first; equal ranks make a tie group."""
    by_rank: dict[int, list[int]] = {}
    for candidate, rank in ranks.items():
        by_rank.setdefault(int(rank), []).append(int(candidate))
    ranking: list[Any] = []
    for rank in sorted(by_rank):
        group = sorted(by_rank[rank])
        ranking.append(group[0] if len(group) == 1 else group)
    return ranking


def ranking_to_ranks(ranking: list[Any] | None) -> dict[int, int]:
    """Candidate → rank (1 = best; tied candidates share a rank, the next rank skips: 1, 1, 3)."""
    ranks: dict[int, int] = {}
    position = 1
    for group in ranking_groups(ranking or []):
        for candidate in group:
            ranks[candidate] = position
        position += len(group)
    return ranks


def set_rank(ranking: list[Any] | None, candidate: int, rank: int | None, *, allow_ties: bool) -> list[Any]:
    """The ranking after giving `candidate` rank `rank` (None: unranked). Without ties, a candidate that
    held that rank swaps places with it (takes its old rank, or becomes unranked)."""
    ranks = ranking_to_ranks(ranking)
    old = ranks.pop(candidate, None)
    if rank is not None:
        if not allow_ties:
            holder = next((c for c, r in ranks.items() if r == rank), None)
            if holder is not None:
                ranks.pop(holder)
                if old is not None:
                    ranks[holder] = old
        ranks[candidate] = int(rank)
    return ranks_to_ranking(ranks)


def ranking_errors(
    ranking: Any, n_candidates: int, *, allow_ties: bool = False, order: list[int] | None = None
) -> list[str]:
    """Why a ranking is not acceptable: every candidate exactly once, ties only where allowed."""
    if not isinstance(ranking, list):
        return ["the ranking is not a list of candidates"]
    try:
        groups = ranking_groups(ranking)
    except (TypeError, ValueError):
        return ["the ranking names something that is not a candidate"]
    errors = []
    flat = [c for g in groups for c in g]
    if any(c < 0 or c >= n_candidates for c in flat):
        errors.append("the ranking names a candidate this item does not have")
    if len(flat) != len(set(flat)):
        errors.append("a candidate is ranked twice")
    if not allow_ties and any(len(g) > 1 for g in groups):
        errors.append("two candidates share a rank (ties are not allowed here)")
    unranked = sorted(set(range(n_candidates)) - set(flat))
    if unranked:
        shown = order if order is not None else list(range(n_candidates))  # lettered by the place shown
        names = ", ".join(
            candidate_label(shown.index(c)) if c in shown else str(c)
            for c in sorted(unranked, key=lambda c: shown.index(c) if c in shown else c)
        )
        errors.append(f"not every candidate is ranked (missing: {names})")
    return errors


def pairwise_answer(chosen: int | None, rejected: int | None, strength: int = 2, tie: bool = False) -> dict:
    """The stored pairwise answer: {"chosen", "rejected", "strength"} or {"tie": true}."""
    if tie:
        return {"tie": True}
    return {"chosen": int(chosen), "rejected": int(rejected), "strength": int(strength)}  # type: ignore[arg-type]


def pairwise_errors(
    answer: Any, n_candidates: int, *, strengths: int = 3, allow_tie: bool = True
) -> list[str]:
    """Why a pairwise answer is not acceptable."""
    if not isinstance(answer, dict):
        return ["the comparison is not answered"]
    if answer.get("tie") is True:
        return [] if allow_tie else ["a tie is not allowed here"]
    chosen, rejected = answer.get("chosen"), answer.get("rejected")
    if not isinstance(chosen, int) or not isinstance(rejected, int):
        return ["choose the better candidate or a tie"]
    errors = []
    if chosen == rejected:
        errors.append("the chosen and rejected candidates are the same")
    if not (0 <= chosen < n_candidates and 0 <= rejected < n_candidates):
        errors.append("the comparison names a candidate this item does not have")
    strength = answer.get("strength")
    if not isinstance(strength, int) or not 1 <= strength <= strengths:
        errors.append(f"the strength must be a whole number from 1 to {strengths}")
    return errors


def candidate_scores(work: dict[str, Any], classes: list[ClassDef]) -> dict[int, float]:
    """Per-candidate score: the mean of the numeric values given to it through evaluation classes
    (rating, number, and radio options that are numbers)."""
    by_id = {c.id: c for c in classes}
    sums: dict[int, list[float]] = {}
    for result in work.get("results", []):
        if result.get("candidate") is None or int(result["class_id"]) not in by_id:
            continue
        for attribute in by_id[int(result["class_id"])].attributes:
            value = (result.get("values") or {}).get(attribute["name"])
            if attribute.get("type") in ("rating", "number", "radio"):
                try:
                    number = float(value)
                except (TypeError, ValueError):
                    continue
                sums.setdefault(int(result["candidate"]), []).append(number)
    return {k: sum(v) / len(v) for k, v in sums.items()}


# ---------------------------------------------------------------- validation for Submit


@dataclass(frozen=True)
class Missing:
    """One thing that stops Submit; `ref` is the bubble to select (None for item-level questions)."""

    message: str
    ref: str | None = None
    class_id: int | None = None
    attribute: str | None = None


def _empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def validate(
    work: dict[str, Any],
    *,
    classes: list[ClassDef],
    questions: list[QuestionDef],
    messages: list[dict[str, Any]],
    candidates: list[dict[str, Any]],
    order: list[int] | None = None,
    require_answers: bool = True,
) -> list[Missing]:
    """Everything missing or wrong before Submit, bubbles in the order shown, then item questions.

    An item marked invalid needs only its reason. `require_answers=False` leaves "answer the required
    question" to a caller that checks it already (the tool-page shell) and checks only the answers given.
    """
    if work.get("validity") == "invalid":
        if not str(work.get("invalid_reason", "")).strip():
            return [Missing("Invalid item: give the reason.")]
        return []
    order = order if order is not None else list(range(len(candidates)))
    by_id = {c.id: c for c in classes}
    position = {ref: i for i, ref in enumerate(bubble_refs(messages, candidates, order))}
    problems: list[tuple[int, Missing]] = []
    for result in work.get("results", []):
        ref = result_ref(result)
        cls = by_id.get(int(result["class_id"]))
        if ref is None or cls is None:
            continue
        values = result.get("values") or {}
        for attribute in cls.attributes:
            if attribute.get("required") and _empty(values.get(attribute["name"])):
                text = f"{bubble_name(ref, order)}: {cls.label} needs {attribute['name']}."
                problems.append((position.get(ref, 10**9), Missing(text, ref, cls.id, attribute["name"])))
    problems.sort(key=lambda p: p[0])
    missing = [m for _, m in problems]
    answers = work.get("classifications") or {}
    for question in questions:
        answer = answers.get(str(question.id))
        if _empty(answer):
            if question.required and require_answers:
                missing.append(Missing(f"{question.label}: answer it."))
            continue
        if question.type == "ranking":
            errors = ranking_errors(answer, len(candidates), allow_ties=question.allow_ties, order=order)
        elif question.type == "pairwise":
            errors = pairwise_errors(
                answer, len(candidates), strengths=len(question.strengths), allow_tie=question.allow_tie
            )
        else:
            errors = []
        missing += [Missing(f"{question.label}: {e}.") for e in errors]
    return missing


# ---------------------------------------------------------------- blind comparison


def candidate_order(n: int, *, user_id: int, item_id: int, shuffle: bool) -> list[int]:
    """Original candidate indexes in the order this annotator sees them; stable per (user, item)."""
    order = list(range(n))
    if shuffle and n > 1:
        seed = int.from_bytes(hashlib.sha256(f"{user_id}:{item_id}".encode()).digest()[:8], "big")
        random.Random(seed).shuffle(order)
    return order


def shown_candidates(
    candidates: list[dict[str, Any]], order: list[int], *, hide_model_names: bool
) -> list[dict[str, Any]]:
    """The candidates as shown: in `order`, labelled A, B… by position, model names removed if hidden.
    Each keeps its original index in "index"."""
    shown = []
    for position, original in enumerate(order):
        candidate = dict(candidates[original])
        if hide_model_names:
            candidate.pop("model", None)
            meta = {k: v for k, v in (candidate.get("meta") or {}).items() if "model" not in k.lower()}
            candidate["meta"] = meta
        candidate["index"] = original
        candidate["label"] = candidate_label(position)
        shown.append(candidate)
    return shown


def blind_settings(settings: dict[str, Any] | None) -> tuple[bool, bool]:
    """(shuffle_candidates, hide_model_names) from Dataset.settings."""
    settings = settings or {}
    return bool(settings.get("shuffle_candidates", False)), bool(settings.get("hide_model_names", False))


# ---------------------------------------------------------------- suggestions


def _label_option(attribute: dict[str, Any], value: bool) -> str | None:
    options = [str(o) for o in attribute.get("options") or ()]
    lowered = [o.lower() for o in options]
    for good, bad in LABEL_WORDS:
        if good in lowered and bad in lowered:
            return options[lowered.index(good if value else bad)]
    return None


def _score_target(classes: list[ClassDef]) -> tuple[ClassDef, dict[str, Any]] | None:
    for cls in offered_classes(classes, "bot"):
        for attribute in cls.attributes:
            if attribute.get("type") in ("rating", "number") or (
                attribute.get("type") == "radio"
                and all(str(o).isdigit() for o in attribute.get("options") or ["x"])
            ):
                return cls, attribute
    return None


def _label_target(classes: list[ClassDef]) -> tuple[ClassDef, dict[str, Any]] | None:
    for cls in offered_classes(classes, "bot"):
        for attribute in cls.attributes:
            if attribute.get("type") == "radio" and _label_option(attribute, True) is not None:
                return cls, attribute
    return None


def _question(questions: list[QuestionDef], kind: str) -> QuestionDef | None:
    return next((q for q in questions if q.type == kind), None)


def describe_suggestion(suggestion: dict[str, Any], order: list[int]) -> str:
    """A line an annotator reads, with candidates named as shown (A, B… in this annotator's order)."""

    def name(k: Any) -> str:
        return bubble_name(f"c{int(k)}", order)

    kind, value = suggestion.get("kind"), suggestion.get("value")
    agent = f" ({suggestion['agent']})" if suggestion.get("agent") else ""
    try:
        if kind == "preference":
            return f"{name(value['chosen'])} is preferred to {name(value['rejected'])}{agent}"
        if kind == "ranking":
            return "Ranking: " + " > ".join(name(k) for k in value) + agent
        if kind == "score":
            return f"{name(parse_ref(suggestion['target'])[1])}: score {value}{agent}"
        if kind == "label":
            word = "good" if value else "bad"
            return f"{name(parse_ref(suggestion['target'])[1])}: {word}{agent}"
    except (KeyError, TypeError, ValueError, IndexError):
        pass
    return f"{kind}: {value}{agent}"


def suggestion_state(
    work: dict[str, Any], suggestion: dict[str, Any], *, classes: list[ClassDef], questions: list[QuestionDef]
) -> str:
    """ "accepted" (the annotator's answer is what it suggests), "overruled" (they answered otherwise),
    "open" (not answered yet) or "unusable" (no question or class of the ontology takes it)."""
    trial = json.loads(json.dumps(work))
    if accept_suggestion(trial, suggestion, classes=classes, questions=questions) is not None:
        return "unusable"
    if trial == work:
        return "accepted"
    kind = suggestion.get("kind")
    if kind in ("preference", "ranking"):
        question = _question(questions, "pairwise" if kind == "preference" else "ranking")
        answered = question is not None and not _empty(
            (work.get("classifications") or {}).get(str(question.id))
        )
    else:
        target = _score_target(classes) if kind == "score" else _label_target(classes)
        found = find_result(work, target[0].id, str(suggestion.get("target"))) if target else None
        answered = found is not None and not _empty((found.get("values") or {}).get(target[1]["name"]))  # type: ignore[index]
    return "overruled" if answered else "open"


def accept_suggestion(
    work: dict[str, Any], suggestion: dict[str, Any], *, classes: list[ClassDef], questions: list[QuestionDef]
) -> str | None:
    """Copy a suggestion into the annotator's own answers (the annotator accepts it; it is theirs from
    then on). Returns None when done, else why it cannot be taken. Suggestions themselves are never
    results."""
    kind, value = suggestion.get("kind"), suggestion.get("value")
    answers = work.setdefault("classifications", {})
    try:
        if kind == "preference":
            question = _question(questions, "pairwise")
            if question is None:
                return "this dataset has no pairwise question"
            middle = (len(question.strengths) + 1) // 2  # an imported preference says nothing of strength
            answers[str(question.id)] = pairwise_answer(value["chosen"], value["rejected"], strength=middle)
            return None
        if kind == "ranking":
            question = _question(questions, "ranking")
            if question is None:
                return "this dataset has no ranking question"
            answers[str(question.id)] = [int(k) for k in value]
            return None
        if kind in ("score", "label"):
            ref = str(suggestion.get("target") or "")
            parse_ref(ref)
            target = _score_target(classes) if kind == "score" else _label_target(classes)
            if target is None:
                return f"no evaluation class takes a {kind}"
            cls, attribute = target
            if kind == "label":
                picked: Any = _label_option(attribute, bool(value))
            elif attribute.get("type") == "radio":
                options = [str(o) for o in attribute.get("options") or ()]
                nearest = min(options, key=lambda o: abs(float(o) - float(value)))
                picked = nearest
            elif attribute.get("type") == "rating":
                picked = max(1, min(rating_max(attribute), round(float(value))))
            else:
                picked = value
            set_value(work, cls, ref, attribute["name"], picked)
            return None
    except (KeyError, TypeError, ValueError):
        return "the suggestion is malformed"
    return f"suggestions of kind {kind!r} cannot be accepted here"


# ---------------------------------------------------------------- drag-to-rank list (components/rank_list)


def ranking_order(ranking: list[Any] | None) -> list[int]:
    """A ranking as the flat order the rank list draws, best first: [[0, 1], 2] → [0, 1, 2]."""
    return [c for group in ranking_groups(ranking or []) for c in group]


def order_to_ranking(order: list[int], previous: list[Any] | None = None) -> list[Any]:
    """The ranking after a drop in the rank list: `order` (ids best first) as a ranking.

    A tie group of `previous` whose members are still next to each other in `order` stays a tie (a drag
    that moved something else past it keeps it); moving one tied candidate away from the others splits it.
    Raises ValueError if `order` names a candidate twice.
    """
    flat = [int(c) for c in order]
    if len(set(flat)) != len(flat):
        raise ValueError("a candidate is ranked twice")
    ties = [g for g in ranking_groups(previous or []) if len(g) > 1]
    place = {c: i for i, c in enumerate(flat)}
    kept = []
    for group in ties:
        spots = sorted(place[c] for c in group if c in place)
        if len(spots) == len(group) and spots[-1] - spots[0] == len(group) - 1:
            kept.append(set(group))
    ranking: list[Any] = []
    i = 0
    while i < len(flat):
        group = next((g for g in kept if flat[i] in g), None)
        if group is None:
            ranking.append(flat[i])
            i += 1
        else:
            ranking.append(sorted(group))
            i += len(group)
    return ranking
