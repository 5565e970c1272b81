"""Ontology schema: the DESIGN.md ontology JSON, its defaults, and validation that names class and field.

The JSON shape (import/export, the page's download/upload, the store's class rows):

    {"classes": [CLASS, ...], "classifications": [CLASSIFICATION, ...], "guidelines": "markdown"}

CLASS (both tools): name, alias, number (unique; hotkey 1-9, 0 for 10), color "#rrggbb", tags [str],
tool "dialog_evaluation" | "dialog_response".
  dialog_evaluation: targets ["user"] | ["bot"] | ["user", "bot"] ("both" is accepted on input),
                     attributes [ATTRIBUTE, ...]
  dialog_response:   role "user" | "bot" (exactly one), min_chars, max_chars, instruction
ATTRIBUTE: name, type radio | checkbox | text | number | rating, required (bool), default, and per type:
  radio/checkbox: options [str] (non-empty, unique); radio default is one option, checkbox default a list
  text: max_length (optional positive int); number: min, max, step; rating: scale N (answers 1..N)
CLASSIFICATION: name, title, type radio | checkbox | text | ranking | pairwise, required, and per type:
  radio/checkbox: options; ranking: allow_ties (bool);
  pairwise: allow_tie (bool, default true), strengths [str] weakest first (default STRENGTHS).
Answers (Annotation.classifications, keyed by str(classification id); native export keyed by name):
  radio "opt" · checkbox ["opt", ...] · text "..." · ranking [candidate index, ...] best first (where
  allow_ties, an element may be a list of indexes tied at that rank: [1, [0, 2]]) · pairwise {"chosen": i, "rejected": j, "strength": s} where s is
  1-based into `strengths` (1 = "slightly better" … 3 = "much better"), or {"tie": true}.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

TOOLS = ("dialog_evaluation", "dialog_response")
TOOL_LABELS = {"dialog_evaluation": "Dialog Evaluation", "dialog_response": "Dialog Response"}
ROLES = ("user", "bot")
ATTRIBUTE_TYPES = ("radio", "checkbox", "text", "number", "rating")
CLASSIFICATION_TYPES = ("radio", "checkbox", "text", "ranking", "pairwise")
STRENGTHS = ("slightly better", "better", "much better")
DEFAULT_COLOR = "#3b5bdb"
MAX_HOTKEYS = 10  # 1-9 and 0
MAX_RATING = 10
COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
NAME_MAX = 200

CLASS_KEYS = {
    "name", "alias", "number", "color", "tags", "tool", "targets", "attributes", "role", "min_chars",
    "max_chars", "instruction", "deleted",
}  # fmt: skip
ATTRIBUTE_KEYS = {
    "name",
    "type",
    "options",
    "required",
    "default",
    "max_length",
    "min",
    "max",
    "step",
    "scale",
}
CLASSIFICATION_KEYS = {
    "name",
    "title",
    "type",
    "options",
    "required",
    "allow_ties",
    "allow_tie",
    "strengths",
    "deleted",
}


@dataclass(frozen=True)
class Problem:
    """One thing wrong (error) or doubtful (warning) in an ontology, naming where it is."""

    level: Literal["error", "warning"]
    where: str  # "class 'helpfulness'", "classification 'preference'", "ontology"
    field: str  # "attributes[0].options", "number", ""
    message: str

    def __str__(self) -> str:
        return f"{self.where}" + (f", field {self.field}" if self.field else "") + f": {self.message}"


def errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.level == "error"]


def warnings(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if p.level == "warning"]


class _Collector:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def error(self, where: str, field: str, message: str) -> None:
        self.problems.append(Problem("error", where, field, message))

    def warn(self, where: str, field: str, message: str) -> None:
        self.problems.append(Problem("warning", where, field, message))


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_num(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)) and math.isfinite(value)


def _check_name(c: _Collector, where: str, field: str, value: Any) -> bool:
    if not isinstance(value, str) or not value.strip():
        c.error(where, field, "must be a non-empty text")
        return False
    if len(value) > NAME_MAX:
        c.error(where, field, f"at most {NAME_MAX} characters")
        return False
    if value != value.strip():
        c.error(where, field, "must not start or end with spaces")
        return False
    return True


def _check_options(c: _Collector, where: str, field: str, options: Any) -> list[str]:
    if not isinstance(options, list) or not options:
        c.error(where, field, "needs at least one option")
        return []
    good: list[str] = []
    seen: set[str] = set()
    for i, opt in enumerate(options):
        if not isinstance(opt, str) or not opt.strip():
            c.error(where, f"{field}[{i}]", "an option must be a non-empty text")
            continue
        if opt in seen:
            c.error(where, f"{field}[{i}]", f"option {opt!r} appears twice")
            continue
        seen.add(opt)
        good.append(opt)
    return good


def _check_bool(c: _Collector, where: str, field: str, value: Any) -> None:
    if value is not None and not isinstance(value, bool):
        c.error(where, field, "must be true or false")


def _unknown_keys(c: _Collector, where: str, prefix: str, data: dict[str, Any], known: set[str]) -> None:
    for key in sorted(set(data) - known):
        c.warn(where, f"{prefix}{key}", "unknown field, ignored")


def _check_attribute(c: _Collector, where: str, i: int, attr: Any) -> str | None:
    f = f"attributes[{i}]"
    if not isinstance(attr, dict):
        c.error(where, f, "must be an object")
        return None
    name = attr.get("name")
    label = f"{f}.name"
    if not _check_name(c, where, label, name):
        return None
    f = f"attributes[{i}] ({name})"
    _unknown_keys(c, where, f + ".", attr, ATTRIBUTE_KEYS)
    kind = attr.get("type")
    if kind not in ATTRIBUTE_TYPES:
        c.error(where, f"{f}.type", f"{kind!r} is not one of {', '.join(ATTRIBUTE_TYPES)}")
        return name
    _check_bool(c, where, f"{f}.required", attr.get("required"))
    default = attr.get("default")
    if kind in ("radio", "checkbox"):
        options = _check_options(c, where, f"{f}.options", attr.get("options"))
        if kind == "radio" and len(options) > MAX_HOTKEYS:
            c.warn(where, f"{f}.options", f"only the first {MAX_HOTKEYS} options get number hotkeys")
        if kind == "radio" and default is not None and default not in options:
            c.error(where, f"{f}.default", f"{default!r} is not one of the options")
        bad_list = not isinstance(default, list) or any(d not in options for d in default)
        if kind == "checkbox" and default is not None and bad_list:
            c.error(where, f"{f}.default", "must be a list of the options")
    elif "options" in attr and attr["options"]:
        c.error(where, f"{f}.options", f"a {kind} attribute has no options")
    if kind == "text":
        max_length = attr.get("max_length")
        if max_length is not None and (not _is_int(max_length) or max_length < 1):
            c.error(where, f"{f}.max_length", "must be a whole number of at least 1")
            max_length = None
        if default is not None:
            if not isinstance(default, str):
                c.error(where, f"{f}.default", "must be a text")
            elif max_length and len(default) > max_length:
                c.error(where, f"{f}.default", f"longer than max_length {max_length}")
    if kind == "number":
        lo, hi, step = attr.get("min"), attr.get("max"), attr.get("step")
        for key, value in (("min", lo), ("max", hi), ("step", step)):
            if value is not None and not _is_num(value):
                c.error(where, f"{f}.{key}", "must be a number")
        if _is_num(lo) and _is_num(hi) and lo > hi:
            c.error(where, f"{f}.min", f"min {lo} is greater than max {hi}")
        if _is_num(step) and step <= 0:
            c.error(where, f"{f}.step", "must be greater than 0")
        if default is not None:
            if not _is_num(default):
                c.error(where, f"{f}.default", "must be a number")
            elif (_is_num(lo) and default < lo) or (_is_num(hi) and default > hi):
                c.error(where, f"{f}.default", f"{default} is outside min..max")
    if kind == "rating":
        scale = attr.get("scale", 5)
        if not _is_int(scale) or not 2 <= scale <= MAX_RATING:
            c.error(where, f"{f}.scale", f"must be a whole number from 2 to {MAX_RATING}")
            scale = None
        if default is not None and (not _is_int(default) or (scale and not 1 <= default <= scale)):
            c.error(where, f"{f}.default", f"must be a whole number from 1 to {scale or 'scale'}")
    return name


def _check_chars(c: _Collector, where: str, cls: dict[str, Any]) -> None:
    lo, hi = cls.get("min_chars"), cls.get("max_chars")
    for key, value in (("min_chars", lo), ("max_chars", hi)):
        if value is not None and (not _is_int(value) or value < 0):
            c.error(where, key, "must be a whole number of at least 0")
    if _is_int(lo) and _is_int(hi) and lo > hi:
        c.error(where, "min_chars", f"min_chars {lo} is greater than max_chars {hi}")
    if _is_int(hi) and hi == 0:
        c.error(where, "max_chars", "must be at least 1")


def _targets(value: Any) -> Any:
    return list(ROLES) if value == "both" else value


def _check_class(c: _Collector, i: int, cls: Any) -> None:
    if not isinstance(cls, dict):
        c.error(f"classes[{i}]", "", "must be an object")
        return
    name = cls.get("name")
    where = f"class {name!r}" if isinstance(name, str) and name.strip() else f"classes[{i}]"
    _check_name(c, where, "name", name)
    _unknown_keys(c, where, "", cls, CLASS_KEYS)
    alias = cls.get("alias")
    if alias is not None and (not isinstance(alias, str) or len(alias) > NAME_MAX):
        c.error(where, "alias", f"must be a text of at most {NAME_MAX} characters")
    number = cls.get("number")
    if number is not None:
        if not _is_int(number) or number < 1:
            c.error(where, "number", "must be a whole number of at least 1")
        elif number > MAX_HOTKEYS:
            c.warn(where, "number", f"numbers above {MAX_HOTKEYS} have no number hotkey")
    color = cls.get("color")
    if color is not None and (not isinstance(color, str) or not COLOR.match(color)):
        c.error(where, "color", f"{color!r} is not a colour like #2e7d32")
    tags = cls.get("tags")
    if tags is not None and (
        not isinstance(tags, list) or any(not isinstance(t, str) or not t for t in tags)
    ):
        c.error(where, "tags", "must be a list of non-empty texts")
    _check_bool(c, where, "deleted", cls.get("deleted"))
    tool = cls.get("tool")
    if tool not in TOOLS:
        c.error(where, "tool", f"{tool!r} is not one of {', '.join(TOOLS)}")
        return
    if tool == "dialog_evaluation":
        targets = _targets(cls.get("targets", ["bot"]))
        if not isinstance(targets, list) or not targets or any(t not in ROLES for t in targets):
            c.error(where, "targets", "must be user, bot or both")
        elif len(set(targets)) != len(targets):
            c.error(where, "targets", "names a role twice")
        for key in ("role", "min_chars", "max_chars"):
            if cls.get(key) is not None:
                c.error(where, key, "only a Dialog Response class has this field")
        attributes = cls.get("attributes", [])
        if not isinstance(attributes, list):
            c.error(where, "attributes", "must be a list")
            return
        seen: set[str] = set()
        for j, attr in enumerate(attributes):
            attr_name = _check_attribute(c, where, j, attr)
            if attr_name is None:
                continue
            if attr_name in seen:
                c.error(where, f"attributes[{j}].name", f"attribute {attr_name!r} appears twice")
            seen.add(attr_name)
    else:
        role, targets = cls.get("role"), cls.get("targets")
        if targets is not None:
            targets = _targets(targets)
            if not isinstance(targets, list) or len(targets) != 1:
                c.error(where, "role", "a Dialog Response class answers as exactly one role (user or bot)")
                return
            if role is None:
                role = targets[0]
            elif [role] != targets:
                c.error(where, "role", f"role {role!r} and targets {targets!r} disagree")
        if role not in ROLES:
            c.error(where, "role", "a Dialog Response class answers as exactly one role (user or bot)")
        if cls.get("attributes"):
            c.error(where, "attributes", "only a Dialog Evaluation class has attributes")
        _check_chars(c, where, cls)
        instruction = cls.get("instruction")
        if instruction is not None and not isinstance(instruction, str):
            c.error(where, "instruction", "must be a text")


def _check_classification(c: _Collector, i: int, q: Any, has_candidates: bool | None) -> None:
    if not isinstance(q, dict):
        c.error(f"classifications[{i}]", "", "must be an object")
        return
    name = q.get("name")
    where = f"classification {name!r}" if isinstance(name, str) and name.strip() else f"classifications[{i}]"
    _check_name(c, where, "name", name)
    _unknown_keys(c, where, "", q, CLASSIFICATION_KEYS)
    title = q.get("title")
    if title is not None and (not isinstance(title, str) or len(title) > 500):
        c.error(where, "title", "must be a text of at most 500 characters")
    _check_bool(c, where, "required", q.get("required"))
    _check_bool(c, where, "deleted", q.get("deleted"))
    kind = q.get("type")
    if kind not in CLASSIFICATION_TYPES:
        c.error(where, "type", f"{kind!r} is not one of {', '.join(CLASSIFICATION_TYPES)}")
        return
    if kind in ("radio", "checkbox"):
        options = _check_options(c, where, "options", q.get("options"))
        if kind == "radio" and len(options) > MAX_HOTKEYS:
            c.warn(where, "options", f"only the first {MAX_HOTKEYS} options get number hotkeys")
    elif q.get("options"):
        c.error(where, "options", f"a {kind} classification has no options")
    if kind == "ranking":
        _check_bool(c, where, "allow_ties", q.get("allow_ties"))
    if kind == "pairwise":
        _check_bool(c, where, "allow_tie", q.get("allow_tie"))
        if q.get("strengths") is not None:
            _check_options(c, where, "strengths", q.get("strengths"))
    if kind in ("ranking", "pairwise") and has_candidates is False and not q.get("deleted"):
        c.warn(where, "type", f"a {kind} needs candidate replies, and no item of this dataset has any")


def validate_ontology(data: Any, *, has_candidates: bool | None = None) -> list[Problem]:
    """Every error and warning in an ontology JSON, each naming the class or classification and the field.

    `has_candidates`: whether any item of the dataset has candidate replies (None: not known, no warning).
    """
    c = _Collector()
    if not isinstance(data, dict):
        c.error("ontology", "", "must be a JSON object with classes, classifications and guidelines")
        return c.problems
    _unknown_keys(c, "ontology", "", data, {"classes", "classifications", "guidelines"})
    classes = data.get("classes", [])
    questions = data.get("classifications", [])
    if not isinstance(classes, list):
        c.error("ontology", "classes", "must be a list")
        classes = []
    if not isinstance(questions, list):
        c.error("ontology", "classifications", "must be a list")
        questions = []
    guidelines = data.get("guidelines")
    if guidelines is not None and not isinstance(guidelines, str):
        c.error("ontology", "guidelines", "must be a text (markdown)")
    for i, cls in enumerate(classes):
        _check_class(c, i, cls)
    names: dict[str, int] = {}
    numbers: dict[int, str] = {}
    for i, cls in enumerate(classes):
        if not isinstance(cls, dict) or not isinstance(cls.get("name"), str):
            continue
        name = cls["name"]
        if name in names:
            c.error(
                f"class {name!r}", "name", f"the name is used twice (classes[{names[name]}] and classes[{i}])"
            )
        names.setdefault(name, i)
        number = cls.get("number")
        if _is_int(number) and not cls.get("deleted"):
            if number in numbers:
                c.error(f"class {name!r}", "number", f"number {number} is also class {numbers[number]!r}")
            numbers.setdefault(number, name)
    qnames: dict[str, int] = {}
    for i, q in enumerate(questions):
        _check_classification(c, i, q, has_candidates)
        if isinstance(q, dict) and isinstance(q.get("name"), str):
            if q["name"] in qnames:
                c.error(f"classification {q['name']!r}", "name", "the name is used twice")
            qnames.setdefault(q["name"], i)
    return c.problems


def normalize_class(cls: dict[str, Any], *, number: int | None = None) -> dict[str, Any]:
    """A valid class with every field present, in the export shape (only its tool's fields)."""
    out: dict[str, Any] = {
        "name": cls["name"],
        "alias": cls.get("alias") or "",
        "number": cls.get("number") if cls.get("number") is not None else number,
        "color": cls.get("color") or DEFAULT_COLOR,
        "tags": list(cls.get("tags") or []),
        "tool": cls["tool"],
    }
    if cls["tool"] == "dialog_evaluation":
        out["targets"] = [r for r in ROLES if r in _targets(cls.get("targets", ["bot"]))]
        out["attributes"] = [normalize_attribute(a) for a in cls.get("attributes") or []]
    else:
        targets = _targets(cls.get("targets"))
        out["role"] = cls.get("role") or (targets[0] if targets else None)
        out["min_chars"] = cls.get("min_chars")
        out["max_chars"] = cls.get("max_chars")
        out["instruction"] = cls.get("instruction") or ""
    if cls.get("deleted"):
        out["deleted"] = True
    return out


def normalize_attribute(attr: dict[str, Any]) -> dict[str, Any]:
    """An attribute with its type's settings only; unset optional settings are left out."""
    kind = attr["type"]
    out: dict[str, Any] = {"name": attr["name"], "type": kind, "required": bool(attr.get("required"))}
    if kind in ("radio", "checkbox"):
        out["options"] = list(attr["options"])
    if kind == "text" and attr.get("max_length"):
        out["max_length"] = attr["max_length"]
    if kind == "number":
        for key in ("min", "max", "step"):
            if attr.get(key) is not None:
                out[key] = attr[key]
    if kind == "rating":
        out["scale"] = attr.get("scale", 5)
    if attr.get("default") is not None and attr.get("default") != []:
        out["default"] = attr["default"]
    return out


def normalize_classification(q: dict[str, Any]) -> dict[str, Any]:
    kind = q["type"]
    out: dict[str, Any] = {"name": q["name"], "title": q.get("title") or "", "type": kind}
    out["required"] = bool(q.get("required"))
    if kind in ("radio", "checkbox"):
        out["options"] = list(q["options"])
    if kind == "ranking":
        out["allow_ties"] = bool(q.get("allow_ties"))
    if kind == "pairwise":
        out["allow_tie"] = q.get("allow_tie", True) is not False
        out["strengths"] = list(q.get("strengths") or STRENGTHS)
    if q.get("deleted"):
        out["deleted"] = True
    return out


def next_number(used: list[int]) -> int:
    """The smallest class number not in `used` (1 first)."""
    n = 1
    taken = set(used)
    while n in taken:
        n += 1
    return n


def parse_options(text: str) -> list[str]:
    """Options typed one a line (the page's text box): blank lines dropped, spaces trimmed."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def describe_targets(cls: dict[str, Any]) -> str:
    """'bot', 'user', 'user + bot' (evaluation) or 'as bot' (response), for the class list."""
    if cls.get("tool") == "dialog_response":
        return f"as {cls.get('role')}"
    targets = cls.get("targets") or []
    return " + ".join(targets) if len(targets) > 1 else (targets[0] if targets else "")


def values_using_option(values: Any, attribute: str, option: str) -> bool:
    """Whether a result's `values` picked `option` of `attribute` (radio value or checkbox list)."""
    if not isinstance(values, dict):
        return False
    value = values.get(attribute)
    return value == option or (isinstance(value, list) and option in value)


def answer_uses_option(answer: Any, option: str) -> bool:
    """Whether a radio/checkbox classification answer picked `option`."""
    return answer == option or (isinstance(answer, list) and option in answer)


def parse_number(text: str) -> int | float | str | None:
    """A number typed in a text box: "" → None, "3" → 3, "2.5" → 2.5; anything else is returned as typed
    so validation names the field."""
    text = text.strip()
    if not text:
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) else text


def parse_tags(text: str) -> list[str]:
    """Tags typed comma-separated: trimmed, blanks and repeats dropped."""
    out: list[str] = []
    for tag in (t.strip() for t in text.split(",")):
        if tag and tag not in out:
            out.append(tag)
    return out


def parse_default(kind: str, text: str) -> Any:
    """An attribute's default typed as text: a radio option, comma-separated checkbox options, a number."""
    if not text.strip():
        return None
    if kind == "checkbox":
        return parse_tags(text)
    if kind in ("number", "rating"):
        return parse_number(text)
    return text if kind == "text" else text.strip()


def format_default(default: Any) -> str:
    """The inverse of parse_default, for filling the text box."""
    if default is None:
        return ""
    if isinstance(default, list):
        return ", ".join(str(d) for d in default)
    return str(default)


def describe_classification(q: dict[str, Any]) -> str:
    """A classification's settings in a few words, for the list on the ontology page."""
    kind = q.get("type")
    if kind in ("radio", "checkbox"):
        return ", ".join(q.get("options") or [])
    if kind == "ranking":
        return "ties allowed" if q.get("allow_ties") else "no ties"
    if kind == "pairwise":
        strengths = " / ".join(q.get("strengths") or STRENGTHS)
        return ("tie allowed · " if q.get("allow_tie", True) else "no tie · ") + strengths
    return "free text"


# ---------------------------------------------------------------- the ontology page's editor forms
# A form is the flat dict of what the page's widgets hold (texts, booleans); these turn a class or a
# classification into its form and back, so the page only lays out widgets.

PALETTE = ("#2e7d32", "#1565c0", "#c62828", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#4e342e")
CLASS_FORM: dict[str, Any] = {
    "name": "", "alias": "", "number": 1, "color": DEFAULT_COLOR, "tags": "", "tool": "dialog_evaluation",
    "targets": "bot", "role": "bot", "min_chars": "", "max_chars": "", "instruction": "",
}  # fmt: skip
# "was": the attribute's name when the editor opened, so a rename can carry the results' values.
ATTRIBUTE_FORM: dict[str, Any] = {
    "was": "", "name": "", "type": "radio", "options": "", "required": False, "default": "", "max_length": "",
    "min": "", "max": "", "step": "", "scale": 5,
}  # fmt: skip
QUESTION_FORM: dict[str, Any] = {
    "name": "", "title": "", "type": "radio", "options": "", "required": False, "allow_ties": False,
    "allow_tie": True, "strengths": "\n".join(STRENGTHS),
}  # fmt: skip


def palette_color(number: int) -> str:
    """A distinct colour for a new class by its number."""
    return PALETTE[(max(number, 1) - 1) % len(PALETTE)]


def attribute_form(attr: dict[str, Any] | None = None) -> dict[str, Any]:
    attr = attr or {}
    form = {**ATTRIBUTE_FORM, "was": attr.get("name", ""), "name": attr.get("name", "")}
    form |= {"type": attr.get("type", "radio"), "options": "\n".join(attr.get("options") or [])}
    form |= {"required": bool(attr.get("required")), "default": format_default(attr.get("default"))}
    form |= {key: format_default(attr.get(key)) for key in ("max_length", "min", "max", "step")}
    form["scale"] = int(attr.get("scale") or 5)
    return form


def class_form(cls: dict[str, Any] | None, *, number: int = 1) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The editor's fields for `cls` (a new class when None) and one form per attribute."""
    if cls is None:
        return {**CLASS_FORM, "number": number, "color": palette_color(number)}, []
    targets = cls.get("targets") or ["bot"]
    form = {
        "name": cls.get("name", ""), "alias": cls.get("alias", ""), "number": int(cls.get("number") or number),
        "color": cls.get("color") or DEFAULT_COLOR, "tags": ", ".join(cls.get("tags") or []),
        "tool": cls.get("tool", "dialog_evaluation"), "targets": "both" if len(targets) == 2 else targets[0],
        "role": cls.get("role") or "bot", "min_chars": format_default(cls.get("min_chars")),
        "max_chars": format_default(cls.get("max_chars")), "instruction": cls.get("instruction") or "",
    }  # fmt: skip
    return form, [attribute_form(a) for a in cls.get("attributes") or []]


def class_from_form(
    form: dict[str, Any], attributes: list[dict[str, Any]]
) -> tuple[dict[str, Any], dict[str, str]]:
    """The class JSON from the editor's fields, and the attributes renamed {old name: new name}."""
    cls: dict[str, Any] = {
        "name": form["name"].strip(), "alias": form["alias"].strip(), "number": int(form["number"]),
        "color": form["color"], "tags": parse_tags(form["tags"]), "tool": form["tool"],
    }  # fmt: skip
    renamed: dict[str, str] = {}
    if cls["tool"] == "dialog_response":
        cls |= {"role": form["role"], "instruction": form["instruction"]}
        cls |= {key: parse_number(form[key]) for key in ("min_chars", "max_chars")}
        return cls, renamed
    cls["targets"] = list(ROLES) if form["targets"] == "both" else [form["targets"]]
    cls["attributes"] = []
    for f in attributes:
        kind = f["type"]
        attr: dict[str, Any] = {"name": f["name"].strip(), "type": kind, "required": bool(f["required"])}
        if kind in ("radio", "checkbox"):
            attr["options"] = parse_options(f["options"])
        keys = {"text": ("max_length",), "number": ("min", "max", "step")}.get(kind, ())
        attr |= {key: parse_number(f[key]) for key in keys if parse_number(f[key]) is not None}
        if kind == "rating":
            attr["scale"] = int(f["scale"])
        if (default := parse_default(kind, f["default"])) is not None:
            attr["default"] = default
        if f["was"] and f["was"] != attr["name"]:
            renamed[f["was"]] = attr["name"]
        cls["attributes"].append(attr)
    return cls, renamed


def question_form(q: dict[str, Any] | None) -> dict[str, Any]:
    if q is None:
        return dict(QUESTION_FORM)
    return {
        "name": q["name"], "title": q.get("title", ""), "type": q["type"], "options": "\n".join(q.get("options") or []),
        "required": bool(q.get("required")), "allow_ties": bool(q.get("allow_ties")),
        "allow_tie": q.get("allow_tie", True) is not False, "strengths": "\n".join(q.get("strengths") or STRENGTHS),
    }  # fmt: skip


def question_from_form(form: dict[str, Any]) -> dict[str, Any]:
    kind = form["type"]
    q: dict[str, Any] = {"name": form["name"].strip(), "title": form["title"].strip(), "type": kind}
    q["required"] = bool(form["required"])
    if kind in ("radio", "checkbox"):
        q["options"] = parse_options(form["options"])
    if kind == "ranking":
        q["allow_ties"] = bool(form["allow_ties"])
    if kind == "pairwise":
        q |= {"allow_tie": bool(form["allow_tie"]), "strengths": parse_options(form["strengths"])}
    return q
