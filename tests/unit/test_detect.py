"""Format detection by content: every sample, wrappers, and what the bytes of a non-data file look like."""

from __future__ import annotations

import gzip

import orjson
import pytest

from core.errors import FormatError
from core.formats import FORMATS, data_file_names, detect_format
from core.formats.detect import UnknownFormat, sniff_record
from core.formats.simple_bundles import DictBundle, DirBundle, ZipBundle


@pytest.mark.datasets
@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("hh-rlhf_harmless-base_test.jsonl.gz", "hh_rlhf"),
        ("llamafactory_dpo_en_demo.json.gz", "preference"),
        ("llamafactory_alpaca_en_demo.json", "alpaca"),
        ("oasst_en_100_tree.jsonl", "oasst"),
        ("fastchat_dummy_conversation.json", "sharegpt"),
        ("llamafactory_kto_en_demo.json", "kto"),
        ("multimodal/data/mllm_demo.json", "openai"),
        ("multimodal/data/v1_multimodal_demo.jsonl", "openai"),
    ],
)
def test_every_sample_is_detected(datasets_dir, path, expected):
    assert detect_format(DirBundle(datasets_dir / path)) == expected


@pytest.mark.datasets
def test_archives_are_detected_as_bundles(datasets_dir):
    assert detect_format(ZipBundle(datasets_dir / "fastchat_vicuna_bench_eval_table.zip")) == "vicuna_bench"
    assert detect_format(ZipBundle(datasets_dir / "llamafactory_mllm_demo.zip")) == "openai"
    assert detect_format(DirBundle(datasets_dir / "multimodal")) == "openai"


@pytest.mark.parametrize(
    ("record", "expected"),
    [
        ({"messages": [{"role": "user", "content": "hi"}]}, "openai"),
        ({"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}]}, "openai"),
        ({"id": "c1", "messages": [{"role": "user", "content": "hi"}], "responses": ["a", "b"]}, "native"),
        ({"messages": [{"role": "bot", "content": "hi"}]}, "native"),
        ({"parley": {"version": 1}}, "native"),
        ({"conversations": [{"from": "human", "value": "hi"}], "image": "a.png"}, "sharegpt"),
        ({"instruction": "a", "input": "", "output": "b"}, "alpaca"),
        ({"prompt": "p", "chosen": "a", "rejected": "b"}, "preference"),
        (
            {"chosen": [{"role": "user", "content": "q"}], "rejected": [{"role": "user", "content": "q"}]},
            "preference",
        ),
        ({"prompt": "p", "completions": [{"text": "a"}]}, "preference"),
        ({"conversations": [], "chosen": {"from": "gpt", "value": "a"}, "rejected": {}}, "preference"),
        ({"messages": [], "label": True}, "kto"),
        ({"prompt": "p", "completion": "c", "label": False}, "kto"),
        ({"chosen": "\n\nHuman: hi\n\nAssistant: a", "rejected": "\n\nHuman: hi\n\nAssistant: b"}, "hh_rlhf"),
        ({"message_tree_id": "t", "prompt": {"role": "prompter", "text": "q", "replies": []}}, "oasst"),
        ({"question_id": 1, "text": "q", "category": "generic"}, "vicuna_bench"),
        ({"foo": 1}, None),
    ],
)
def test_sniff_record(record, expected):
    assert sniff_record(record) == expected


def test_wrapper_object_and_single_pretty_object():
    wrapped = orjson.dumps(
        {"data": [{"instruction": "a", "input": "", "output": "b"}]}, option=orjson.OPT_INDENT_2
    )
    assert detect_format(DictBundle({"w.json": wrapped})) == "alpaca"
    single = orjson.dumps({"conversations": [{"from": "human", "value": "hi"}]}, option=orjson.OPT_INDENT_2)
    assert detect_format(DictBundle({"one.json": single})) == "sharegpt"


def test_first_record_longer_than_the_sniffed_head():
    big = {"messages": [{"role": "user", "content": "x" * 1_500_000}]}
    assert detect_format(DictBundle({"big.json": orjson.dumps([big])})) == "openai"


def test_gzip_by_content_even_without_gz_name():
    data = gzip.compress(orjson.dumps({"instruction": "a", "input": "", "output": "b"}) + b"\n")
    assert detect_format(DictBundle({"data.jsonl": data})) == "alpaca"


@pytest.mark.parametrize(
    ("head", "looks_like"),
    [
        (b"\x89PNG\r\n\x1a\n" + b"\0" * 40, "PNG image"),
        (b"\xff\xd8\xff\xe0" + b"\0" * 40, "JPEG image"),
        (b"PK\x03\x04" + b"\0" * 40, "zip archive"),
        (b"Rar!\x1a\x07\x00" + b"\0" * 40, "RAR archive"),
        (b"%PDF-1.7\n", "PDF document"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'></svg>", "XML/HTML/SVG"),
        (b"\0" * 257 + b"ustar\0" + b"\0" * 40, "tar archive"),
    ],
)
def test_non_data_bytes_say_what_they_look_like(head, looks_like):
    with pytest.raises(FormatError, match=looks_like) as info:
        detect_format(DictBundle({"data.jsonl": head}))
    assert info.value.file == "data.jsonl"


def test_empty_and_unknown_files():
    with pytest.raises(FormatError, match="empty"):
        detect_format(DictBundle({"e.jsonl": b"  \n"}))
    with pytest.raises(UnknownFormat):
        detect_format(DictBundle({"notes.txt": b"hello world"}))


def test_data_file_names_by_extension_or_the_only_file():
    names = ["a/chats.jsonl", "a/img/1.png", "b.csv", "c.xlsx", "d.json.gz", "README.md"]
    assert data_file_names(names) == ["a/chats.jsonl", "b.csv", "c.xlsx", "d.json.gz"]
    assert data_file_names(["upload", "x.png"]) == ["upload"]


def test_format_names_are_stable():
    assert list(FORMATS) == [
        "native", "openai", "sharegpt", "alpaca", "preference", "kto", "hh_rlhf", "oasst", "vicuna_bench", "csv", "xlsx", "xls"
    ]  # fmt: skip
