"""Exports of the team workflow on SQLite and PostgreSQL: --status accepted, --final, and the native round trip
with review state, final answers, a fix's original and the item history (and older files still import)."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import false, true, update
from sqlmodel import Session, select

from store.annotations import save_annotation
from store.datasets import get_dataset
from store.errors import InputError
from store.export import write_export
from store.export_filters import ExportFilters
from store.importer import import_source
from store.models import Annotation, AuditEvent, Dataset, Item, User
from store.ontology import import_ontology, list_classes, list_classifications
from store.team.adjudicate import finalise
from store.team.history import item_history
from store.team.queue import next_in_queue
from store.team.review import accept, fix_and_accept, reject
from store.team.settings import configure_dataset
from tests.store.export_data import ONTOLOGY, make_item
from tests.utils import make_dataset, make_user

# Best first: alice and bob rank each item's candidates (A=0, B=1, C=2).
RANKS = {"alice": {"i0": [0, 1, 2], "i1": [1, 0, 2], "i2": [2, 1, 0]},
         "bob": {"i0": [1, 0, 2], "i1": [2, 0, 1], "i2": [2, 1, 0]}}  # fmt: skip


def _version(session: Session, item: Item, user: User) -> Annotation:
    session.expire_all()
    return session.exec(
        select(Annotation).where(
            Annotation.item_id == item.id,
            Annotation.annotator_id == user.id,
            Annotation.final == false(),
        )
    ).one()


def team_dataset(session: Session) -> dict[str, Any]:
    """Overlap 2, review all; alice and bob submit i0-i2 through their queues; the reviewer accepts alice's
    i0, rejects bob's i0, fixes alice's i1 and accepts bob's i1, and finalises i1 and i2; i3 stays untouched."""
    admin = make_user(session, "boss", role="admin")
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    rv = make_user(session, "rv", role="reviewer")
    ds = make_dataset(session, "team")
    import_ontology(session=session, user=admin, dataset_id=ds.id, data=ONTOLOGY)
    configure_dataset(session=session, user=admin, dataset_id=ds.id, overlap=2, review="all")
    session.commit()
    cls = {c.name: c.id for c in list_classes(session=session, dataset_id=ds.id)}
    q = {c.name: str(c.id) for c in list_classifications(session=session, dataset_id=ds.id)}
    items = {ext: make_item(session, ds, ext, position=i) for i, ext in enumerate(["i0", "i1", "i2", "i3"])}
    for user in (alice, bob):
        for _ in range(3):
            item = next_in_queue(session=session, user=user, dataset_id=ds.id)
            session.commit()
            work: dict[str, Any] = {"classifications": {q["ranking"]: RANKS[user.username][item.external_id]}}
            if user is alice and item.external_id == "i1":
                work["results"] = [{"class_id": cls["helpfulness"], "candidate": 0, "values": {"score": "2"}}]
            save_annotation(session=session, user=user, item_id=item.id, work=work, version=0, submit=True)
    ann = {(u.username, ext): _version(session, items[ext], u) for u in (alice, bob) for ext in ("i0", "i1")}
    accept(session=session, user=rv, annotation_id=ann["alice", "i0"].id, version=ann["alice", "i0"].version)
    reject(
        session=session, user=rv, annotation_id=ann["bob", "i0"].id, version=ann["bob", "i0"].version,
        reason="Wrong label",
    )  # fmt: skip
    fixed = {
        "validity": "valid",
        "invalid_reason": "",
        "classifications": {q["ranking"]: [2, 0, 1]},
        "results": [{"class_id": cls["helpfulness"], "candidate": 0, "values": {"score": "4"}}],
    }
    fix_and_accept(
        session=session, user=rv, annotation_id=ann["alice", "i1"].id, version=ann["alice", "i1"].version,
        work=fixed, reason="score too low",
    )  # fmt: skip
    accept(session=session, user=rv, annotation_id=ann["bob", "i1"].id, version=ann["bob", "i1"].version)
    # i1 agrees now (both [2, 0, 1]) but for alice's score; i2 agrees outright.
    finalise(
        session=session, user=rv, item_id=items["i1"].id,
        picks={f"r:{cls['helpfulness']}:c0": "alice", f"r:{cls['helpfulness']}:c0:score": "alice"},
    )  # fmt: skip
    finalise(session=session, user=rv, item_id=items["i2"].id, picks={})
    session.execute(
        update(Annotation).where(Annotation.id == ann["bob", "i1"].id).values(active_seconds=42.5)
    )
    session.commit()
    return {"dataset": ds, "items": items, "classes": cls, "questions": q, "rv": rv, "admin": admin}


def export(session: Session, dataset: Dataset, fmt: str, out: Path, **filters: Any) -> list[dict[str, Any]]:
    write_export(session=session, dataset=dataset, fmt=fmt, out=out, filters=ExportFilters(**filters))
    session.commit()
    return [json.loads(line) for line in out.read_text().splitlines()]


def pairs(records: list[dict[str, Any]]) -> set[tuple[str, str]]:
    return {(r["chosen"][-1]["content"], r["rejected"][-1]["content"]) for r in records}


def ranking_pairs(ext: str, ranking: list[int]) -> set[tuple[str, str]]:
    names = [f"reply {ext}{chr(65 + k)}" for k in ranking]
    return {(names[i], names[j]) for i in range(len(names)) for j in range(i + 1, len(names))}


def test_status_accepted_exports_accepted_work_only(session, tmp_path):
    data = team_dataset(session)
    lines = export(session, data["dataset"], "native", tmp_path / "a.jsonl", status="accepted")
    got = {(item["id"], a["annotator"], a["status"], bool(a.get("final"))) for item in lines[1:]
           for a in item.get("annotations", [])}  # fmt: skip
    # The final answers ride along in native (status accepted), marked; no submitted or rejected work.
    assert got == {("i0", "alice", "accepted", False), ("i1", "alice", "accepted", False),
                   ("i1", "bob", "accepted", False), ("i1", "rv", "accepted", True),
                   ("i2", "rv", "accepted", True)}  # fmt: skip
    rows = export(session, data["dataset"], "dpo", tmp_path / "a.dpo.jsonl", status="accepted")
    assert pairs(rows) == ranking_pairs("i0", [0, 1, 2]) | ranking_pairs("i1", [2, 0, 1])


def test_default_status_includes_accepted_but_not_rejected_or_final(session, tmp_path):
    data = team_dataset(session)
    rows = export(session, data["dataset"], "dpo", tmp_path / "s.dpo.jsonl")
    expected = (
        ranking_pairs("i0", [0, 1, 2])  # alice, accepted (bob's was rejected)
        | ranking_pairs("i1", [2, 0, 1])  # alice's fix and bob
        | ranking_pairs("i2", [2, 1, 0])  # both, submitted
    )
    assert pairs(rows) == expected and len(rows) == 3 + 6 + 6  # no final answers among them
    everything = export(session, data["dataset"], "native", tmp_path / "all.jsonl", status="all")
    statuses = sorted(a["status"] for item in everything[1:] for a in item.get("annotations", []))
    assert statuses.count("rejected") == 1 and statuses.count("accepted") == 5


def test_final_dpo_holds_exactly_the_final_pairs(session, tmp_path):
    data = team_dataset(session)
    rows = export(session, data["dataset"], "dpo", tmp_path / "f.dpo.jsonl", final=True)
    assert pairs(rows) == ranking_pairs("i1", [2, 0, 1]) | ranking_pairs("i2", [2, 1, 0])
    assert len(rows) == 6
    manifest = json.loads((tmp_path / "f.dpo.jsonl.manifest.json").read_text())
    assert manifest["filters"]["final"] is True and manifest["annotators"] == ["rv"]
    table = tmp_path / "f.csv"
    write_export(
        session=session, dataset=data["dataset"], fmt="csv", out=table, filters=ExportFilters(final=True)
    )
    assert "rv" in table.read_text() and "alice" not in table.read_text()
    natives = export(session, data["dataset"], "native", tmp_path / "f.jsonl", final=True)
    assert [(i["id"], [a["annotator"] for a in i.get("annotations", [])]) for i in natives[1:]] == [
        ("i0", []),
        ("i1", ["rv"]),
        ("i2", ["rv"]),
        ("i3", []),
    ]


def test_final_export_without_final_answers_says_so(session, tmp_path):
    make_user(session, "boss", role="admin")
    ds = make_dataset(session, "empty")
    import_ontology(session=session, user=None, dataset_id=ds.id, data=ONTOLOGY)
    make_item(session, ds, "x")
    with pytest.raises(InputError, match="final answer"):
        write_export(
            session=session,
            dataset=ds,
            fmt="dpo",
            out=tmp_path / "x.jsonl",
            filters=ExportFilters(final=True),
        )
    assert not (tmp_path / "x.jsonl").exists()


def _data(path: Path) -> bytes:
    with zipfile.ZipFile(path) as zf:
        return zf.read(next(n for n in zf.namelist() if n.endswith(".native.jsonl")))


def test_native_round_trip_with_review_final_original_and_history(engine, session, tmp_path):
    data = team_dataset(session)
    first = tmp_path / "first.zip"
    write_export(
        session=session, dataset=data["dataset"], fmt="native", out=first, filters=ExportFilters(status="all")
    )
    session.commit()
    lines = [json.loads(line) for line in _data(first).splitlines()]
    by_id = {item["id"]: item for item in lines[1:]}
    i0 = {a["annotator"]: a for a in by_id["i0"]["annotations"]}
    assert i0["bob"]["status"] == "rejected"
    assert i0["bob"]["review"]["by"] == "rv" and i0["bob"]["review"]["reason"] == "Wrong label"
    assert i0["bob"]["review"]["rounds"] == 1 and i0["alice"]["review"]["by"] == "rv"
    i1 = by_id["i1"]["annotations"]
    assert [(a["annotator"], a.get("final", False)) for a in i1] == [
        ("alice", False),
        ("bob", False),
        ("rv", True),
    ]
    assert i1[0]["original"]["results"] == [
        {"class": "helpfulness", "candidate": 0, "values": {"score": "2"}}
    ]
    assert i1[0]["original"]["classifications"] == {"ranking": [1, 0, 2]}
    assert i1[0]["results"][0]["values"] == {"score": "4"} and i1[0]["review"]["reason"] == "score too low"
    assert i1[1]["seconds"] == 42.5 and "seconds" not in i1[0]
    assert i1[2]["classifications"] == {"ranking": [2, 0, 1]} and i1[2]["results"][0]["values"] == {
        "score": "4"
    }
    assert by_id["i2"]["annotations"][0].get("needs_review") is True
    actions = [e["action"] for e in by_id["i1"]["history"]]
    assert actions == [
        "lease.taken",
        "submitted",
        "lease.taken",
        "submitted",
        "fixed",
        "accepted",
        "finalised",
    ]
    fix = by_id["i1"]["history"][4]
    assert fix["by"] == "rv" and fix["annotator"] == "alice" and fix["reason"] == "score too low"
    assert fix["before"]["classifications"] == {"ranking": [1, 0, 2]}
    assert fix["after"]["results"] == [{"class": "helpfulness", "candidate": 0, "values": {"score": "4"}}]
    assert "history" not in by_id["i3"]

    report = import_source(user=None, dataset_name="copy", source=str(first), engine=engine, create=True)
    assert report.items == 4 and report.annotations == 8
    session.expire_all()
    copy = get_dataset(session=session, name="copy")
    second = tmp_path / "second.zip"
    write_export(session=session, dataset=copy, fmt="native", out=second, filters=ExportFilters(status="all"))
    assert _data(second) == _data(first)

    # The copy's history is its own rows now, with the original times and authors.
    item = session.exec(select(Item).where(Item.dataset_id == copy.id, Item.external_id == "i1")).one()
    entries = item_history(session=session, user=data["admin"], item_id=item.id)
    assert [e.action for e in entries] == actions and entries[4].by == "rv"
    linked = session.exec(select(AuditEvent.annotation_id).where(AuditEvent.item_id == item.id)).all()
    assert sum(1 for a in linked if a is not None) == 5  # the submits, the fix, the accept, the final
    assert item.taken == 2 and item.full is True


def test_missing_reviewer_is_created_inactive(engine, session, tmp_path):
    data = team_dataset(session)
    first = tmp_path / "first.jsonl"
    write_export(session=session, dataset=data["dataset"], fmt="native", out=first, filters=ExportFilters())
    session.commit()
    text = first.read_text().replace('"rv"', '"rv2"')
    (tmp_path / "renamed.jsonl").write_text(text)
    import_source(
        user=None, dataset_name="copy", source=str(tmp_path / "renamed.jsonl"), engine=engine, create=True
    )
    session.expire_all()
    rv2 = session.exec(select(User).where(User.username == "rv2")).one()
    assert rv2.active is False and rv2.role == "reviewer" and rv2.password_hash == ""
    copy = get_dataset(session=session, name="copy")
    finals = session.exec(
        select(Annotation).where(Annotation.dataset_id == copy.id, Annotation.final == true())
    ).all()
    assert len(finals) == 2 and {f.annotator_id for f in finals} == {rv2.id}
    reviewed = session.exec(
        select(Annotation).where(
            Annotation.dataset_id == copy.id, Annotation.status == "accepted", Annotation.final == false()
        )
    ).all()
    assert reviewed and all(a.reviewer_id == rv2.id for a in reviewed)


OLD_FILE = [
    {"parley": {"version": 1, "ontology": ONTOLOGY}},
    {"id": "o1", "messages": [{"role": "user", "content": "hi"}], "responses": ["a", "b"],
     "annotations": [{"annotator": "olduser", "status": "submitted", "validity": "valid",
                      "results": [{"class": "helpfulness", "candidate": 1, "values": {"score": "3"}}],
                      "classifications": {"ranking": [1, 0]}, "updated_at": "2025-01-02T03:04:05.000000Z"}]},
]  # fmt: skip


def test_older_native_files_still_import(engine, session, tmp_path):
    path = tmp_path / "old.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in OLD_FILE) + "\n")
    report = import_source(user=None, dataset_name="old", source=str(path), engine=engine, create=True)
    assert report.items == 1 and report.annotations == 1
    session.expire_all()
    ds = get_dataset(session=session, name="old")
    (ann,) = session.exec(select(Annotation).where(Annotation.dataset_id == ds.id)).all()
    assert ann.status == "submitted" and ann.final is False and ann.reviewer_id is None
    assert ann.review_rounds == 0 and ann.needs_review is False and ann.active_seconds == 0
    item = session.exec(select(Item).where(Item.dataset_id == ds.id)).one()
    assert item.taken == 1 and item.full is True  # overlap 1 (the default)
    out = tmp_path / "again.jsonl"
    write_export(session=session, dataset=ds, fmt="native", out=out, filters=ExportFilters())
    again = [json.loads(line) for line in out.read_text().splitlines()]
    (exported,) = again[1]["annotations"]
    assert "review" not in exported and "final" not in exported and "history" not in again[1]
    assert exported["results"] == OLD_FILE[1]["annotations"][0]["results"]
