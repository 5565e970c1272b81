"""core/llm without a server: chat requests from dialogues, Retry-After, keys kept out of messages, judge
answers checked against the ontology."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from core.evaluation import ClassDef, QuestionDef
from core.llm.chat import RetryPolicy, chat_messages, redact, retry_after
from core.llm.judge import JudgeInvalid, judge_prompt, parse_answer, suggestions

DIALOGUE = [{"role": "system", "text": "Be brief."}, {"role": "user", "text": "Hi", "images": ["a1"]},
            {"role": "bot", "text": "Hello!"}, {"role": "user", "text": "Bye"}]  # fmt: skip


def test_chat_messages_roles_images_and_the_user_side():
    got = chat_messages(DIALOGUE, system="S", image=lambda ref: f"data:image/png;base64,{ref}")
    assert [m["role"] for m in got] == ["system", "system", "user", "assistant", "user"]
    assert got[2]["content"] == [{"type": "text", "text": "Hi"},
                                 {"type": "image_url", "image_url": {"url": "data:image/png;base64,a1"}}]  # fmt: skip
    assert chat_messages(DIALOGUE)[1] == {"role": "user", "content": "Hi"}  # no image loader: text only
    # Writing the user's next turn: the model plays the user, so the roles swap.
    assert [m["role"] for m in chat_messages(DIALOGUE, as_role="user")] == [
        "system",
        "assistant",
        "user",
        "assistant",
    ]


def test_retry_after_and_backoff():
    assert retry_after({"retry-after": "2"}) == 2.0
    assert retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert retry_after({"retry-after": "Thu, 01 Jan 2026 12:00:05 GMT"}, now=now) == 5.0
    assert retry_after({}) is None and retry_after({"retry-after": "soon"}) is None
    policy = RetryPolicy(backoff=1.0, max_wait=3.0)
    assert policy.wait(0, 0.5) == 0.5 and policy.wait(5, 99) == 3.0
    assert 0.5 <= policy.wait(0, None) <= 1.0 and policy.wait(10, None) == 3.0


def test_keys_are_kept_out_of_messages():
    key = "abcd1234efgh5678ijkl"
    assert redact(f"bad key {key} sent", (key,)) == "bad key *** sent"
    assert "abcd1234" not in redact("Incorrect API key provided: abcd1234****ijkl.", (key,))
    assert redact("Incorrect API key provided: sk-proj-AbC****xYz9.") == "Incorrect API key provided: sk-***"


CLASSES = [ClassDef(id=1, name="quality", attributes=({"name": "score", "type": "radio", "options": ["1", "2", "3"]},
                                                      {"name": "stars", "type": "rating", "scale": 5}))]  # fmt: skip
QUESTIONS = [QuestionDef(id=7, name="preference", type="pairwise", required=True),
             QuestionDef(id=8, name="topic", type="radio", options=("code", "chat")),
             QuestionDef(id=9, name="order", type="ranking")]  # fmt: skip
ITEM = {
    "messages": [{"role": "user", "text": "q"}],
    "candidates": [{"text": "a", "model": "X"}, {"text": "b"}],
}


def _parse(answer: object) -> dict:
    text = answer if isinstance(answer, str) else json.dumps(answer)
    return parse_answer(text, classes=CLASSES, questions=QUESTIONS, **ITEM)


def test_a_fitting_answer_becomes_suggestions():
    text = 'Sure:\n```json\n{"classifications": {"preference": {"chosen": 1, "rejected": 0, "strength": 3},' \
           ' "order": [1, 0]}, "results": [{"class": "quality", "candidate": 1, "values": {"score": 3}}]}\n```'  # fmt: skip
    work = _parse(text)
    assert work["classifications"] == {"7": {"chosen": 1, "rejected": 0, "strength": 3}, "9": [1, 0]}
    assert suggestions(work, classes=CLASSES, questions=QUESTIONS) == [
        {"kind": "preference", "target": None, "value": {"chosen": 1, "rejected": 0, "strength": 3}},
        {"kind": "ranking", "target": None, "value": [1, 0]},
        {"kind": "quality", "target": "c1", "value": {"score": "3"}},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        ("A is better.", "no JSON object"),
        ("{not json}", "not valid JSON"),
        ({"classifications": {}}, "answer it"),  # the required comparison
        ({"classifications": {"preference": {"chosen": 0, "rejected": 5}}}, "preference"),
        ({"classifications": {"preference": {"tie": True}, "mood": "x"}}, "no question named 'mood'"),
        ({"classifications": {"preference": {"tie": True}, "topic": "sports"}}, "not one of"),
        ({"classifications": {"preference": {"tie": True}}, "results": [{"class": "quality", "message": 0}]},
         "does not apply to a user turn"),
        ({"classifications": {"preference": {"tie": True}},
          "results": [{"class": "quality", "candidate": 0, "values": {"stars": 9}}]}, "from 1 to 5"),
        ({"classifications": {"preference": {"tie": True}}, "verdict": "A"}, "unknown keys"),
    ],
)  # fmt: skip
def test_answers_that_do_not_fit_are_refused(answer, says):
    with pytest.raises(JudgeInvalid, match=says):
        _parse(answer)


def test_the_prompt_shows_the_replies_without_model_names():
    prompt = judge_prompt(
        "D:{dialogue} C:{candidates} O:{ontology} {other}", ontology={"classes": []}, **ITEM
    )
    assert "[0] USER: q" in prompt and "[1] (candidate B): b" in prompt and "{other}" in prompt
    assert "X" not in prompt.replace("(candidate", "")
