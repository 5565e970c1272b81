"""Ontology validation: every rule names the class or classification and the field."""

import copy

import pytest

from core.ontology import (
    STRENGTHS,
    errors,
    next_number,
    normalize_class,
    normalize_classification,
    parse_options,
    validate_ontology,
    warnings,
)

EXAMPLE = {
    "classes": [
        {"name": "helpfulness", "alias": "Helpfulness", "number": 1, "color": "#2e7d32", "tags": ["quality"],
         "tool": "dialog_evaluation", "targets": ["bot"],
         "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3", "4", "5"], "required": True},
                        {"name": "why", "type": "text"}]},
        {"name": "ideal_reply", "alias": "Ideal reply", "number": 2, "color": "#1565c0",
         "tool": "dialog_response", "role": "bot", "min_chars": 10, "max_chars": 2000},
    ],
    "classifications": [
        {"name": "preference", "type": "pairwise", "required": True},
        {"name": "ranking", "type": "ranking"},
        {"name": "topic", "type": "radio", "options": ["code", "chat", "other"]},
    ],
    "guidelines": "markdown shown on the tool pages",
}  # fmt: skip


def example():
    return copy.deepcopy(EXAMPLE)


def only_error(data, **kw):
    found = errors(validate_ontology(data, **kw))
    assert len(found) == 1, [str(p) for p in found]
    return str(found[0])


def test_design_example_is_valid():
    assert validate_ontology(example()) == []
    assert validate_ontology(example(), has_candidates=True) == []


def test_not_an_object():
    assert "must be a JSON object" in only_error([1, 2])


def test_classes_must_be_a_list():
    assert "field classes: must be a list" in only_error({"classes": {}})


def test_class_names_unique():
    data = example()
    data["classes"][1]["name"] = "helpfulness"
    assert "class 'helpfulness', field name: the name is used twice" in only_error(data)


def test_class_name_not_empty():
    data = example()
    data["classes"][0]["name"] = " "
    assert "classes[0], field name: must be a non-empty text" in only_error(data)


def test_class_numbers_unique():
    data = example()
    data["classes"][1]["number"] = 1
    assert "class 'ideal_reply', field number: number 1 is also class 'helpfulness'" in only_error(data)


def test_deleted_class_frees_its_number():
    data = example()
    data["classes"][1]["number"] = 1
    data["classes"][1]["deleted"] = True
    assert errors(validate_ontology(data)) == []


def test_number_positive_and_hotkey_warning():
    data = example()
    data["classes"][0]["number"] = 0
    assert "class 'helpfulness', field number: must be a whole number" in only_error(data)
    data["classes"][0]["number"] = 11
    assert [p.field for p in warnings(validate_ontology(data))] == ["number"]


def test_color_and_tags():
    data = example()
    data["classes"][0]["color"] = "green"
    assert "field color" in only_error(data)
    data = example()
    data["classes"][0]["tags"] = ["ok", ""]
    assert "field tags" in only_error(data)


def test_unknown_tool():
    data = example()
    data["classes"][0]["tool"] = "bbox"
    assert "class 'helpfulness', field tool: 'bbox' is not one of" in only_error(data)


def test_targets_user_bot_both():
    for targets in (["user"], ["bot"], ["user", "bot"], "both"):
        data = example()
        data["classes"][0]["targets"] = targets
        assert errors(validate_ontology(data)) == []
    data["classes"][0]["targets"] = ["system"]
    assert "field targets: must be user, bot or both" in only_error(data)
    data["classes"][0]["targets"] = []
    assert "field targets" in only_error(data)


def test_options_non_empty_and_unique():
    data = example()
    data["classes"][0]["attributes"][0]["options"] = []
    assert "field attributes[0] (score).options: needs at least one option" in only_error(data)
    data["classes"][0]["attributes"][0]["options"] = ["a", "a"]
    assert "field attributes[0] (score).options[1]: option 'a' appears twice" in only_error(data)
    data["classes"][0]["attributes"][0]["options"] = ["a", ""]
    assert "options[1]: an option must be a non-empty text" in only_error(data)


def test_radio_more_than_ten_options_warns():
    data = example()
    data["classes"][0]["attributes"][0]["options"] = [str(i) for i in range(11)]
    assert errors(validate_ontology(data)) == []
    assert "number hotkeys" in str(warnings(validate_ontology(data))[0])


def test_attribute_names_unique_and_type_known():
    data = example()
    data["classes"][0]["attributes"][1]["name"] = "score"
    assert "field attributes[1].name: attribute 'score' appears twice" in only_error(data)
    data = example()
    data["classes"][0]["attributes"][1]["type"] = "slider"
    assert "attributes[1] (why).type: 'slider' is not one of" in only_error(data)


def test_defaults_match_their_type():
    data = example()
    data["classes"][0]["attributes"][0]["default"] = "9"
    assert "attributes[0] (score).default: '9' is not one of the options" in only_error(data)
    data["classes"][0]["attributes"][0]["default"] = "3"
    assert errors(validate_ontology(data)) == []
    data["classes"][0]["attributes"].append(
        {"name": "tags", "type": "checkbox", "options": ["x"], "default": ["y"]}
    )
    assert "attributes[2] (tags).default: must be a list of the options" in only_error(data)


def test_text_max_length():
    data = example()
    data["classes"][0]["attributes"][1]["max_length"] = 0
    assert "attributes[1] (why).max_length" in only_error(data)
    data["classes"][0]["attributes"][1] |= {"max_length": 3, "default": "toolong"}
    assert "attributes[1] (why).default: longer than max_length 3" in only_error(data)


def test_number_min_max_step():
    data = example()
    attr = {"name": "n", "type": "number", "min": 5, "max": 1}
    data["classes"][0]["attributes"].append(attr)
    assert "attributes[2] (n).min: min 5 is greater than max 1" in only_error(data)
    attr |= {"min": 0, "max": 10, "step": 0}
    assert "attributes[2] (n).step: must be greater than 0" in only_error(data)
    attr |= {"step": 0.5, "default": 11}
    assert "attributes[2] (n).default: 11 is outside min..max" in only_error(data)
    attr |= {"default": 2.5}
    assert errors(validate_ontology(data)) == []
    attr |= {"min": "a"}
    assert "attributes[2] (n).min: must be a number" in only_error(data)


def test_rating_scale():
    data = example()
    attr = {"name": "stars", "type": "rating", "scale": 1}
    data["classes"][0]["attributes"].append(attr)
    assert "attributes[2] (stars).scale: must be a whole number from 2 to 10" in only_error(data)
    attr |= {"scale": 5, "default": 6}
    assert "attributes[2] (stars).default: must be a whole number from 1 to 5" in only_error(data)
    attr |= {"default": 5}
    assert errors(validate_ontology(data)) == []


def test_options_only_on_choice_types():
    data = example()
    data["classes"][0]["attributes"][1]["options"] = ["a"]
    assert "attributes[1] (why).options: a text attribute has no options" in only_error(data)


def test_required_is_boolean():
    data = example()
    data["classes"][0]["attributes"][0]["required"] = "yes"
    assert "attributes[0] (score).required: must be true or false" in only_error(data)


def test_response_class_exactly_one_role():
    data = example()
    del data["classes"][1]["role"]
    assert (
        "class 'ideal_reply', field role: a Dialog Response class answers as exactly one role"
        in only_error(data)
    )
    data["classes"][1]["targets"] = ["user", "bot"]
    assert "field role: a Dialog Response class answers as exactly one role" in only_error(data)
    data["classes"][1]["targets"] = ["user"]
    assert errors(validate_ontology(data)) == []
    assert normalize_class(data["classes"][1])["role"] == "user"
    data["classes"][1]["role"] = "system"
    data["classes"][1].pop("targets")
    assert "field role" in only_error(data)


def test_response_min_max_chars():
    data = example()
    data["classes"][1] |= {"min_chars": 50, "max_chars": 10}
    assert "class 'ideal_reply', field min_chars: min_chars 50 is greater than max_chars 10" in only_error(
        data
    )
    data["classes"][1] |= {"min_chars": -1, "max_chars": 10}
    assert "field min_chars: must be a whole number" in only_error(data)


def test_response_has_no_attributes_and_evaluation_no_role():
    data = example()
    data["classes"][1]["attributes"] = [{"name": "x", "type": "text"}]
    assert "class 'ideal_reply', field attributes: only a Dialog Evaluation class" in only_error(data)
    data = example()
    data["classes"][0]["role"] = "bot"
    assert "class 'helpfulness', field role: only a Dialog Response class" in only_error(data)


def test_classification_rules():
    data = example()
    data["classifications"][2]["options"] = []
    assert "classification 'topic', field options: needs at least one option" in only_error(data)
    data = example()
    data["classifications"][1]["name"] = "preference"
    assert "classification 'preference', field name: the name is used twice" in only_error(data)
    data = example()
    data["classifications"][0]["type"] = "scale"
    assert "classification 'preference', field type: 'scale' is not one of" in only_error(data)
    data = example()
    data["classifications"][1]["allow_ties"] = "no"
    assert "classification 'ranking', field allow_ties: must be true or false" in only_error(data)
    data = example()
    data["classifications"][0]["strengths"] = ["better", "better"]
    assert "classification 'preference', field strengths[1]" in only_error(data)
    data = example()
    data["classifications"].append({"name": "note", "type": "text", "options": ["a"]})
    assert "classification 'note', field options: a text classification has no options" in only_error(data)


def test_ranking_and_pairwise_warn_without_candidates():
    problems = validate_ontology(example(), has_candidates=False)
    assert errors(problems) == []
    assert sorted(str(p) for p in warnings(problems)) == [
        "classification 'preference', field type: a pairwise needs candidate replies, and no item of this dataset has any",
        "classification 'ranking', field type: a ranking needs candidate replies, and no item of this dataset has any",
    ]


def test_unknown_fields_warn():
    data = example()
    data["classes"][0]["colour"] = "#000000"
    assert [str(p) for p in warnings(validate_ontology(data))] == [
        "class 'helpfulness', field colour: unknown field, ignored"
    ]


def test_guidelines_text():
    data = example()
    data["guidelines"] = 3
    assert "ontology, field guidelines" in only_error(data)


def test_normalize_fills_defaults():
    cls = normalize_class({"name": "x", "tool": "dialog_evaluation", "targets": "both"}, number=3)
    assert cls == {"name": "x", "alias": "", "number": 3, "color": "#3b5bdb", "tags": [],
                   "tool": "dialog_evaluation", "targets": ["user", "bot"], "attributes": []}  # fmt: skip
    q = normalize_classification({"name": "p", "type": "pairwise"})
    assert q["allow_tie"] is True and q["strengths"] == list(STRENGTHS) and q["required"] is False


def test_helpers():
    assert next_number([1, 2, 4]) == 3
    assert next_number([]) == 1
    assert parse_options(" a\n\nb \n") == ["a", "b"]


@pytest.mark.parametrize("bad", [None, "x", 3])
def test_attribute_must_be_object(bad):
    data = example()
    data["classes"][0]["attributes"].append(bad)
    assert "field attributes[2]: must be an object" in only_error(data)


def test_parsers_for_the_page():
    from core.ontology import format_default, parse_default, parse_number, parse_tags

    assert parse_number("") is None and parse_number("3") == 3 and parse_number("2.5") == 2.5
    assert parse_number("abc") == "abc" and parse_number("inf") == "inf"
    assert parse_tags(" a, b,,a ") == ["a", "b"]
    assert parse_default("checkbox", "x, y") == ["x", "y"]
    assert parse_default("rating", "4") == 4 and parse_default("radio", " 3 ") == "3"
    assert parse_default("text", "") is None
    assert format_default(["x", "y"]) == "x, y" and format_default(None) == "" and format_default(2) == "2"


def test_describe_for_the_lists():
    from core.ontology import describe_classification, describe_targets

    assert describe_classification({"type": "radio", "options": ["a", "b"]}) == "a, b"
    assert describe_classification({"type": "ranking"}) == "no ties"
    assert describe_classification({"type": "ranking", "allow_ties": True}) == "ties allowed"
    assert describe_classification({"type": "pairwise", "allow_tie": False}).startswith(
        "no tie · slightly better"
    )
    assert describe_classification({"type": "text"}) == "free text"
    assert describe_targets({"tool": "dialog_evaluation", "targets": ["user", "bot"]}) == "user + bot"
    assert describe_targets({"tool": "dialog_response", "role": "user"}) == "as user"


def test_class_form_round_trip():
    from core.ontology import class_form, class_from_form

    for cls in EXAMPLE["classes"]:
        form, attrs = class_form(normalize_class(cls))
        back, renamed = class_from_form(form, attrs)
        assert normalize_class(back) == normalize_class(cls) and renamed == {}


def test_class_form_new_and_renamed_attribute():
    from core.ontology import class_form, class_from_form

    form, attrs = class_form(None, number=2)
    assert form["number"] == 2 and form["color"] == "#1565c0" and attrs == []
    form, attrs = class_form(EXAMPLE["classes"][0])
    attrs[0]["name"] = "rating"
    attrs.append({**attrs[1], "was": "", "name": "n", "type": "number", "min": "1", "max": "x", "step": ""})
    cls, renamed = class_from_form(form, attrs)
    assert renamed == {"score": "rating"}
    assert cls["attributes"][2] == {"name": "n", "type": "number", "required": False, "min": 1, "max": "x"}
    assert "attributes[2] (n).max: must be a number" in only_error({"classes": [cls]})


def test_question_form_round_trip():
    from core.ontology import question_form, question_from_form

    for q in EXAMPLE["classifications"]:
        assert normalize_classification(question_from_form(question_form(q))) == normalize_classification(q)
    assert question_from_form(question_form(None)) == {"name": "", "title": "", "type": "radio", "required": False,
                                                       "options": []}  # fmt: skip
