"""Spreadsheets: CSV/XLSX reading, cell values not formulas, sheets, the mapping guess, both layouts."""

from __future__ import annotations

import io
import zipfile
from xml.sax.saxutils import escape

import pytest

from core.errors import FormatError
from core.formats import guess_mapping, read_bundle, table_columns
from core.formats.base import ImportOptions, TableMapping
from core.formats.simple_bundles import DictBundle


def make_xlsx(sheets: dict[str, list[list[object]]], doctype: str = "") -> bytes:
    """A minimal xlsx written by hand, so a formula can carry a cached value (openpyxl cannot write one).

    A cell given as ("=FORMULA", cached) is written as a formula with its cached result."""
    ct = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">',
        '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>',
        '<Default Extension="xml" ContentType="application/xml"/>',
        '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>',
    ]
    wb_sheets, rels = [], []
    parts: dict[str, str] = {}
    for n, (name, rows) in enumerate(sheets.items(), 1):
        ct.append(
            f'<Override PartName="/xl/worksheets/sheet{n}.xml" '
            'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
        )
        wb_sheets.append(f'<sheet name="{escape(name)}" sheetId="{n}" r:id="rId{n}"/>')
        rels.append(
            f'<Relationship Id="rId{n}" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet{n}.xml"/>'
        )
        xml_rows = []
        for r, row in enumerate(rows, 1):
            cells = []
            for c, value in enumerate(row):
                ref = f"{chr(65 + c)}{r}"
                if isinstance(value, tuple):
                    formula, cached = value
                    kind = ' t="str"' if isinstance(cached, str) else ""
                    cells.append(
                        f'<c r="{ref}"{kind}><f>{escape(formula[1:])}</f><v>{escape(str(cached))}</v></c>'
                    )
                elif isinstance(value, int | float):
                    cells.append(f'<c r="{ref}"><v>{value}</v></c>')
                elif value is not None:
                    cells.append(
                        f'<c r="{ref}" t="inlineStr"><is><t xml:space="preserve">{escape(str(value))}</t></is></c>'
                    )
            xml_rows.append(f'<row r="{r}">{"".join(cells)}</row>')
        parts[f"xl/worksheets/sheet{n}.xml"] = (
            f'<?xml version="1.0" encoding="UTF-8"?>{doctype}'
            '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            f"<sheetData>{''.join(xml_rows)}</sheetData></worksheet>"
        )
    ct.append("</Types>")
    parts["[Content_Types].xml"] = "".join(ct)
    parts["_rels/.rels"] = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/>'
        "</Relationships>"
    )
    parts["xl/workbook.xml"] = (
        '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        f"<sheets>{''.join(wb_sheets)}</sheets></workbook>"
    )
    parts["xl/_rels/workbook.xml.rels"] = (
        '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        f"{''.join(rels)}</Relationships>"
    )
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, text in parts.items():
            zf.writestr(name, text)
    return buf.getvalue()


def _read(files, **options):
    reading = read_bundle(DictBundle(files), ImportOptions(**options))
    return reading, list(reading.items)


CSV_ITEMS = (
    b"id,prompt,response_1,response_2,image,source\r\n"
    b'q1,"Write a haiku\nabout rain","Rain taps the window\nsoftly","Drops fall, puddles grow",img/rain.png,web\r\n'
    b"q2,Say hi,Hi!,Hello there,,chat\r\n"
)


def test_csv_one_row_an_item_with_quoted_newlines_and_candidates():
    reading, items = _read({"sheet.csv": CSV_ITEMS, "img/rain.png": b"x"})
    assert reading.format == "csv"
    assert [i.external_id for i in items] == ["q1", "q2"]
    q1 = items[0]
    assert q1.messages == [{"role": "user", "text": "Write a haiku\nabout rain", "images": ["img/rain.png"]}]
    assert [c["text"] for c in q1.candidates] == ["Rain taps the window\nsoftly", "Drops fall, puddles grow"]
    assert q1.meta == {"source": "web"}


def test_guess_mapping_for_items_and_messages():
    cols, sample, sheets = table_columns(DictBundle({"s.csv": CSV_ITEMS}), "s.csv")
    assert cols == ["id", "prompt", "response_1", "response_2", "image", "source"] and sheets == []
    assert sample[0]["prompt"] == "Write a haiku\nabout rain"
    m = guess_mapping(cols, sample)
    assert (m.layout, m.id, m.prompt, m.candidates, m.images, m.meta) == (
        "item",
        "id",
        "prompt",
        ["response_1", "response_2"],
        ["image"],
        ["source"],
    )
    m = guess_mapping(["Conversation ID", "Turn", "Speaker", "Content", "Image"], [])
    assert (m.layout, m.id, m.turn, m.role, m.text, m.image) == (
        "message",
        "Conversation ID",
        "Turn",
        "Speaker",
        "Content",
        "Image",
    )
    m = guess_mapping(["question", "answer"], [{"question": "q", "answer": "a"}])
    assert (m.layout, m.prompt, m.response, m.candidates) == ("item", "question", "answer", [])
    m = guess_mapping(["prompt", "chosen", "rejected"], [])
    assert m.candidates == ["chosen", "rejected"] and m.preference


CSV_MESSAGES = (
    b"conversation_id,turn,role,content\n"
    b"c1,2,assistant,Paris.\n"
    b"c2,1,human,2+2?\n"
    b"c1,1,user,Capital of France?\n"
    b"c2,2,gpt,4\n"
    b"c2,2,gpt,Four\n"
)


def test_csv_one_row_a_message_grouped_and_ordered_by_turn():
    _, items = _read({"m.csv": CSV_MESSAGES})
    assert [i.external_id for i in items] == ["c1", "c2"]
    assert [(m["role"], m["text"]) for m in items[0].messages] == [
        ("user", "Capital of France?"),
        ("bot", "Paris."),
    ]
    # two bot rows sharing the last turn are the candidates
    assert [(m["role"], m["text"]) for m in items[1].messages] == [("user", "2+2?")]
    assert [c["text"] for c in items[1].candidates] == ["4", "Four"]


def test_corrected_mapping_changes_the_items():
    data = b"question,answer,notes\nWhat?,That.,n1\n"
    _, items = _read({"q.csv": data})
    assert [m["role"] for m in items[0].messages] == ["user", "bot"]
    fixed = TableMapping(layout="item", prompt="question", candidates=["answer"], meta=["notes"])
    _, items = _read({"q.csv": data}, mapping=fixed)
    assert [m["role"] for m in items[0].messages] == ["user"]
    assert items[0].candidates[0]["text"] == "That." and items[0].meta == {"notes": "n1"}
    err = pytest.raises(FormatError, _read, {"q.csv": data}, mapping=TableMapping(prompt="nope"))
    assert "nope" in str(err.value) and "question" in str(err.value)


def test_csv_unknown_role_names_the_row():
    data = b"conversation_id,role,content\nc1,user,hi\nc1,narrator,once upon\n"
    with pytest.raises(FormatError) as info:
        _read({"m.csv": data})
    assert (info.value.record, info.value.field) == ("row 3", "role")
    assert "narrator" in str(info.value) and "assistant" in str(info.value)


def test_csv_not_utf8_and_bom():
    with pytest.raises(FormatError, match="not UTF-8"):
        _read({"s.csv": "prompt,response\ncaf\u00e9,ok\n".encode("latin-1")})
    _, items = _read({"s.csv": b"\xef\xbb\xbfprompt,response\nhi,ok\n"})
    assert items[0].messages[0]["text"] == "hi"


def test_csv_nul_byte_and_empty_prompt():
    with pytest.raises(FormatError, match="NUL") as info:
        _read({"s.csv": b"prompt,response\nh\x00i,ok\n"})
    assert info.value.record == "row 2" and info.value.field == "prompt"
    with pytest.raises(FormatError, match="empty dialogue"):
        _read({"s.csv": b"prompt,response\n,ok\n"})


def test_xlsx_reads_cached_values_not_formulas_and_chooses_a_sheet():
    data = make_xlsx(
        {
            "Notes": [["title"], ["not dialogues"]],
            "Chats": [
                ["id", "prompt", "response", "turns"],
                ["a1", "Double 21?", ("=B3*2", 42), ("=1+1", 2)],
                [7, ('=CONCAT("Hel","lo")', "Hello"), "Hi", 3.5],
            ],
        }
    )
    cols, sample, sheets = table_columns(DictBundle({"w.xlsx": data}), "w.xlsx", sheet="Chats")
    assert sheets == ["Notes", "Chats"] and cols == ["id", "prompt", "response", "turns"]
    reading, items = _read({"w.xlsx": data}, sheet="Chats")
    assert reading.format == "xlsx"
    assert items[0].messages[1]["text"] == "42" and items[0].meta == {"turns": "2"}
    assert items[1].external_id == "7" and items[1].messages[0]["text"] == "Hello"
    assert items[1].meta == {"turns": "3.5"}
    # default: the first sheet
    _, first = _read({"w.xlsx": data})
    assert first[0].messages[0]["text"] == "not dialogues"
    with pytest.raises(FormatError, match="no sheet named 'Nope'.*Notes, Chats"):
        _read({"w.xlsx": data}, sheet="Nope")


def test_xlsx_named_json_is_still_detected_and_a_zip_named_xlsx_is_not():
    data = make_xlsx({"S": [["prompt"], ["hi"]]})
    reading, items = _read({"upload.xlsx": data})
    assert items[0].messages[0]["text"] == "hi"
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "x")
    with pytest.raises(FormatError, match="zip archive"):
        _read({"fake.xlsx": buf.getvalue()})


def test_xlsx_entity_bomb_is_refused():
    bomb = (
        '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
        '<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>'
    )
    data = make_xlsx({"S": [["prompt"], ["&lol2;"]]}, doctype=bomb)
    with pytest.raises(FormatError, match="entity") as info:
        _read({"bomb.xlsx": data})
    assert info.value.file == "bomb.xlsx"
    with pytest.raises(FormatError, match="entity"):
        table_columns(DictBundle({"bomb.xlsx": data}), "bomb.xlsx")


def test_xls_one_row_a_message_on_a_chosen_sheet():
    xlwt = pytest.importorskip("xlwt")
    wb = xlwt.Workbook()
    other = wb.add_sheet("Readme")
    other.write(0, 0, "about")
    ws = wb.add_sheet("Chats")
    rows = [
        ["conversation_id", "turn", "role", "content"],
        ["c1", 1, "user", "Bonjour, un café ?"],
        ["c1", 2, "assistant", "Oui !"],
        [7, 1, "human", "hi"],
    ]
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            ws.write(r, c, value)
    buf = io.BytesIO()
    wb.save(buf)
    files = {"legacy.xls": buf.getvalue()}
    cols, _, sheets = table_columns(DictBundle(files), "legacy.xls", sheet="Chats")
    assert sheets == ["Readme", "Chats"] and cols == ["conversation_id", "turn", "role", "content"]
    reading, items = _read(files, sheet="Chats")
    assert reading.format == "xls"
    assert [i.external_id for i in items] == ["c1", "7"]  # the number 7.0 reads as "7"
    assert [(m["role"], m["text"]) for m in items[0].messages] == [
        ("user", "Bonjour, un café ?"),
        ("bot", "Oui !"),
    ]


def test_guess_response_beside_numbered_responses_and_role_by_values():
    m = guess_mapping(["prompt", "response", "response_1", "response_2"], [])
    assert (m.response, m.candidates) == (None, ["response", "response_1", "response_2"])
    sample = [
        {"conv": "1", "who_said": "user", "utterance": "hi"},
        {"conv": "1", "who_said": "assistant", "utterance": "yo"},
    ]
    m = guess_mapping(["conv", "who_said", "utterance"], sample)
    assert (m.layout, m.id, m.role, m.text) == ("message", "conv", "who_said", "utterance")
