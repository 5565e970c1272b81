"""Models in the loop (#16) on both databases, against the fake OpenAI-compatible server in its own process:
the registry, generate (answers, re-run skips, retries, per-item errors, cancel and resume), judge answers
checked against the ontology and kept as suggestions (and read by the report), drafts that stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from core.llm.chat import RetryPolicy
from store.db import write_session
from store.errors import Forbidden, InputError
from store.llm import runner
from store.llm.draft import draft_reply
from store.llm.endpoints import add_model, describe, list_models, remove_model
from store.llm.jobs import cancel_job, resume_job, start_job
from store.llm.runner import run_job
from store.models import Annotation, Asset, GenerationJob, Item, Suggestion, User
from store.ontology import import_ontology, list_classifications
from store.report import ReportFilters, report_data
from tests.fake_openai import FakeServer
from tests.utils import found, make_dataset

POLICY = RetryPolicy(attempts=3, backoff=0.01, timeout=0.6)


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeServer]:
    with FakeServer() as server:
        yield server


@pytest.fixture(scope="module")
def slow_fake() -> Iterator[FakeServer]:
    with FakeServer(delay=0.05) as server:
        yield server


def _user(session: Session, name: str, role: str = "annotator") -> User:
    """A user row (no password: these tests never sign in, and hashing one costs ~0.3 s)."""
    user = User(username=name, role=role)
    session.add(user)
    session.commit()
    return user


def _setup(session: Session, prompts: list[str], *, candidates: dict[int, list[dict]] | None = None) -> tuple:
    boss = _user(session, "boss", "admin")
    ds = make_dataset(session, "pilot")
    for i, prompt in enumerate(prompts):
        session.add(Item(dataset_id=ds.id, external_id=f"p{i + 1}", position=i,
                         messages=[{"role": "user", "text": prompt}], candidates=(candidates or {}).get(i, [])))  # fmt: skip
    session.commit()
    return boss, ds


def _model(
    session: Session, boss: Any, name: str, server: FakeServer, model_id: str | None = None, **kw: Any
) -> None:
    add_model(session=session, user=boss, name=name, base_url=server.url, model=model_id or name, **kw)
    session.commit()


def _run(session: Session, engine: Engine, boss: Any, ds: Any, models: list[str], **kw: Any) -> GenerationJob:
    job = start_job(
        session=session, user=boss, dataset_id=ds.id, kind=kw.pop("kind", "generate"), models=models, **kw
    )
    session.commit()
    return run_job(engine=engine, job_id=job.id, policy=POLICY)


def _candidates(session: Session, ds: Any) -> dict[str, list[dict]]:
    session.expire_all()
    rows = session.exec(select(Item).where(Item.dataset_id == ds.id).order_by(Item.position)).all()
    return {r.external_id: r.candidates or [] for r in rows}


def test_models_registry(session: Session, fake: FakeServer) -> None:
    boss, ann = _user(session, "boss", "admin"), _user(session, "ann")
    _model(session, boss, "gpt-x", fake, "alpha", api_key_env="GPT_KEY", temperature=0.2, concurrency=2)
    with pytest.raises(Forbidden):
        add_model(session=session, user=ann, name="other", base_url=fake.url, model="m")
    with pytest.raises(InputError, match="exists already"):
        add_model(session=session, user=boss, name="gpt-x", base_url=fake.url, model="m")
    with pytest.raises(InputError, match="NAME of an environment variable"):
        add_model(
            session=session, user=boss, name="k", base_url=fake.url, model="m", api_key_env="sk-live-abc123"
        )
    with pytest.raises(InputError, match="http"):
        add_model(session=session, user=boss, name="k", base_url="file:///etc/passwd", model="m")
    # Loopback and private addresses are fine: local servers are the usual case.
    add_model(session=session, user=boss, name="lan", base_url="http://10.0.0.7:8000/v1", model="m")
    session.commit()
    assert [m.name for m in list_models(session=session)] == ["gpt-x", "lan"]
    shown = describe(list_models(session=session)[0])
    assert shown["api_key_env"] == "GPT_KEY" and shown["concurrency"] == 2 and shown["temperature"] == 0.2
    ds = make_dataset(session, "pilot")
    with pytest.raises(Forbidden):  # only admins start jobs
        start_job(session=session, user=ann, dataset_id=ds.id, kind="generate", models=["gpt-x"])
    remove_model(session=session, user=boss, name="lan")
    session.commit()
    assert [m.name for m in list_models(session=session)] == ["gpt-x"]


def test_generate_fills_candidates_and_a_rerun_skips(
    engine: Engine, session: Session, fake: FakeServer
) -> None:
    boss, ds = _setup(session, ["What is 2+2?", "Name a colour.", "Hi"],
                      candidates={0: [{"text": "4", "model": "m1"}]})  # fmt: skip
    _model(session, boss, "m1", fake, "alpha")
    _model(session, boss, "m2", fake, "beta")
    seen = len(fake.log())
    job = _run(session, engine, boss, ds, ["m1", "m2"])
    assert (job.status, job.total, job.done, job.skipped, job.failed) == ("done", 6, 5, 1, 0)
    assert job.tokens > 0 and job.errors == []
    got = _candidates(session, ds)
    assert got["p1"] == [
        {"text": "4", "model": "m1"},
        {"text": "Reply from beta: What is 2+2?", "model": "m2"},
    ]
    assert sorted(c["model"] for c in got["p2"]) == ["m1", "m2"]
    assert {c["text"] for c in got["p3"]} == {"Reply from alpha: Hi", "Reply from beta: Hi"}
    item = session.exec(select(Item).where(Item.external_id == "p2")).one()
    assert found(session, ds.id, '"reply from alpha name a colour"') == [
        item.id
    ]  # the new replies are searchable
    assert len(fake.log()) - seen == 5

    again = _run(session, engine, boss, ds, ["m1", "m2"])
    assert (again.status, again.done, again.skipped) == ("done", 0, 6)
    assert len(fake.log()) - seen == 5, "a re-run sends nothing for items that have their replies"
    assert _candidates(session, ds) == got


def test_retries_and_per_item_errors(engine: Engine, session: Session, fake: FakeServer) -> None:
    prompts = ["rate limited [fault:429x1:0.3]", "broken [fault:500]", "garbled once [fault:malformedx1]",
               "dropped once [fault:dropx1]", "slow once [fault:slowx1:1.5]", "fine"]  # fmt: skip
    boss, ds = _setup(session, [f"{p} ({session.bind.dialect.name})" for p in prompts])
    _model(session, boss, "m1", fake, "alpha", concurrency=3)
    job = _run(session, engine, boss, ds, ["m1"])
    assert (job.status, job.done, job.failed) == ("done", 5, 1)
    assert job.errors == [
        {"item": "p2", "model": "m1", "message": "HTTP 500: The server had an error (after 3 attempts)"}
    ]
    got = _candidates(session, ds)
    assert got["p2"] == [] and all(len(got[f"p{i}"]) == 1 for i in (1, 3, 4, 5, 6))
    times = [
        e["at"]
        for e in fake.log()
        if e["prompt"].startswith("rate limited") and session.bind.dialect.name in e["prompt"]
    ]
    assert len(times) == 2 and times[1] - times[0] >= 0.3, "the retry waited what Retry-After asked"
    assert (
        sum(
            1
            for e in fake.log()
            if e["prompt"].startswith("broken") and session.bind.dialect.name in e["prompt"]
        )
        == 3
    )


def test_cancel_then_resume_answers_each_item_once(
    engine: Engine, session: Session, slow_fake: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "FLUSH_SECONDS", 0.1)
    boss, ds = _setup(session, [f"question {i}" for i in range(16)])
    _model(session, boss, "m1", slow_fake, "alpha", concurrency=1)
    early = start_job(session=session, user=boss, dataset_id=ds.id, kind="generate", models=["m1"])
    session.commit()
    with write_session(engine) as s:  # cancelled before any runner began: it never starts
        cancel_job(session=s, user=boss, job_id=early.id)
    assert (run_job(engine=engine, job_id=early.id, policy=POLICY).status, early.done) == ("cancelled", 0)
    job = start_job(session=session, user=boss, dataset_id=ds.id, kind="generate", models=["m1"])
    session.commit()

    def cancel_midway(now: GenerationJob) -> None:
        if now.done >= 2 and now.status == "running":
            with write_session(engine) as s:
                cancel_job(session=s, user=boss, job_id=job.id)

    ended = run_job(engine=engine, job_id=job.id, policy=POLICY, progress=cancel_midway)
    assert ended.status == "cancelled" and 2 <= ended.done < 16
    resume_job(session=session, user=boss, job_id=job.id)
    session.commit()
    with pytest.raises(InputError, match="already running"), write_session(engine) as other:
        start_job(session=other, user=boss, dataset_id=ds.id, kind="generate", models=["m1"])
    finished = run_job(engine=engine, job_id=job.id, policy=POLICY)
    assert (finished.status, finished.done, finished.skipped, finished.failed) == ("done", 16, 0, 0)
    assert all(len(c) == 1 for c in _candidates(session, ds).values()), "no item answered twice"


JUDGE_ONTOLOGY = {
    "classes": [{"name": "quality", "tool": "dialog_evaluation", "targets": ["bot"],
                 "attributes": [{"name": "score", "type": "radio", "options": ["1", "2", "3", "4", "5"]}]}],
    "classifications": [{"name": "preference", "type": "pairwise", "required": True},
                        {"name": "topic", "type": "radio", "options": ["code", "chat"]}],
}  # fmt: skip
GOOD = {"classifications": {"preference": {"chosen": 0, "rejected": 1, "strength": 2}, "topic": "code"},
        "results": [{"class": "quality", "candidate": 0, "values": {"score": "5"}}]}  # fmt: skip


def test_judge_answers_become_suggestions_and_bad_answers_errors(
    engine: Engine, session: Session, fake: FakeServer
) -> None:
    two = [{"text": "Use a dict.", "model": "model-xx"}, {"text": "No idea.", "model": "model-yy"}]
    where = session.bind.dialect.name  # the server remembers prompts: each database asks its own
    boss, ds = _setup(
        session, [f"Count words ({where})", f"Count lines ({where})"], candidates={0: two, 1: two}
    )
    import_ontology(session=session, user=boss, dataset_id=ds.id, data=JUDGE_ONTOLOGY)
    session.commit()
    _model(session, boss, "judge-a", fake, "judge=" + json.dumps(GOOD))
    _model(session, boss, "judge-b", fake, "judge-once-bad=" + json.dumps(GOOD))  # retried once, then fits
    bad = {"classifications": {"preference": {"chosen": 0, "rejected": 7, "strength": 2}}}
    _model(session, boss, "judge-c", fake, "judge=" + json.dumps(bad))

    seen = len(fake.log())
    for name in ("judge-a", "judge-b"):
        job = _run(session, engine, boss, ds, [name], kind="judge")
        assert (job.status, job.done, job.failed) == ("done", 2, 0), job.errors
    job = _run(session, engine, boss, ds, ["judge-c"], kind="judge", items=["p1"])
    assert (job.done, job.failed) == (0, 1)
    assert "does not fit the ontology" in job.errors[0]["message"] and "candidate" in job.errors[0]["message"]
    prompts = [e for e in fake.log()[seen:] if e["model"].startswith("judge-once-bad")]
    assert len(prompts) == 4 and sum("That answer is not valid" in e["prompt"] for e in prompts) == 2
    firsts = [e["prompt"] for e in prompts if "That answer" not in e["prompt"]]
    assert all("model-xx" not in p and "Use a dict." in p for p in firsts), "judged blind"

    rows = session.exec(select(Suggestion).order_by(Suggestion.id)).all()
    mine = sorted(
        (r.kind, r.target, json.dumps(r.value, sort_keys=True)) for r in rows if r.agent == "judge-a"
    )
    assert mine == sorted([
        ("preference", None, json.dumps({"chosen": 0, "rejected": 1, "strength": 2}, sort_keys=True)),
        ("topic", None, '"code"'), ("quality", "c0", '{"score": "5"}'),
    ] * 2)  # fmt: skip
    assert not any(r.agent == "judge-c" for r in rows)
    assert session.exec(select(func.count()).select_from(Annotation)).one() == 0, "never human results"
    # A re-run of a judge leaves judged items alone.
    assert _run(session, engine, boss, ds, ["judge-a"], kind="judge").skipped == 2

    # The report compares the judge with the humans where both answered.
    ann = _user(session, "ann")
    q = {c.name: str(c.id) for c in list_classifications(session=session, dataset_id=ds.id)}
    for item in session.exec(select(Item).where(Item.dataset_id == ds.id)).all():
        session.add(Annotation(item_id=item.id, dataset_id=ds.id, annotator_id=ann.id, status="submitted",
                               classifications={q["preference"]: {"chosen": 0, "rejected": 1, "strength": 2},
                                                q["topic"]: "code"}))  # fmt: skip
    session.commit()
    judge = report_data(session=session, user=boss, dataset_id=ds.id, filters=ReportFilters())["models"][
        "judge"
    ]
    assert {j["judge"] for j in judge} == {"judge-a", "judge-b"}
    compared = {(j["judge"], j["criterion"]): (j["items"], j["percent"]) for j in judge if j["items"]}
    assert compared == {(name, criterion): (2, 1.0) for name in ("judge-a", "judge-b")
                        for criterion in ("preference", "topic")}  # fmt: skip


def test_draft_streams_the_reply(session: Session, fake: FakeServer) -> None:
    boss, ds = _setup(session, ["Write a haiku"])
    _model(session, boss, "m1", fake, "alpha")
    ann = _user(session, "ann")
    item = session.exec(select(Item)).one()
    pieces = list(draft_reply(session=session, user=ann, item_id=item.id, model="m1"))
    assert len(pieces) > 1 and "".join(pieces) == "Reply from alpha: Write a haiku"


def test_images_go_to_vision_models_and_names_or_replies_cannot_inject(
    engine: Engine, session: Session, fake: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import hashlib
    import io

    from PIL import Image

    from store.blobs import get_blob_store
    from store.export import write_export

    monkeypatch.setenv("PARLEY_BLOBS", str(tmp_path / "blobs"))
    png = io.BytesIO()
    Image.new("RGB", (4, 4), "red").save(png, format="PNG")
    sha = hashlib.sha256(png.getvalue()).hexdigest()
    get_blob_store().put(sha, png.getvalue())
    session.add(Asset(id=sha, mime="image/png", width=4, height=4, bytes=len(png.getvalue())))
    where = session.bind.dialect.name
    boss, ds = _setup(session, [f'<script>alert(1)</script> =1+1 ", "x": "y ({where})'])
    item = session.exec(select(Item)).one()
    item.messages = [{**item.messages[0], "images": [sha]}]
    session.add(item)
    session.commit()
    evil = '=HYPERLINK("http://x","y") </script>'
    _model(session, boss, "sees", fake, "alpha", vision=True)
    _model(session, boss, "text-only", fake, "beta")
    _model(session, boss, evil, fake, "gamma")
    seen = len(fake.log())
    assert _run(session, engine, boss, ds, ["sees", "text-only", evil]).done == 3
    images = {e["model"]: e["images"] for e in fake.log()[seen:]}
    assert images == {"alpha": 1, "beta": 0, "gamma": 0}, "only the vision model gets the image (a data URL)"

    out = tmp_path / "native.jsonl"
    write_export(session=session, dataset=ds, fmt="native", out=out)
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 2  # the header and the one item: nothing split or added
    responses = {r["model"]: r["content"] for r in records[1]["responses"]}
    assert set(responses) == {"sees", "text-only", evil}
    assert responses[evil] == f"Reply from gamma: {item.messages[0]['text']}"
