"""core/neardup.py: planted near-duplicates found, unrelated prompts apart, exact duplicates, Chinese, the
threshold, and the prompt / dialogue texts."""

from __future__ import annotations

import random

import pytest

from core import neardup
from core.neardup import Group, find_groups, jaccard

WORDS = [
    "apple", "river", "stone", "cloud", "garden", "window", "yellow", "silver", "market", "engine", "forest",
    "doctor", "planet", "music", "winter", "bridge", "candle", "pocket", "mirror", "thunder", "island",
    "rocket", "pillow", "basket", "ladder", "violin", "meadow", "harbor", "tunnel", "feather", "compass",
    "lantern", "saddle", "marble", "velvet", "anchor", "orchard", "canyon", "glacier", "falcon", "ribbon",
    "kettle", "quartz", "walnut", "cactus", "parrot", "lemon", "tiger", "copper", "magnet",
]  # fmt: skip


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(n))


def edited(text: str, rng: random.Random, edits: int) -> str:
    words = text.split()
    for _ in range(edits):
        words[rng.randrange(len(words))] = "changed" + str(rng.randrange(10**6))
    return " ".join(words)


def by_first(groups: list[Group]) -> dict:
    return {g.ids[0]: g for g in groups}


def test_planted_pairs_found_and_unrelated_prompts_not_grouped() -> None:
    rng = random.Random(7)
    texts = {f"u{i}": sentence(rng, rng.randint(20, 40)) for i in range(300)}
    planted = {}
    for i in range(0, 40, 2):  # 20 pairs: one or two words replaced in a 30–40-word prompt
        base = sentence(rng, rng.randint(30, 40))
        texts[f"p{i}"], texts[f"p{i + 1}"] = base, edited(base, rng, 1 + i % 4 // 2)
        planted[f"p{i}"] = f"p{i + 1}"
    groups = find_groups(texts.items())
    assert sorted(g.ids for g in groups) == sorted([a, b] for a, b in planted.items())
    for g in groups:
        assert g.similarity == pytest.approx(jaccard(texts[g.ids[0]], texts[g.ids[1]]), abs=1e-4)
        assert 0.8 <= g.similarity < 1.0 and g.similarities == [1.0, g.similarity]


def test_exact_duplicates_after_normalisation_have_similarity_one() -> None:
    texts = [
        ("a", "What is the capital of France? Please answer in one word."),
        ("b", "what is the   capital of france please answer in ONE word"),
        ("c", "Ｗｈａｔ is the capital of France — please answer in one word!"),  # full-width letters (NFKC)
        ("d", "Something else entirely, about the weather in Lisbon tomorrow."),
        ("e", ""),
        ("f", "  ...  "),  # no words: compared with nothing
    ]
    [group] = find_groups(texts)
    assert group.ids == ["a", "b", "c"] and group.similarity == 1.0 and group.similarities == [1.0] * 3


def test_chinese_near_duplicates() -> None:
    base = "请帮我写一封给房东的邮件，说明下个月的房租会晚三天支付，因为公司的工资发放时间推迟了，希望他能理解并同意"
    near = base.replace("三天", "五天")  # one word changed in a 50-character prompt
    other = "今天天气很好，我们一起去公园散步吧，顺便买一些水果和面包，晚上回家做一顿丰盛的晚餐给家人吃"
    assert 0.8 <= jaccard(base, near) < 1.0 and jaccard(base, other) < 0.2
    [group] = find_groups([("x", base), ("y", other), ("z", near)])
    assert group.ids == ["x", "z"]
    # Chinese inside English text: its characters are compared as pairs, the English as words
    mixed = find_groups([(1, f"Translate: {base}"), (2, f"Translate: {near}"), (3, f"Translate: {other}")])
    assert [g.ids for g in mixed] == [[1, 2]]


def test_threshold_is_respected() -> None:
    rng = random.Random(3)
    base = sentence(rng, 30)
    one, four = edited(base, rng, 1), edited(base, rng, 4)
    j_one, j_four = jaccard(base, one), jaccard(base, four)
    assert j_four < 0.8 <= j_one
    texts = [("base", base), ("one", one), ("four", four)]
    assert [g.ids for g in find_groups(texts)] == [["base", "one"]]
    [low] = find_groups(texts, threshold=min(j_four, jaccard(one, four)) - 0.01)
    assert low.ids == ["base", "one", "four"] and low.similarity == pytest.approx(j_four, abs=1e-4)
    assert find_groups(texts, threshold=1.0) == []
    for bad in (0.0, -0.1, 1.5):
        with pytest.raises(ValueError, match="threshold"):
            find_groups(texts, threshold=bad)


def test_groups_span_chunks_and_workers() -> None:
    rng = random.Random(5)
    base = sentence(rng, 30)
    texts = [(i, sentence(rng, 25)) for i in range(50)] + [(50, base), (51, edited(base, rng, 1))]
    texts.insert(3, (99, base))  # the first of the group, in the first chunk
    assert [g.ids for g in find_groups(texts, chunk=7)] == [[99, 50, 51]]
    with neardup.NearDuplicates(workers=2) as finder:
        for start in range(0, len(texts), 20):
            part = texts[start : start + 20]
            finder.add([i for i, _ in part], [t for _, t in part])
        assert [g.ids for g in finder.groups()] == [[99, 50, 51]]


def test_prompt_and_dialogue_texts() -> None:
    messages = [{"role": "system", "text": "Be brief."}, {"role": "user", "text": "Hi", "images": ["x"]}]
    candidates = [{"text": "Hello!"}, {"text": None}]
    assert neardup.prompt_text(messages) == "Be brief.\nHi"
    assert neardup.dialogue_text(messages, candidates) == "Be brief.\nHi\nHello!\n"
    assert neardup.item_text(messages, candidates, "prompt") == "Be brief.\nHi"
    assert neardup.first_words("a  b\n c " + "x" * 100, 10) == "a b c xxx…"
