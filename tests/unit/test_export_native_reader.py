"""The native reader: header with the ontology, items with responses, suggestions, meta and annotations."""

import io

import orjson
import pytest

from core.errors import FormatError
from core.formats.native import looks_native, read_native


class Files:
    """A Bundle over in-memory files."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def names(self):
        return list(self.files)

    def open(self, name):
        return io.BufferedReader(io.BytesIO(self.files[name]))

    def size(self, name):
        return len(self.files[name])


def jsonl(*objs) -> bytes:
    return b"".join(orjson.dumps(o) + b"\n" for o in objs)


ITEM = {
    "id": "c1",
    "name": "first",
    "messages": [{"role": "user", "content": "hi", "images": ["img/a.png"]}, {"role": "bot", "content": "yo"}],
    "responses": [{"content": "A", "model": "m1"}, "B"],
    "suggestions": {"preference": {"chosen": 0, "rejected": 1}},
    "meta": {"k": 1},
    "annotations": [
        {"annotator": "alice", "status": "submitted", "validity": "valid",
         "results": [{"class": "q", "message": 1, "values": {"score": "4"}}, {"class": "q", "candidate": 1}],
         "classifications": {"ranking": [1, 0]}}
    ],
}  # fmt: skip


def test_reads_header_and_items():
    header = {"parley": {"version": 1, "ontology": {"classes": [], "classifications": [{"name": "ranking"}]}}}
    bundle = Files({"data.jsonl": jsonl(header, ITEM), "img/a.png": b"x"})
    reading = read_native(bundle)
    assert reading.ontology["classifications"][0]["name"] == "ranking"
    (item,) = list(reading.items)
    assert item.external_id == "c1" and item.name == "first"
    assert item.messages[0] == {"role": "user", "text": "hi", "images": ["img/a.png"]}
    assert [c["text"] for c in item.candidates] == ["A", "B"] and item.candidates[0]["model"] == "m1"
    assert item.suggestions == [{"kind": "preference", "value": {"chosen": 0, "rejected": 1}}]
    assert item.annotations[0]["results"][1]["candidate"] == 1 and item.meta == {"k": 1}


def test_json_array_without_header():
    reading = read_native(Files({"d.json": orjson.dumps([ITEM]), "img/a.png": b"x"}))
    assert reading.ontology is None and len(list(reading.items)) == 1


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"annotations": [{"annotator": "a", "results": [{"class": "q", "candidate": 5}]}]}, "candidate"),
        ({"annotations": [{"annotator": "a", "status": "done"}]}, "status"),
        ({"annotations": [{"status": "saved"}]}, "annotator"),
        ({"messages": [{"role": "narrator", "content": "x"}]}, "role"),
    ],
)
def test_bad_records_name_the_field(change, field):
    bad = {**ITEM, "messages": ITEM["messages"][1:], **change}
    with pytest.raises(FormatError, match=field):
        list(read_native(Files({"d.jsonl": jsonl(bad, bad)})).items)


def test_unknown_version_is_refused():
    with pytest.raises(FormatError, match="version"):
        read_native(Files({"d.jsonl": jsonl({"parley": {"version": 9}}, ITEM)}))


def test_the_registry_reads_native_files_with_header_and_annotations():
    from core.formats import read_bundle

    header = {"parley": {"version": 1, "ontology": {"classes": [], "classifications": []}}}
    reading = read_bundle(Files({"x.jsonl": jsonl(header, ITEM, {**ITEM, "id": "c2"}), "img/a.png": b"x"}))
    assert reading.format == "native" and reading.ontology == header["parley"]["ontology"]
    items = list(reading.items)
    assert [i.external_id for i in items] == ["c1", "c2"] and items[0].annotations[0]["annotator"] == "alice"


def test_detects_native_records():
    assert looks_native({"parley": {"version": 1}})
    assert looks_native(ITEM)
    assert not looks_native({"conversations": []})
