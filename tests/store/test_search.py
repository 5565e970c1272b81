"""Full-text search (#18) on SQLite (FTS5) and PostgreSQL (tsvector): every field, Chinese, phrases,
prefixes, ranking, highlights, written replies and comments, the CLI, and migration 0004 from a database
that still has search_text."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import orjson
from sqlalchemy import insert, select
from sqlmodel import Session

from core.search import marked_html, spans
from store import search
from store.blobs import LocalBlobStore
from store.db import make_engine, upgrade, write_session
from store.import_writer import wait_checkpoints
from store.importer import import_source
from store.items import delete_dataset
from store.models import Annotation, Comment, Dataset, Item, OntologyClass, Result, User
from tests.utils import cli_env, found, make_user, store_cli

DIALOGUES = [
    {"id": "en1", "messages": [{"role": "user", "content": "How do I bake sourdough bread at home?"}],
     "responses": [{"content": "Feed the starter, then bake at 250 degrees.", "model": "m-large"},
                   {"content": "Buy bread.", "model": "m-small"}]},
    {"id": "en2", "messages": [{"role": "user", "content": "Bread bread bread: why is bread so good?"}]},
    {"id": "en3", "messages": [{"role": "user", "content": "The e-mail from Zoë reached example.com late."},
                               {"role": "assistant", "content": "Baking is a colourful hobby."}]},
    {"id": "zh1", "messages": [{"role": "user", "content": "我喜欢机器学习和深度学习。"}],
     "responses": [{"content": "机器学习很有趣", "model": "m-large"}]},
    {"id": "ja1", "messages": [{"role": "user", "content": "東京で寿司を食べたい"}]},
    {"id": "other", "messages": [{"role": "user", "content": "Nothing in common here, only learning machines."}]},
]  # fmt: skip


def _import(session: Session, tmp_path: Path, rows: list[dict] = DIALOGUES) -> tuple[int, dict[str, int]]:
    admin = make_user(session, "admin1", role="admin")
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    import_source(user=admin, dataset_name="s", source=str(path), engine=session.get_bind(), create=True,
                  blobs=LocalBlobStore(tmp_path / "blobs"))  # fmt: skip
    dataset = session.execute(select(Dataset).where(Dataset.name == "s")).scalar_one()
    ids = dict(session.execute(select(Item.external_id, Item.id).where(Item.dataset_id == dataset.id)).all())
    return dataset.id, ids  # type: ignore[return-value]


def _ext(ids: dict[str, int], hits: list[int]) -> list[str]:
    back = {v: k for k, v in ids.items()}
    return [back[h] for h in hits]


def test_search_finds_words_everywhere_ranked_with_phrases_prefixes_and_chinese(session, tmp_path):
    ds, ids = _import(session, tmp_path)
    hits = lambda q: _ext(ids, found(session, ds, q))  # noqa: E731
    assert hits("bread")[0] == "en2"  # four times in a short item ranks above once
    assert sorted(hits("bread")) == ["en1", "en2"]
    assert hits("BREAD sourdough") == ["en1"]  # every word, any case
    assert hits("starter") == ["en1"]  # a candidate's text
    assert hits("colourful") == ["en3"]  # a later message
    assert hits('"bake at 250"') == ["en1"] and hits('"250 at bake"') == []  # a phrase keeps its order
    assert hits("bak*") == ["en1", "en3"] or sorted(hits("bak*")) == ["en1", "en3"]  # bake, baking
    assert hits("bak") == []  # whole words only
    assert hits("zoë") == ["en3"] and hits("example") == ["en3"] and hits("mail") == ["en3"]
    assert hits("机器学习") == ["zh1"]  # the four characters in a row
    assert hits("深度") == ["zh1"] and hits("习和机") == []
    assert hits("寿司") == ["ja1"]
    assert hits("learning") == ["other"]
    assert hits("!!!") == [] and hits("") == [] and hits("nowhere") == []


def test_written_replies_and_comments_are_searched_too(session, tmp_path):
    ds, ids = _import(session, tmp_path)
    boss = make_user(session, "ann1", role="annotator")
    cls = OntologyClass(dataset_id=ds, name="reply", tool="dialog_response", role="bot")
    session.add(cls)
    session.flush()
    ann = Annotation(dataset_id=ds, item_id=ids["en2"], annotator_id=boss.id, status="submitted")
    session.add(ann)
    session.flush()
    session.add(Result(annotation_id=ann.id, class_id=cls.id, slot="r", text="Try a Pumpernickel loaf."))
    session.add(Comment(item_id=ids["ja1"], author_id=boss.id, text="Check the pumpernickel spelling"))
    session.flush()
    assert sorted(_ext(ids, found(session, ds, "pumpernickel"))) == ["en2", "ja1"]
    assert _ext(ids, found(session, ds, "bread"))[0] == "en2"  # found by text and reply: listed once
    assert len(found(session, ds, "bread pumpernickel")) == 0  # the words must stand in one text


def test_search_items_pages_best_first_and_highlights(session, tmp_path):
    ds, ids = _import(session, tmp_path)
    admin = make_user(session, "admin2", role="admin")
    hits, total = search.search_items(session=session, user=admin, dataset_id=ds, query="bread", limit=1)
    assert total == 2 and [h.external_id for h in hits] == ["en2"]
    rest, _ = search.search_items(
        session=session, user=admin, dataset_id=ds, query="bread", limit=5, offset=1
    )
    assert [h.external_id for h in rest] == ["en1"]
    text = "Bread, bread: sourdough BREAD and breadcrumbs"
    assert [text[a:b] for a, b in spans(text, "bread")] == ["Bread", "bread", "BREAD"]
    assert marked_html(text, "bread*").count("<mark>") == 4
    assert marked_html("我喜欢机器学习", "机器学习") == "我喜欢<mark>机器学习</mark>"
    assert marked_html("<b>bread</b>", "bread") == "&lt;b&gt;<mark>bread</mark>&lt;/b&gt;"


def test_a_phrase_is_paged_best_first_and_counted_in_every_page(session, tmp_path, monkeypatch):
    """A phrase's page and count come from one read (search.ranked_page): each page holds the next matches
    in rank order and the whole count, also past the last page and past RANKED_UP_TO (then in id order);
    the Datasets list (store.items.list_items) pages the same way."""
    from core.filters import ItemFilter
    from store.items import list_items

    rows = [
        {"id": "p1", "messages": [{"role": "user", "content": "sour bread and dough, sour bread"}]},
        {"id": "p2", "messages": [{"role": "user", "content": "a long text about one sour bread among many other things"}]},
        {"id": "p3", "messages": [{"role": "user", "content": "bread sour: the words, not the phrase"}]},
        {"id": "p4", "messages": [{"role": "user", "content": "sour bread sour bread sour bread"}]},
    ]  # fmt: skip
    ds, ids = _import(session, tmp_path, rows)
    admin = make_user(session, "admin5", role="admin")

    def page(offset: int, limit: int) -> tuple[list[str], int]:
        hits, total = search.search_items(
            session=session, user=admin, dataset_id=ds, query='"sour bread"', offset=offset, limit=limit
        )
        return [h.external_id for h in hits], total

    def listed(offset: int, limit: int) -> tuple[list[str], int]:
        flt = ItemFilter.from_dict({"search": '"sour bread"'})
        items, total = list_items(
            session=session, user=admin, dataset_id=ds, flt=flt, offset=offset, limit=limit
        )
        return [i.external_id for i in items], total

    for read in (page, listed):
        whole, total = read(0, 10)
        assert (
            total == 3 and whole[0] == "p4" and whole[-1] == "p2"
        )  # most often, shortest first; longest last
        assert read(0, 2) == (whole[:2], 3) and read(2, 2) == (whole[2:], 3)
        assert read(3, 2) == ([], 3)  # past the last page: still counted
    monkeypatch.setattr(search, "RANKED_UP_TO", 2)
    assert page(0, 10) == (["p1", "p2", "p4"], 3) == listed(0, 10)  # too many to rank: in order


def test_deleting_a_dataset_drops_its_index(session, tmp_path):
    ds, _ = _import(session, tmp_path)
    admin = make_user(session, "admin3", role="admin")
    conn = session.connection()
    assert search.has_index(conn, ds) and found(session, ds, "bread")
    delete_dataset(session=session, user=admin, dataset_id=ds)
    assert found(session, ds, "bread") == []
    if conn.dialect.name == "sqlite":
        assert not search.has_index(conn, ds)


def test_cli_search_prints_ids_best_first_and_json(tmp_path):
    env = cli_env(tmp_path, lambda session: _import(session, tmp_path))  # the import CLI is tested elsewhere
    out = store_cli(env, "search", "s", "bread", "--limit", "1")
    assert (out.returncode, out.stdout.split()) == (0, ["en2"])  # the best of two
    data = orjson.loads(store_cli(env, "search", "s", "机器学习", "--json").stdout)
    assert (
        data["total"] == 1
        and data["hits"][0]["id"] == "zh1"
        and data["hits"][0]["matches"] == ["机器学习"] * 2
    )
    bad = store_cli(env, "search", "nope", "bread")
    assert bad.returncode == 2 and "nope" in bad.stderr
    assert store_cli(env, "search", "s", "...").returncode == 2


def test_migration_0004_keeps_every_item_findable(tmp_path):
    """A database at 0003 (search_text, JSON dialogues) upgraded to 0004: every item is found by its
    words, its dialogue reads back the same, its model names and message count are filled."""
    url = f"sqlite:///{tmp_path}/old.db"
    upgrade(url, "0003_models")
    conn = sqlite3.connect(tmp_path / "old.db")
    conn.execute("INSERT INTO dataset (id, name, description, guidelines, restricted, created_at) "
                 "VALUES (1, 'old', '', '', 0, '2026-01-01')")  # fmt: skip
    rows = []
    for i, d in enumerate(DIALOGUES):
        messages = [
            {"role": "user" if m["role"] == "user" else "bot", "text": m["content"]} for m in d["messages"]
        ]
        candidates = [{"text": r["content"], "model": r["model"]} for r in d.get("responses", [])]
        text = "\n".join([m["text"] for m in messages] + [c["text"] for c in candidates]).lower()
        rows.append((1, d["id"], "", i, orjson.dumps(messages).decode(), orjson.dumps(candidates).decode(), text,
                     "{}", "2026-01-01", 0, 0))  # fmt: skip
    conn.executemany("INSERT INTO item (dataset_id, external_id, name, position, messages, candidates, search_text, "
                     "meta, created_at, taken, \"full\") VALUES (?,?,?,?,?,?,?,?,?,?,?)", rows)  # fmt: skip
    conn.commit()
    conn.close()
    upgrade(url)
    engine = make_engine(url)
    with Session(engine) as session:
        ids = dict(session.execute(select(Item.external_id, Item.id)).all())
        assert _ext(ids, found(session, 1, "sourdough")) == ["en1"]
        assert _ext(ids, found(session, 1, "机器学习")) == ["zh1"]
        for d in DIALOGUES:
            last = (d.get("responses") or d["messages"])[-1]["content"]
            assert ids[d["id"]] in found(session, 1, f'"{last}"'), last
        item = session.execute(select(Item).where(Item.external_id == "en1")).scalar_one()
        assert item.messages == [{"role": "user", "text": "How do I bake sourdough bread at home?"}]
        assert (item.models, item.message_count) == ('["m-large","m-small"]', 1)
        assert "search_text" not in Item.__table__.c
        session.execute(
            insert(Item), [{"dataset_id": 1, "external_id": "new", "messages": [], "candidates": []}]
        )


def test_a_filtered_search_is_paged_best_first_and_counted_in_every_page(session, tmp_path, monkeypatch):
    """A search with other filters (a status: on annotations; comments: on items; both) lists the
    search's own ranking less the items the filters leave out, counted on every page and past the last one;
    past RANKED_UP_TO in id order."""
    from core.filters import ItemFilter
    from store.items import list_items

    rows = [
        {"id": f"s{k}", "messages": [{"role": "user", "content": text}]}
        for k, text in enumerate([
            "sour dough, sour bread", "a long text about one sour loaf among many other things to say",
            "sour sour sour", "no match here", "sour", "sour bread and sour milk, sour"])
    ]  # fmt: skip
    ds, ids = _import(session, tmp_path, rows)
    admin = make_user(session, "admin6", role="admin")
    picked = ["s0", "s1", "s2", "s3", "s5"]  # submitted and commented; s4 is neither
    for ext in picked:
        session.add(Annotation(dataset_id=ds, item_id=ids[ext], annotator_id=admin.id, status="submitted"))
        session.add(Comment(item_id=ids[ext], author_id=admin.id, text="look"))
    session.commit()
    hits = search.search_items(session=session, user=admin, dataset_id=ds, query="sour", limit=10)[0]
    ranked = [h.external_id for h in hits]
    assert len(ranked) == 5 and "s3" not in ranked
    expected = [e for e in ranked if e in picked]  # the search's order, less s4

    for spec in ({"status": ["submitted"]}, {"comments": True}, {"status": ["submitted"], "comments": True}):
        flt = ItemFilter.from_dict({"search": "sour", **spec})

        def listed(offset: int, limit: int, flt: ItemFilter = flt) -> tuple[list[str], int]:
            items, total = list_items(session=session, user=admin, dataset_id=ds, flt=flt, offset=offset, limit=limit)  # fmt: skip
            return [i.external_id for i in items], total

        assert listed(0, 10) == (expected, 4), spec
        assert listed(0, 3) == (expected[:3], 4) and listed(3, 3) == (expected[3:], 4)
        assert listed(4, 3) == ([], 4)  # past the last page: still counted
        monkeypatch.setattr(search, "RANKED_UP_TO", 3)  # too many to rank: in order
        in_order = sorted(expected, key=ids.__getitem__)
        assert listed(0, 10) == (in_order, 4) and listed(1, 2) == (in_order[1:3], 4)
        assert listed(4, 3) == ([], 4)
        monkeypatch.setattr(search, "RANKED_UP_TO", 50_000)
        nothing = ItemFilter.from_dict({"search": "absent", **spec})
        assert list_items(session=session, user=admin, dataset_id=ds, flt=nothing) == ([], 0)


def test_a_filtered_search_guesses_many_or_few_matches_and_a_wrong_guess_changes_no_answer(
    session, tmp_path, monkeypatch
):
    """A filtered search first guesses (from a sample) whether its matches are past RANKED_UP_TO:
    ranked if not, counted in id order if so. The guess follows the filter, and either guess gives the same
    page and count (a wrong one costs a second read)."""
    from core.filters import ItemFilter
    from store.items import _likely_many

    rows = [{"id": f"w{k}", "messages": [{"role": "user", "content": "sour " * (k % 5 + 1) + f"note {k}"}]}
            for k in range(40)]  # fmt: skip
    ds, ids = _import(session, tmp_path, rows)
    admin = make_user(session, "admin7", role="admin")
    for k in range(30):  # 30 of the 40 submitted
        session.add(
            Annotation(dataset_id=ds, item_id=ids[f"w{k}"], annotator_id=admin.id, status="submitted")
        )
    session.add(Annotation(dataset_id=ds, item_id=ids["w39"], annotator_id=admin.id, status="rejected"))
    session.commit()
    found = search.matches(session=session, dataset_id=ds, query="sour")
    monkeypatch.setattr(search, "RANKED_UP_TO", 10)
    assert _likely_many(session, ds, found, ItemFilter(status=["submitted"])) is True  # ~30 > 10
    assert _likely_many(session, ds, found, ItemFilter(status=["rejected"])) is False  # ~1

    def submitted(found):  # the matches the status filter keeps, as store.items builds them
        kept = [ids[f"w{k}"] for k in range(30)]
        return select(found.c.item_id, found.c.rank).where((found.c.item_id + 0).in_(kept)).subquery()

    for up_to in (10, 50_000):
        monkeypatch.setattr(search, "RANKED_UP_TO", up_to)
        answers = {
            guess: [search.ranked_page(session, submitted(found), "sour", offset, 7, once=True, likely_many=guess)
                    for offset in (0, 7, 14, 21, 28, 35)]
            for guess in (False, True)
        }  # fmt: skip
        assert answers[False] == answers[True], up_to
        pages = answers[False]
        assert [total for _, total in pages] == [30] * 6  # on every page, and past the end
        assert pages[-1][0] == []
        listed = [i for page, _ in pages for i, _ in page]
        assert sorted(listed) == sorted(ids[f"w{k}"] for k in range(30)) and len(set(listed)) == 30
        if up_to == 10:  # too many to rank: in id order
            assert listed == sorted(listed)
        else:  # ranked: the item saying "sour" most often first
            assert [i for i, _ in pages[0][0]][:6] == [ids[f"w{k}"] for k in (4, 9, 14, 19, 24, 29)]


def test_past_ranked_up_to_a_page_is_in_the_datasets_order(session, tmp_path, monkeypatch):
    ds, ids = _import(session, tmp_path)
    admin = make_user(session, "admin4", role="admin")

    def first():
        return [
            h.external_id
            for h in search.search_items(session=session, user=admin, dataset_id=ds, query="bread")[0]
        ]

    assert first() == ["en2", "en1"]  # ranked
    monkeypatch.setattr(search, "RANKED_UP_TO", 1)
    assert first() == ["en1", "en2"]  # too many to rank: in order


def test_an_index_made_before_the_pending_size_was_set_takes_it_at_the_next_import(tmp_path):
    """FTS5's in-memory size for an import's new words (its `hashsize`): a dataset indexed with FTS5's default
    (1 MB) gets search.PENDING_BYTES when items are next imported into it, and keeps finding the old ones."""
    url = f"sqlite:///{tmp_path / 'p.db'}"
    upgrade(url)
    engine = make_engine(url)
    with Session(engine, expire_on_commit=False) as session:
        dataset_id, ids = _import(session, tmp_path)
        admin = session.execute(select(User).where(User.username == "admin1")).scalar_one()
        table = search.fts_table(dataset_id)
        config = f"SELECT v FROM {table}_config WHERE k = 'hashsize'"
        assert session.connection().exec_driver_sql(config).scalar() == search.PENDING_BYTES
        session.commit()
        wait_checkpoints()  # the import's statistics and WAL copy, written in the background
        with write_session(engine) as writing:
            writing.connection().exec_driver_sql(f"DELETE FROM {table}_config WHERE k = 'hashsize'")
        more = tmp_path / "more.jsonl"
        more.write_text(
            json.dumps({"id": "new1", "messages": [{"role": "user", "content": "sourdough again"}]}) + "\n"
        )
        session.commit()  # (a new snapshot: the import commits on its own connection)
        import_source(user=admin, dataset_name="s", source=str(more), engine=engine, blobs=LocalBlobStore(tmp_path / "blobs"))  # fmt: skip
        assert session.connection().exec_driver_sql(config).scalar() == search.PENDING_BYTES
        ids["new1"] = session.execute(select(Item.id).where(Item.external_id == "new1")).scalar_one()
        assert sorted(_ext(ids, found(session, dataset_id, "sourdough"))) == ["en1", "new1"]
