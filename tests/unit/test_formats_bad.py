"""Bad input at the parse level: each gives a FormatError naming the file, the record and the field."""

from __future__ import annotations

import gzip
import io
import zipfile

import orjson
import pytest

from core.errors import FormatError
from core.formats import detect_format, read_bundle, resolve_image_ref
from core.formats.base import ImportOptions
from core.formats.simple_bundles import DictBundle


def _items(files: dict[str, bytes], **options):
    return list(read_bundle(DictBundle(files), ImportOptions(**options)).items)


def _error(files: dict[str, bytes], **options) -> FormatError:
    with pytest.raises(FormatError) as info:
        _items(files, **options)
    return info.value


def _jsonl(*records) -> bytes:
    return b"\n".join(orjson.dumps(r) for r in records) + b"\n"


CHAT = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}


def test_malformed_jsonl_line_names_the_line():
    err = _error({"chats.jsonl": _jsonl(CHAT, CHAT) + b'{"messages": [\n'})
    assert err.file == "chats.jsonl" and err.record == "line 3"
    assert "invalid JSON" in str(err)


def test_malformed_json_array_is_a_clean_error():
    err = _error({"chats.json": b'[{"messages": [{"role": "user", "content": "hi"}]}, {"messages": ]'})
    assert err.file == "chats.json" and "invalid JSON" in str(err)


def test_utf8_bom_is_fine_in_json_and_jsonl():
    assert len(_items({"a.jsonl": b"\xef\xbb\xbf" + _jsonl(CHAT, CHAT)})) == 2
    assert len(_items({"a.json": b"\xef\xbb\xbf" + orjson.dumps([CHAT])})) == 1


@pytest.mark.parametrize("name", ["chats.jsonl", "chats.json"])
def test_utf16_is_named_not_utf8(name):
    data = ("[" + orjson.dumps(CHAT).decode() + "]").encode("utf-16")
    err = _error({name: data})
    assert err.file == name and "not UTF-8" in str(err)


def test_latin1_bytes_are_named_not_utf8_with_the_line():
    bad = orjson.dumps({"messages": [{"role": "user", "content": "caf\u00e9"}]}).replace(
        "\u00e9".encode(), b"\xe9"
    )
    err = _error({"chats.jsonl": _jsonl(CHAT) + bad + b"\n"})
    assert err.record == "line 2" and "not UTF-8" in str(err)


def test_unknown_role_lists_the_known_ones():
    rec = {"messages": [{"role": "user", "content": "hi"}, {"role": "narrator", "content": "…"}]}
    err = _error({"chats.jsonl": _jsonl(CHAT, rec)})
    assert (err.file, err.record, err.field) == ("chats.jsonl", "line 2", "messages[1].role")
    assert "unknown role 'narrator'" in str(err)
    for known in ("user", "assistant", "gpt", "human", "system", "prompter"):
        assert known in str(err)


def test_empty_dialogue_is_an_error():
    err = _error({"chats.jsonl": _jsonl(CHAT, {"messages": []})})
    assert err.record == "line 2" and "empty dialogue" in str(err)
    err = _error({"s.json": orjson.dumps([{"conversations": []}])}, format="sharegpt")
    assert err.record == "record 1" and "empty dialogue" in str(err)


def test_message_over_the_size_limit():
    rec = {"messages": [{"role": "user", "content": "x" * 101}]}
    err = _error({"chats.jsonl": _jsonl(rec)}, max_message_chars=100)
    assert err.field == "messages[0].content" and "over the limit of 100" in str(err)
    assert len(_items({"chats.jsonl": _jsonl(rec)}, max_message_chars=101)) == 1


def test_nul_byte_in_text_is_refused_naming_the_field():
    rec = {"conversations": [{"from": "human", "value": "a\u0000b"}]}
    err = _error({"s.jsonl": _jsonl(rec)})
    assert (err.record, err.field) == ("line 1", "conversations[0].value") and "NUL" in str(err)


def test_lone_surrogate_is_refused():
    line = b'{"messages": [{"role": "user", "content": "bad \\ud800 here"}]}\n'
    err = _error({"chats.jsonl": _jsonl(CHAT) + line})
    assert err.record == "line 2" and "surrogate" in str(err)


@pytest.mark.parametrize("name", ["deep.jsonl", "deep.json"])
def test_json_nested_too_deep_is_a_clean_error_not_recursion(name):
    deep = (
        b'{"messages": [{"role": "user", "content": "x", "meta": ' + b"[" * 100_000 + b"]" * 100_000 + b"}]}"
    )
    data = _jsonl(CHAT) + deep + b"\n" if name.endswith("l") else b"[" + deep + b"]"
    err = _error({name: data}, format="openai")
    assert "nested too deep" in str(err)
    err = _error({name: data})  # detection too
    assert "nested too deep" in str(err) or "no known format" in str(err)


def test_extension_that_lies_about_the_bytes():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.jsonl", _jsonl(CHAT))
    err = _error({"chats.json": buf.getvalue()})
    assert err.file == "chats.json" and "zip archive" in str(err)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    err = _error({"chats.jsonl": png})
    assert "PNG image" in str(err)
    err = _error({"chats.json": b"prompt,response\nhi,hello\n"})
    assert "not JSON" in str(err)


def test_truncated_gzip_is_a_format_error():
    data = gzip.compress(_jsonl(*[CHAT] * 2000))
    err = _error({"chats.jsonl.gz": data[: len(data) // 2]})
    assert err.file == "chats.jsonl.gz" and "truncated" in str(err)


def test_gzip_member_is_read_by_content():
    assert len(_items({"chats.jsonl.gz": gzip.compress(_jsonl(CHAT, CHAT, CHAT))})) == 3


def test_missing_image_names_file_record_and_field():
    rec = {"messages": [{"role": "user", "content": "<image>What is it?"}], "images": ["pics/nope.png"]}
    err = _error({"data/chats.jsonl": _jsonl(rec), "data/pics/yes.png": b"x"})
    assert (err.file, err.record, err.field) == ("data/chats.jsonl", "line 1", "images[0]")
    assert "pics/nope.png" in str(err)


def test_more_placeholders_than_images_is_an_error():
    rec = {"messages": [{"role": "user", "content": "<image><image>two?"}], "images": ["a.png"]}
    err = _error({"c.jsonl": _jsonl(rec), "a.png": b"x"})
    assert "placeholders" in str(err)


def test_images_without_placeholders_go_to_the_first_user_message():
    rec = {
        "conversations": [{"from": "human", "value": "Describe"}, {"from": "gpt", "value": "A cat"}],
        "image": "a.png",
    }
    (item,) = _items({"c.jsonl": _jsonl(rec), "a.png": b"x"})
    assert item.messages[0]["images"] == ["a.png"]


def test_unknown_forced_format_lists_the_known_ones():
    err = _error({"c.jsonl": _jsonl(CHAT)}, format="parquet")
    assert "unknown format 'parquet'" in str(err) and "sharegpt" in str(err)


def test_json_of_no_known_shape_says_so():
    err = _error({"c.jsonl": _jsonl({"foo": 1, "bar": 2})})
    assert "no known format" in str(err) and "bar" in str(err)


def test_several_files_skip_unknown_json_and_qualify_ids():
    reading = read_bundle(
        DictBundle({"a/one.jsonl": _jsonl(CHAT, CHAT), "dataset_info.json": b'{"x": {"file_name": "a"}}'})
    )
    assert reading.skipped_files == ["dataset_info.json"]
    assert [i.external_id for i in reading.items] == ["a/one.jsonl:1", "a/one.jsonl:2"]
    reading = read_bundle(DictBundle({"one.jsonl": _jsonl(CHAT)}), ImportOptions(qualify_ids=True))
    assert [i.external_id for i in reading.items] == ["one.jsonl:1"]


def test_resolve_image_ref_rules():
    names = {"data/img/a.png", "img/b.png", "c.png"}
    assert resolve_image_ref("img/a.png", "data/x.json", names) == "data/img/a.png"
    assert resolve_image_ref("./img/b.png", "data/x.json", names) == "img/b.png"  # falls back to the root
    assert resolve_image_ref("..\\c.png", "data/x.json", names) == "c.png"
    assert resolve_image_ref("../../c.png", "data/x.json", names) is None  # escapes the bundle
    assert resolve_image_ref("/etc/passwd", "x.json", names) is None
    assert resolve_image_ref("file:///etc/passwd", "x.json", names) is None
    assert resolve_image_ref("https://x.org/a.png", "x.json", names) == "https://x.org/a.png"
    assert resolve_image_ref("s3://bucket/k.png", "x.json", names) == "s3://bucket/k.png"


def test_detect_format_by_content_not_extension():
    bundle = DictBundle({"weird.txt": _jsonl({"instruction": "a", "input": "", "output": "b"})})
    assert detect_format(bundle) == "alpaca"


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
def test_large_json_arrays_stream_element_by_element(chunk):
    from core.formats.base import iter_json_array

    recs = [
        {"messages": [{"role": "user", "content": 'caf\u00e9 \\"q\\" ' * (i % 7)}], "n": i * 1.5}
        for i in range(50)
    ]
    data = b"\xef\xbb\xbf" + orjson.dumps(recs, option=orjson.OPT_INDENT_2)
    got = [
        (obj, rec.label)
        for obj, rec in iter_json_array(io.BytesIO(data), "big.json", False, 1000, chunk=chunk)
    ]
    assert [o for o, _ in got] == recs
    assert got[-1][1] == "record 50"
    broken = data[: len(data) - 40]
    with pytest.raises(FormatError, match="invalid JSON"):
        list(iter_json_array(io.BytesIO(broken), "big.json", False, 1000, chunk=chunk))


def test_read_bundle_streams_arrays_over_the_threshold(monkeypatch):
    import core.formats.base as base

    monkeypatch.setattr(base, "ARRAY_STREAM_BYTES", 100)
    data = orjson.dumps([CHAT] * 30)
    assert [i.external_id for i in _items({"a.json": data})][-1] == "30"
    bad = data[:-1] + b',{"messages": [{"role": "narrator", "content": "x"}]}]'
    err = _error({"a.json": bad})
    assert (err.record, err.field) == ("record 31", "messages[0].role")
    deep = b'[{"messages": [{"role": "user", "content": "x", "meta": ' + b"[" * 5000 + b"]" * 5000 + b"}]}]"
    assert "nested too deep" in str(_error({"d.json": deep}, format="openai"))


def test_jsonl_with_a_first_line_longer_than_any_buffer(tmp_path):
    from core.formats.simple_bundles import DirBundle

    long = {"messages": [{"role": "user", "content": "x" * 3_000_000}]}
    path = tmp_path / "long.jsonl"
    path.write_bytes(_jsonl(long, CHAT, CHAT))
    reading = read_bundle(DirBundle(path), ImportOptions(max_message_chars=5_000_000))
    assert reading.format == "openai"
    assert [len(i.messages[0]["text"]) for i in reading.items] == [3_000_000, 2, 2]
    pretty = tmp_path / "pretty.json"
    pretty.write_bytes(orjson.dumps(long, option=orjson.OPT_INDENT_2))
    assert len(list(read_bundle(DirBundle(pretty), ImportOptions(max_message_chars=5_000_000)).items)) == 1
