"""The parser child process (store.import_worker): the same items, errors and all-or-nothing as in-process."""

from __future__ import annotations

import io
import json
import os
import signal
import zipfile
from pathlib import Path

import pytest
from PIL import Image
from sqlalchemy import Engine, select
from sqlmodel import Session

from core.errors import FormatError
from store import import_worker, importer
from store.blobs import LocalBlobStore
from store.importer import ImportProgress, import_source
from store.models import Dataset, ImportJob, Item, Suggestion
from tests.utils import found

REAL = [
    "oasst_en_100_tree.jsonl",  # suggestions, messages shared between items
    "hh-rlhf_harmless-base_test.jsonl.gz",
    "fastchat_vicuna_bench_eval_table.zip",  # several files in an archive: qualified ids
    "llamafactory_mllm_demo.zip",  # images: their rows are built by the parent
    "llamafactory_alpaca_en_demo.json",
]


def _items(engine: Engine, name: str) -> list[tuple]:  # type: ignore[type-arg]
    with Session(engine) as s:
        dataset = s.execute(select(Dataset).where(Dataset.name == name)).scalar_one()
        rows = s.execute(
            select(Item.external_id, Item.name, Item.position, Item.messages, Item.candidates,
                   Item.models, Item.message_count, Item.assets, Item.meta).where(Item.dataset_id == dataset.id).order_by(Item.id)
        ).all()  # fmt: skip
        suggestions = s.execute(
            select(Item.external_id, Suggestion.kind, Suggestion.target, Suggestion.value, Suggestion.score)
            .join(Item, Item.id == Suggestion.item_id)
            .where(Item.dataset_id == dataset.id)
            .order_by(Suggestion.id)
        ).all()
    return [tuple(r) for r in rows] + [tuple(r) for r in suggestions]


def _import(engine: Engine, source: object, name: str, blobs: Path, **kw):  # type: ignore[no-untyped-def]
    return import_source(
        user=None,
        dataset_name=name,
        source=source,
        engine=engine,
        create=True,
        blobs=LocalBlobStore(blobs),
        **kw,
    )


@pytest.fixture
def children(monkeypatch: pytest.MonkeyPatch) -> list[import_worker.ParserProcess]:
    """Every source goes to a parser child; the children started are listed here."""
    started: list[import_worker.ParserProcess] = []
    real = import_worker.ParserProcess

    class Recorded(real):  # type: ignore[misc, valid-type]
        def __init__(self, job: import_worker.Job) -> None:
            self.job_source = job.source
            super().__init__(job)
            started.append(self)

    monkeypatch.setattr(import_worker, "ParserProcess", Recorded)
    monkeypatch.setattr(importer, "PARSER_PROCESS_MIN_BYTES", 0)
    return started


@pytest.mark.parametrize("sample", REAL)
def test_child_process_writes_exactly_what_the_in_process_path_writes(
    sample: str,
    engine: Engine,
    datasets_dir: Path,
    tmp_path: Path,
    children: list,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = str(datasets_dir / sample)
    by_child = _import(engine, source, "child", tmp_path / "b1")
    assert len(children) == 1 and children[0].proc.returncode == 0
    monkeypatch.setattr(importer, "PARSER_PROCESS_MIN_BYTES", 1 << 62)
    in_process = _import(engine, source, "inproc", tmp_path / "b2")
    assert len(children) == 1  # the second import ran in this process
    counts = ("format", "data_files", "items", "messages", "candidates", "images", "suggestions", "skipped")
    assert [getattr(by_child, k) for k in counts] == [getattr(in_process, k) for k in counts]
    assert by_child.items > 0 and by_child.bytes > 0
    assert _items(engine, "child") == _items(engine, "inproc")


def test_the_childs_search_text_finds_what_the_in_process_text_finds(
    engine: Engine, tmp_path: Path, children: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The parser child makes the search text in the database's form (CJK characters spaced apart; on
    PostgreSQL, words joined by punctuation split): both paths and both record shapes find the same items."""
    data = tmp_path / "words.zip"
    lines = [
        {"id": "zh", "messages": [{"role": "user", "content": "我喜欢机器学习。"}], "responses": ["机器学习很有趣"]},
        {"id": "ja", "messages": [{"role": "user", "content": "東京タワーはどこ?"}]},
        {"id": "mail", "messages": [{"role": "user", "content": "Send the e-mail to a.b@example.org"}]},
        {"id": "cafe", "messages": [{"role": "user", "text": "Un café, s'il vous plaît"}], "responses": [{"content": "ÉTÉ _under_score"}]},
        {"id": "img", "messages": [{"role": "user", "content": "看图 caption-here", "images": ["pic.png"]}]},
    ]  # fmt: skip
    png = io.BytesIO()
    Image.new("RGB", (4, 3)).save(png, "PNG")  # an item with an image: the parent builds its row
    with zipfile.ZipFile(data, "w") as zf:
        zf.writestr("words.jsonl", "".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines))
        zf.writestr("pic.png", png.getvalue())
    queries = [
        "机器学习",
        "学习",
        "タワー",
        "東京",
        "e-mail",
        "mail",
        "example",
        "café",
        "été",
        "under",
        "score",
        "plaît",
        "看图",
        "caption",
    ]

    def hits(name: str) -> dict[str, list[str]]:
        with Session(engine) as s:
            dataset_id = s.execute(select(Dataset.id).where(Dataset.name == name)).scalar_one()
            ext = dict(
                s.execute(select(Item.id, Item.external_id).where(Item.dataset_id == dataset_id)).all()
            )
            return {q: sorted(ext[i] for i in found(s, dataset_id, q)) for q in queries}

    by_child = _import(engine, str(data), "child", tmp_path / "b")
    assert len(children) == 1 and by_child.items == 5
    monkeypatch.setattr(importer, "PARSER_PROCESS_MIN_BYTES", 1 << 62)
    _import(engine, str(data), "inproc", tmp_path / "b")
    monkeypatch.setattr(import_worker, "PLAIN_ROWS", False)
    _import(engine, str(data), "general", tmp_path / "b")
    expected = {
        "机器学习": ["zh"], "学习": ["zh"], "タワー": ["ja"], "東京": ["ja"], "e-mail": ["mail"], "mail": ["mail"],
        "example": ["mail"], "café": ["cafe"], "été": ["cafe"], "under": ["cafe"], "score": ["cafe"], "plaît": ["cafe"],
        "看图": ["img"], "caption": ["img"],
    }  # fmt: skip
    assert hits("child") == expected
    assert hits("inproc") == expected
    assert hits("general") == expected


def _native_mix(path: Path) -> None:
    """Native records the plain-row fast path takes and records next to them that it must leave alone."""
    lines = [
        {"id": "p1", "messages": [{"role": "user", "content": "Hi THERE"}, {"role": "assistant", "content": "Hello"}],
         "responses": ["A plain string", {"content": "With MODEL", "model": "m1"}, {"content": "no model"}]},
        {"messages": [{"role": "human", "text": "alias role, text key, no id"}]},
        {"id": 7, "messages": [{"role": "gpt", "content": "numeric id"}], "responses": []},
        {"id": "p1", "messages": [{"role": "user", "content": "duplicate id"}]},
        {"id": "n1", "name": "named", "messages": [{"role": "user", "content": "has a name"}]},
        {"id": "m1", "messages": [{"role": "user", "content": "meta"}], "meta": {"k": [1, 2]}},
        {"id": "s1", "messages": [{"role": "user", "content": "suggests"}], "responses": ["a", "b"],
         "suggestions": [{"kind": "preference", "value": {"chosen": 0}}]},
        {"id": "r1", "messages": [{"role": "user", "content": "x", "meta": {"t": 1}}], "responses": [{"content": "y", "model": ""}]},
        {"id": "u1", "messages": [{"role": "User", "content": "capitalised role"}], "responses": None},
        {"id": "e1", "messages": [{"role": "user", "content": "caf\u00e9 \u00c9T\u00c9 \ud83d\ude00"}], "responses": ["\u00dcber"]},
    ]  # fmt: skip
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


def test_plain_native_rows_equal_the_general_path(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = tmp_path / "mix.jsonl"
    _native_mix(data)
    fast = _import(engine, str(data), "fast", tmp_path / "b")
    monkeypatch.setattr(import_worker, "PLAIN_ROWS", False)
    general = _import(engine, str(data), "general", tmp_path / "b")
    counts = ("format", "items", "messages", "candidates", "suggestions", "skipped", "skipped_ids")
    assert [getattr(fast, k) for k in counts] == [getattr(general, k) for k in counts]
    assert (fast.items, fast.skipped, fast.suggestions) == (9, 1, 1)
    assert _items(engine, "fast") == _items(engine, "general")
    first = _items(engine, "fast")[0]
    assert first[:3] == ("p1", "", 0)
    assert first[3] == [{"role": "user", "text": "Hi THERE"}, {"role": "bot", "text": "Hello"}]
    assert first[4] == [
        {"text": "A plain string"},
        {"text": "With MODEL", "model": "m1"},
        {"text": "no model"},
    ]
    assert first[5:8] == ('[null,"m1",null]', 2, "")  # models by candidate, message count, no image


def test_duplicates_and_ids_already_in_the_dataset_are_skipped_by_the_child(
    sqlite_engine: Engine, tmp_path: Path, children: list
) -> None:
    first = tmp_path / "a.jsonl"
    first.write_text("".join(json.dumps({"id": f"x{i}", "messages": [{"role": "user", "content": f"q{i}"}]}) + "\n"
                             for i in (1, 2)))  # fmt: skip
    _import(sqlite_engine, str(first), "d", tmp_path / "b")
    second = tmp_path / "b.jsonl"
    second.write_text("".join(json.dumps({"id": f"x{i}", "messages": [{"role": "user", "content": f"Q{i}"}]}) + "\n"
                              for i in (2, 3, 3, 4)))  # fmt: skip
    report = _import(sqlite_engine, str(second), "d", tmp_path / "b")
    assert (report.items, report.skipped, report.skipped_ids) == (2, 2, ["x2", "x3"])
    assert [(r[0], r[2], r[3][0]["text"]) for r in _items(sqlite_engine, "d")] == [
        ("x1", 0, "q1"), ("x2", 1, "q2"), ("x3", 2, "Q3"), ("x4", 3, "Q4")
    ]  # fmt: skip


def test_a_parse_error_in_the_child_is_the_same_error_and_nothing_is_written(
    engine: Engine, tmp_path: Path, children: list
) -> None:
    bad = tmp_path / "bad.jsonl"
    good = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    bad.write_text(
        good + "\n" + good + "\n" + json.dumps({"messages": [{"role": "narrator", "content": "x"}]}) + "\n"
    )
    with pytest.raises(FormatError) as by_child:
        _import(engine, str(bad), "d", tmp_path / "b")
    assert len(children) == 1
    with Session(engine) as s:
        assert s.execute(select(Dataset)).all() == [] and s.execute(select(Item)).all() == []
    importer.PARSER_PROCESS_MIN_BYTES = 1 << 62  # restored by the fixture's monkeypatch
    with pytest.raises(FormatError) as in_process:
        _import(engine, str(bad), "d", tmp_path / "b")
    assert str(by_child.value) == str(in_process.value)
    assert str(by_child.value).startswith(
        "bad.jsonl, line 3, field messages[0].role: unknown role 'narrator'"
    )
    assert (by_child.value.file, by_child.value.record, by_child.value.field) == (
        "bad.jsonl",
        "line 3",
        "messages[0].role",
    )


def test_deeply_nested_json_in_the_child_is_refused_by_name(
    sqlite_engine: Engine, tmp_path: Path, children: list
) -> None:
    deep = tmp_path / "deep.jsonl"
    deep.write_text('{"messages": [{"role": "user", "content": "hi"}]}\n' + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(FormatError, match="deep.jsonl, line 2: JSON nested too deep"):
        _import(sqlite_engine, str(deep), "d", tmp_path / "b")


def _big(path: Path, n: int) -> None:
    with path.open("w") as out:
        for i in range(n):
            msgs = [{"role": "user" if t % 2 == 0 else "assistant", "content": f"turn {t} of {i} " + "x" * 200}
                    for t in range(6)]  # fmt: skip
            out.write(json.dumps({"id": f"d{i}", "messages": msgs}) + "\n")


def test_progress_counts_the_bytes_the_child_read(
    sqlite_engine: Engine, tmp_path: Path, children: list
) -> None:
    big = tmp_path / "big.jsonl"
    _big(big, 20_000)
    seen: list[ImportProgress] = []
    report = _import(sqlite_engine, str(big), "d", tmp_path / "b", progress=seen.append)
    size = big.stat().st_size
    # bytes read include the reader's look at the head of the file (format detection)
    assert report.items == 20_000 and size <= report.bytes < size + 4 * 2**20
    assert seen[-1].items == 20_000 and seen[-1].bytes_done == report.bytes
    assert any(0 < p.bytes_done < size for p in seen[:-1])


def test_a_child_killed_mid_import_fails_the_import_and_nothing_is_written(
    engine: Engine, tmp_path: Path, children: list
) -> None:
    big = tmp_path / "big.jsonl"
    _big(big, 30_000)

    def kill_child(_p: ImportProgress) -> None:
        if children[0].proc.poll() is None:
            os.kill(children[0].proc.pid, signal.SIGKILL)

    with pytest.raises(RuntimeError, match="parser process ended unexpectedly"):
        _import(engine, str(big), "d", tmp_path / "b", progress=kill_child)
    with Session(engine) as s:
        assert s.execute(select(Dataset)).all() == [] and s.execute(select(Item)).all() == []
        assert s.execute(select(ImportJob)).all() == []
    # importing again afterwards works
    report = _import(engine, str(big), "d", tmp_path / "b")
    assert report.items == 30_000


def test_an_error_while_writing_stops_the_child(
    sqlite_engine: Engine, tmp_path: Path, children: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    big = tmp_path / "big.jsonl"
    _big(big, 20_000)

    def failing_flush(*_a: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(importer, "_flush", failing_flush)
    with pytest.raises(OSError, match="disk full"):
        _import(sqlite_engine, str(big), "d", tmp_path / "b")
    assert children[0].proc.returncode is not None  # ended (not left running)
    with Session(sqlite_engine) as s:
        assert s.execute(select(Item)).all() == []


def _serve(body: bytes, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    import http.server
    import threading

    class Handler(http.server.BaseHTTPRequestHandler):
        hits: list[str] = []

        def do_GET(self) -> None:  # noqa: N802
            Handler.hits.append(self.path)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:  # type: ignore[no-untyped-def]
            pass

    monkeypatch.setenv("PARLEY_ALLOW_PRIVATE_URLS", "1")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, Handler.hits


def test_a_url_previewed_then_imported_is_read_by_the_child_from_the_kept_download(
    sqlite_engine: Engine, tmp_path: Path, children: list, monkeypatch: pytest.MonkeyPatch
) -> None:
    from store import sources
    from store.importer import preview_source

    big = tmp_path / "big.jsonl"
    _big(big, 3_000)
    server, hits = _serve(big.read_bytes(), monkeypatch)
    url = f"http://127.0.0.1:{server.server_address[1]}/chats.jsonl"
    try:
        assert preview_source(url).count == 3_000
        report = _import(sqlite_engine, url, "d", tmp_path / "b")
    finally:
        server.shutdown()
        sources.forget_fetched()
    assert hits == ["/chats.jsonl"]  # downloaded once, for the preview; the child read the kept file
    assert len(children) == 1 and isinstance(children[0].job_source, sources.OpenedFile)
    assert report.items == 3_000 and report.data_files == ["chats.jsonl"]
    monkeypatch.setattr(importer, "PARSER_PROCESS_MIN_BYTES", 1 << 62)
    _import(sqlite_engine, str(big), "local", tmp_path / "b")
    assert _items(sqlite_engine, "d") == _items(sqlite_engine, "local")


def test_an_s3_object_is_read_by_the_child(sqlite_engine: Engine, tmp_path: Path, children: list, s3) -> None:  # type: ignore[no-untyped-def]
    from store import sources

    big = tmp_path / "big.jsonl"
    _big(big, 2_000)
    client = s3.client()
    client.create_bucket(Bucket="bulk")
    client.put_object(Bucket="bulk", Key="in/big.jsonl", Body=big.read_bytes())
    try:
        report = _import(sqlite_engine, "s3://bulk/in/big.jsonl", "d", tmp_path / "b")
    finally:
        sources.forget_fetched()
    assert len(children) == 1 and isinstance(children[0].job_source, sources.OpenedFile)
    assert (report.items, report.messages) == (2_000, 12_000)


def test_a_child_that_dies_mid_message_is_reported_as_ended(tmp_path: Path) -> None:
    """A child killed while writing a batch leaves half a pickle in the pipe: the same clear error as a
    child that ended between messages (CI once saw `UnpicklingError: pickle data was truncated`)."""
    import pickle
    import subprocess
    import sys

    from store.import_worker import ParserProcess

    read_fd, write_fd = os.pipe()
    message = pickle.dumps(("batch", [{"x": "y" * 5000}] * 50), protocol=pickle.HIGHEST_PROTOCOL)
    half = tmp_path / "half.pickle"
    half.write_bytes(message[: len(message) // 2])
    child = subprocess.Popen(
        [sys.executable, "-c", f"import os, sys; os.write({write_fd}, open(sys.argv[1], 'rb').read()); os._exit(9)", str(half)],
        pass_fds=(write_fd,),
    )  # fmt: skip
    os.close(write_fd)
    parser = ParserProcess.__new__(ParserProcess)
    parser.proc, parser.pipe = child, os.fdopen(read_fd, "rb")
    with pytest.raises(RuntimeError, match=r"parser process ended unexpectedly \(exit code 9\)"):
        parser._receive()
    parser.pipe.close()


def test_cli_progress_into_a_pipe_is_one_line_per_update(tmp_path: Path) -> None:
    """Not on a terminal (a log file, CI), each progress update is a line of its own, not `\\r`-joined."""
    import subprocess
    import sys

    big = tmp_path / "big.jsonl"
    _big(big, 30_000)
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path}/p.db", "PARLEY_BLOBS": str(tmp_path / "b")}
    done = subprocess.run(
        [sys.executable, "-m", "store", "import", "d", str(big)],
        capture_output=True, text=True, env=env, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stderr.splitlines() if "items/s" in line]
    assert lines, done.stderr
    assert "\r" not in done.stderr
    assert all(line.count("items/s") == 1 for line in lines), lines
    assert "30000 items" in lines[-1]
    assert "imported into d" in done.stdout
