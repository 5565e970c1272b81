"""The runner of one generation job: requests run concurrently (asyncio, up to each model's concurrency),
answers are written in batches with the job's counters and heartbeat, and Cancel is read at each batch.

Idempotent: an item that already has the model's candidate (or, for a judge, the judge's suggestions) is
skipped, so a resumed job or a re-run only fills gaps. Writes go through one thread (this one): the database
sees one writer per job, whatever the concurrency.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, bindparam, delete, insert, update
from sqlmodel import Session, select

from core.aio import run_in_own_loop
from core.dialogue import dialogue_text
from core.evaluation import ClassDef, QuestionDef
from core.llm import judge as judging
from core.llm.chat import RetryPolicy, chat_messages, image_url
from store import search
from store.db import read_session, write_session
from store.errors import InputError, NotFound
from store.llm import calls
from store.llm.endpoints import get_model
from store.llm.jobs import OWNER
from store.models import Asset, GenerationJob, Item, ModelEndpoint, Suggestion, utcnow
from store.ontology import export_ontology, list_classes, list_classifications
from store.zjson import item_models

FLUSH_SECONDS = 0.5  # answers are written at least this often (and the heartbeat, the cancel check)
FLUSH_ANSWERS = 200
ITEM_BATCH = 200
MAX_ERRORS_KEPT = 1000  # per job; `failed` counts them all
GIVE_UP_IN_A_ROW = 25  # a model whose last 25 requests all failed for good stops the job


@dataclass
class _Pair:
    item_id: int
    external_id: str
    model: str
    messages: list[dict[str, Any]]
    candidates: list[dict[str, Any]]


@dataclass
class _State:
    job: GenerationJob
    endpoints: dict[str, ModelEndpoint]
    keys: dict[str, str]
    policy: RetryPolicy
    answers: list[tuple[_Pair, str, int]] = field(default_factory=list)
    failures: list[tuple[_Pair, str]] = field(default_factory=list)
    failed_pairs: set[tuple[str, str]] = field(default_factory=set)
    in_a_row: dict[str, int] = field(default_factory=dict)
    stop: str | None = None  # "cancelled" or "failed" once the job must stop
    stop_reason: str = ""
    pending: int = 0  # pairs handed to the workers and not answered yet
    judge: dict[str, Any] | None = None  # classes, questions, ontology, prompt


def _selection(session: Session, job: GenerationJob) -> list[tuple[int, str]]:
    """(item id, external id) of the job's items, in dataset order."""
    query = (
        select(Item.id, Item.external_id)
        .where(Item.dataset_id == job.dataset_id)
        .order_by(Item.position, Item.id)
    )
    rows = list(session.exec(query).all())
    if job.items is not None:
        wanted = set(job.items)
        rows = [r for r in rows if r[1] in wanted]
    if job.item_limit is not None:
        rows = rows[: job.item_limit]
    return [(int(i), str(e)) for i, e in rows]


def _judged(session: Session, item_ids: list[int], agent: str) -> set[int]:
    rows = session.exec(
        select(Suggestion.item_id)
        .where(Suggestion.item_id.in_(item_ids), Suggestion.agent == agent)
        .distinct()
    ).all()
    return {int(i) for i in rows}


def _image_loader(engine: Engine) -> Callable[[str], str | None]:
    from store.blobs import get_blob_store

    def load(asset_id: str) -> str | None:
        with read_session(engine) as session:
            asset = session.get(Asset, asset_id)
        if asset is None:
            return None
        return image_url(get_blob_store().get(asset_id), asset.mime)

    return load


def _request(state: _State, pair: _Pair, image: Callable[[str], str | None]) -> list[dict[str, Any]]:
    endpoint = state.endpoints[pair.model]
    loader = image if endpoint.vision else None
    if state.judge is None:
        return chat_messages(pair.messages, system=endpoint.system, image=loader)
    prompt = judging.judge_prompt(
        state.judge["prompt"],
        messages=pair.messages,
        candidates=pair.candidates,
        ontology=state.judge["ontology"],
    )
    out = [{"role": "system", "content": endpoint.system}] if endpoint.system else []
    return [*out, {"role": "user", "content": prompt}]


async def _judge(state: _State, client: Any, pair: _Pair, request: list[dict[str, Any]]) -> tuple[str, int]:
    """The judge's answer, checked; one more try with the problem named when it does not fit the ontology."""
    endpoint, secrets = state.endpoints[pair.model], (state.keys[pair.model],)
    j = state.judge or {}
    reply = await calls.complete(client, endpoint, request, state.policy, secrets=secrets)
    tokens = reply.tokens
    for attempt in range(2):
        try:
            work = judging.parse_answer(
                reply.text, classes=j["classes"], questions=j["questions"], messages=pair.messages,
                candidates=pair.candidates,
            )  # fmt: skip
            return _dump(judging.suggestions(work, classes=j["classes"], questions=j["questions"])), tokens
        except judging.JudgeInvalid as exc:
            if attempt == 1:
                raise calls.CallFailed(f"the judge's answer does not fit the ontology: {exc}") from None
            again = [*request, {"role": "assistant", "content": reply.text},
                     {"role": "user", "content": f"That answer is not valid: {exc}. Answer again with only the "
                                                 "JSON object."}]  # fmt: skip
            reply = await calls.complete(client, endpoint, again, state.policy, secrets=secrets)
            tokens += reply.tokens
    raise AssertionError("unreachable")


def _dump(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()


async def _worker(
    state: _State, queue: asyncio.Queue, client: Any, image: Callable[[str], str | None]
) -> None:
    while True:
        pair = await queue.get()
        try:
            if state.stop:
                return
            request = _request(state, pair, image)
            try:
                if state.judge is None:
                    reply = await calls.complete(
                        client,
                        state.endpoints[pair.model],
                        request,
                        state.policy,
                        secrets=(state.keys[pair.model],),
                    )
                    text, tokens = reply.text, reply.tokens
                else:
                    text, tokens = await _judge(state, client, pair, request)
            except calls.CallFailed as exc:
                state.failures.append((pair, str(exc)))
                state.in_a_row[pair.model] = state.in_a_row.get(pair.model, 0) + 1
                if state.in_a_row[pair.model] >= GIVE_UP_IN_A_ROW and not state.stop:
                    state.stop, state.stop_reason = (
                        "failed",
                        f"{pair.model}: {GIVE_UP_IN_A_ROW} requests in a row failed (last: {exc})",
                    )
                continue
            state.in_a_row[pair.model] = 0
            state.answers.append((pair, text, tokens))
        finally:
            if pair is not None:
                state.pending -= 1
            queue.task_done()


def _write(engine: Engine, state: _State, seconds: float) -> bool:
    """Write the answers and failures gathered so far with the job's counters and heartbeat; True when
    the job should go on (no cancel asked, still ours)."""
    answers, state.answers = state.answers, []
    failures, state.failures = state.failures, []
    job = state.job
    with write_session(engine) as session:
        if state.judge is None:
            _write_candidates(session, answers)
        else:
            _write_suggestions(session, answers)
        errors = list(job.errors or [])
        for pair, message in failures:
            state.failed_pairs.add((pair.external_id, pair.model))
            if len(errors) < MAX_ERRORS_KEPT:
                errors.append({"item": pair.external_id, "model": pair.model, "message": message})
        job.done += len(answers)
        job.failed += len(failures)
        job.tokens += sum(t for _, _, t in answers)
        job.seconds = seconds
        job.errors = errors
        result = session.execute(
            update(GenerationJob)
            .where(GenerationJob.id == job.id, GenerationJob.owner == OWNER)
            .values(
                done=job.done,
                failed=job.failed,
                tokens=job.tokens,
                seconds=seconds,
                errors=errors,
                total=job.total,
                skipped=job.skipped,
                heartbeat_at=utcnow(),
            )  # fmt: skip
        )
        cancel = session.exec(
            select(GenerationJob.cancel_requested).where(GenerationJob.id == job.id)
        ).first()
    if result.rowcount != 1:
        state.stop = state.stop or "lost"  # another process took the job over (this one was thought dead)
    elif cancel:
        state.stop = state.stop or "cancelled"
    return state.stop is None


def _write_candidates(session: Session, answers: list[tuple[_Pair, str, int]]) -> None:
    if not answers:
        return
    by_item: dict[int, list[tuple[str, str]]] = {}
    for pair, text, _ in answers:
        by_item.setdefault(pair.item_id, []).append((pair.model, text))
    # Locked while read and written (PostgreSQL; SQLite's writer lock is held already): two jobs or models
    # answering the same item never lose each other's candidate.
    rows = session.execute(
        select(Item.id, Item.dataset_id, Item.messages, Item.candidates)
        .where(Item.id.in_(sorted(by_item)))
        .order_by(Item.id)
        .with_for_update()
    ).all()
    changes = []
    texts: dict[int, list[tuple[int, str, str]]] = {}
    for item_id, dataset_id, messages, stored in rows:  # an item deleted meanwhile is simply not there
        candidates = list(stored or [])
        old = dialogue_text(messages, stored)
        have = {c.get("model") for c in candidates if isinstance(c, dict)}
        for model, text in by_item[item_id]:
            if model not in have:
                candidates.append({"text": text, "model": model})
                have.add(model)
        changes.append({"b_id": item_id, "b_candidates": candidates, "b_models": item_models(candidates)})
        texts.setdefault(dataset_id, []).append((item_id, old, dialogue_text(messages, candidates)))
    table = Item.__table__
    conn = session.connection()
    conn.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"))
        .values(candidates=bindparam("b_candidates"), models=bindparam("b_models")),
        changes,
    )
    for dataset_id, replaced in texts.items():  # the new replies are found by search
        search.ensure_index(conn, dataset_id)
        search.replace_texts(conn, dataset_id, replaced)


def _write_suggestions(session: Session, answers: list[tuple[_Pair, str, int]]) -> None:
    import orjson

    if not answers:
        return
    rows = []
    for pair, text, _ in answers:
        # A judge's earlier suggestions on the item are replaced, never doubled.
        session.execute(
            delete(Suggestion).where(Suggestion.item_id == pair.item_id, Suggestion.agent == pair.model)
        )
        rows += [
            {"item_id": pair.item_id, "kind": s["kind"], "target": s["target"], "value": s["value"], "score": None,
             "agent": pair.model, "created_at": utcnow()}
            for s in orjson.loads(text)
        ]  # fmt: skip
    if rows:
        session.execute(insert(Suggestion), rows)


def _finish(engine: Engine, state: _State) -> None:
    values: dict[str, Any] = {"heartbeat_at": utcnow()}
    if state.stop == "lost":
        return
    if state.stop in ("cancelled", "failed"):
        values["status"] = state.stop
    else:
        values["status"] = "done"
    values["finished_at"] = utcnow()
    if state.stop_reason:
        errors = list(state.job.errors or []) + [{"item": None, "model": None, "message": state.stop_reason}]
        values["errors"] = errors
    with write_session(engine) as session:
        session.execute(
            update(GenerationJob)
            .where(GenerationJob.id == state.job.id, GenerationJob.owner == OWNER)
            .values(**values)
        )


def _fail(engine: Engine, job_id: int, message: str) -> None:
    with write_session(engine) as session:
        job = session.get(GenerationJob, job_id)
        if job is not None:
            job.status, job.finished_at = "failed", utcnow()
            job.errors = [*(job.errors or []), {"item": None, "model": None, "message": message}]
            session.add(job)


def _prepare(session: Session, job: GenerationJob, state: _State) -> None:
    for name in job.models or []:
        endpoint = get_model(session=session, name=name)
        session.expunge(endpoint)
        state.endpoints[name] = endpoint
        state.keys[name] = calls.api_key(endpoint)
    if job.kind == "judge":
        classes = [ClassDef.from_obj(c) for c in list_classes(session=session, dataset_id=job.dataset_id)]
        questions = [
            QuestionDef.from_obj(q) for q in list_classifications(session=session, dataset_id=job.dataset_id)
        ]
        ontology = export_ontology(session=session, dataset_id=job.dataset_id)
        ontology.pop("guidelines", None)
        if not classes and not questions:
            raise InputError("the dataset has no ontology for the judge to answer")
        state.judge = {"classes": classes, "questions": questions, "ontology": ontology,
                       "prompt": (job.params or {}).get("prompt") or judging.DEFAULT_PROMPT}  # fmt: skip


def run_job(
    *,
    engine: Engine,
    job_id: int,
    policy: RetryPolicy | None = None,
    progress: Callable[[GenerationJob], None] | None = None,
) -> GenerationJob:
    """Run the job (owned by this process) until every selected item is answered or failed, or Cancel;
    returns the job as it ended. `progress(job)` is called after each batch written."""
    with read_session(engine) as session:
        job = session.get(GenerationJob, job_id)
        if job is None:
            raise NotFound(f"job {job_id}: not found")
        state = _State(job=job, endpoints={}, keys={}, policy=policy or calls.policy_from_env())
        try:
            _prepare(session, job, state)
        except (InputError, NotFound) as exc:
            _fail(engine, job_id, str(exc))
            raise
        selection = _selection(session, job)
    if job.cancel_requested:  # cancelled before a runner began
        state.stop = "cancelled"
        _finish(engine, state)
        with read_session(engine) as session:
            return session.get(GenerationJob, job_id)
    state.failed_pairs = {(e["item"], e["model"]) for e in job.errors or [] if e.get("item") is not None}
    run_in_own_loop(_run(engine, state, selection, progress))
    with read_session(engine) as session:
        return session.get(GenerationJob, job_id)


async def _run(
    engine: Engine,
    state: _State,
    selection: list[tuple[int, str]],
    progress: Callable[[GenerationJob], None] | None,
) -> None:
    job = state.job
    models = list(job.models or [])
    started, before, done_before = time.monotonic(), job.seconds or 0.0, job.done
    job.total = len(selection) * len(models)
    queues = {m: asyncio.Queue(maxsize=max(2, 2 * state.endpoints[m].concurrency)) for m in models}
    clients = {m: calls.async_client(state.endpoints[m], state.policy, state.keys[m]) for m in models}
    image = _image_loader(engine)
    workers = [
        asyncio.create_task(_worker(state, queues[m], clients[m], image))
        for m in models
        for _ in range(state.endpoints[m].concurrency)
    ]
    already = 0  # pairs answered before this run (by an earlier run of this job: those are in `done`)
    last_flush = time.monotonic()

    async def flush() -> None:
        nonlocal last_flush
        job.skipped = max(0, already - done_before)
        if not _write(engine, state, before + time.monotonic() - started):
            for q in queues.values():  # the workers stop at their next item
                while not q.empty():
                    q.get_nowait()
                    q.task_done()
                    state.pending -= 1
        last_flush = time.monotonic()
        if progress is not None:
            progress(job)

    async def maybe_flush() -> None:
        if time.monotonic() - last_flush > FLUSH_SECONDS or len(state.answers) >= FLUSH_ANSWERS:
            await flush()

    for start in range(0, len(selection), ITEM_BATCH):
        if state.stop:
            break
        chunk = selection[start : start + ITEM_BATCH]
        with read_session(engine) as session:
            rows = session.exec(
                select(Item.id, Item.external_id, Item.messages, Item.candidates).where(
                    Item.id.in_([i for i, _ in chunk])
                )
            ).all()
            by_id = {int(r[0]): r for r in rows}
            judged = _judged(session, list(by_id), models[0]) if state.judge is not None else set()
        for item_id, _ext in chunk:
            row = by_id.get(item_id)
            if row is None:  # deleted since the job began
                already += len(models)
                continue
            have = {c.get("model") for c in row[3] or [] if isinstance(c, dict)}
            for model in models:
                if (item_id in judged) if state.judge is not None else (model in have):
                    already += 1
                    continue
                if (str(row[1]), model) in state.failed_pairs:
                    continue
                pair = _Pair(item_id, str(row[1]), model, list(row[2] or []), list(row[3] or []))
                while not state.stop:
                    try:
                        queues[model].put_nowait(pair)
                        state.pending += 1
                        break
                    except asyncio.QueueFull:
                        await asyncio.sleep(0.005)
                        await maybe_flush()
            if state.stop:
                break
    # Every item handed out: wait for the answers, writing as they come.
    while not state.stop and state.pending > 0:
        await asyncio.sleep(0.01)
        await maybe_flush()
    for w in workers:
        w.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    for client in clients.values():
        await client.close()
    await flush()
    _finish(engine, state)
    if progress is not None:
        with read_session(engine) as session:
            progress(session.get(GenerationJob, job.id))
