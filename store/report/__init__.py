"""The pilot report's figures for one dataset (issue #15): progress, agreement, model comparisons and the
annotators' pace, read in a few column-only queries and computed by core/report.

`report_data` returns plain JSON-ready data (the shape `python -m store report --format json` writes);
`last_change` is the cheap key a cache of it is kept under.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Text, case, cast, false, func, select
from sqlmodel import Session

from core.report.agreement import agreement
from core.report.models import judge_agreement, leaderboard_of_cells, pair_table_of_cells
from store.access import visible_dataset
from store.errors import InputError
from store.export import ExportFilters, user_ids
from store.models import Annotation, AuditEvent, Item, Suggestion, User
from store.ontology import class_to_dict, classification_to_dict, list_classes, list_classifications
from store.report.read import item_models, joined_numbers, numbers, read_columns
from store.report.tally import Columns, by_answer, cells, tally
from store.team.history import require_reviewer
from store.team.settings import overlap_of

STATUSES = ("submitted", "accepted", "final")  # the report's status filter (shared with Export's)
PROGRESS = ("untouched", "in progress", "submitted", "accepted", "final")
PACE_DAYS = 7  # the finish estimate follows the submissions of the last week with any
AGREEMENT_BOOTSTRAP = 1000
LEADERBOARD_BOOTSTRAP = 200


@dataclass(frozen=True)
class ReportFilters:
    """What the report covers: status submitted (accepted included) / accepted / final, annotators (usernames,
    empty: everyone), and the days the annotations last changed (inclusive). Hashable, for a cache key."""

    status: str = "submitted"
    annotators: tuple[str, ...] = field(default_factory=tuple)
    since: date | None = None
    until: date | None = None

    def export_filters(self) -> ExportFilters:
        """The same selection in Export's filter model (final answers are Export's `final`)."""
        if self.status not in STATUSES:
            raise InputError(f"status {self.status!r}: choose {', '.join(STATUSES)}")
        filters = ExportFilters(
            status="accepted" if self.status == "accepted" else "submitted",
            annotators=list(self.annotators),
            date_from=self.since,
            date_to=self.until,
            final=self.status == "final",
        )
        filters.check()
        return filters

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "annotators": list(self.annotators),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
        }


def last_change(*, session: Session, dataset_id: int) -> tuple[Any, ...]:
    """A key that changes whenever the dataset's report could: its latest history entry (every change to
    an annotation appends one: store/team/history.py), its annotation and item counts (imports and deletes).
    One statement over indexes: max(updated_at) would read every annotation row (300 ms on 300,000)."""
    latest = select(func.max(AuditEvent.id)).where(AuditEvent.dataset_id == dataset_id).scalar_subquery()
    annotations = (
        select(func.count())
        .select_from(Annotation)
        .where(Annotation.dataset_id == dataset_id)
        .scalar_subquery()
    )
    items = select(func.count()).select_from(Item).where(Item.dataset_id == dataset_id).scalar_subquery()
    return tuple(session.execute(select(latest, annotations, items)).one())


# ---------------------------------------------------------------- reading


def _ontology(session: Session, dataset_id: int) -> tuple[list[dict], list[dict]]:
    """Classes and classifications as core/report reads them (dicts with their ids; deleted ones kept, so
    answers given with them still have a name)."""
    classes = [
        {**class_to_dict(c), "id": c.id}
        for c in list_classes(session=session, dataset_id=dataset_id, include_deleted=True)
    ]
    questions = [
        {**classification_to_dict(q), "id": q.id}
        for q in list_classifications(session=session, dataset_id=dataset_id, include_deleted=True)
    ]
    return classes, questions


def _works(cols: Columns) -> dict[int, dict[str, dict]]:
    """item → {annotator: work} (core.report's input shape), for the judge's agreement only."""
    works: dict[int, dict[str, dict]] = defaultdict(dict)
    by_row = []
    for item, coder, answers in zip(
        cols.ann_item.tolist(), cols.ann_coder.tolist(), cols.ann_answers.tolist(), strict=True
    ):
        work = works[item][cols.coders[coder]] = {
            "validity": "valid",
            "classifications": cols.answers[answers],
            "results": [],
        }
        by_row.append(work)
    for row, class_id, slot, candidate, values in zip(
        cols.res_ann.tolist(),
        cols.res_class.tolist(),
        cols.res_slot.tolist(),
        cols.res_cand.tolist(),
        cols.res_values.tolist(),
        strict=True,
    ):
        name = cols.slots[slot]
        by_row[row]["results"].append({
            "class_id": class_id,
            "message": int(name[1:]) if name.startswith("m") else None,
            "candidate": None if candidate < 0 else candidate,
            "values": cols.values[values],
        })  # fmt: skip
    return works


def _judges(
    session: Session, dataset_id: int, classes: list[dict], questions: list[dict], wanted: set[int]
) -> dict[str, dict[int, dict]]:
    """agent → {item id: work} from a judge's suggestions (core/llm/judge.py writes them): item-level ones
    answer a classification (by its name, or "preference" / "ranking" for the only pairwise / ranking
    question); ones on a bubble (target "c0", "m3") are a class's attribute values (kind: the class name)."""
    qid_of = {str(q["name"]): str(q["id"]) for q in questions if not q.get("deleted")}
    for kind, key in (("pairwise", "preference"), ("ranking", "ranking")):
        of_kind = [q for q in questions if q.get("type") == kind and not q.get("deleted")]
        if len(of_kind) == 1:
            qid_of.setdefault(key, str(of_kind[0]["id"]))
    class_of = {str(c["name"]): int(c["id"]) for c in classes if not c.get("deleted")}
    if not qid_of and not class_of:
        return {}
    rows = session.connection().execute(
        select(Suggestion.item_id, Suggestion.kind, Suggestion.target, cast(Suggestion.value, Text), Suggestion.agent)
        .join(Item, Item.id == Suggestion.item_id)
        .where(Item.dataset_id == dataset_id, Suggestion.kind.in_([*qid_of, *class_of]))
    )  # fmt: skip
    out: dict[str, dict[int, dict]] = defaultdict(dict)
    for item_id, kind, target, value, agent in rows:
        if item_id not in wanted:
            continue
        work = out[agent or "judge"].setdefault(item_id, {"classifications": {}, "results": []})
        answer = orjson.loads(value) if value is not None else None
        if target is None and kind in qid_of:
            work["classifications"][qid_of[kind]] = answer
        elif (
            target
            and target[0] in "cm"
            and target[1:].isdigit()
            and kind in class_of
            and isinstance(answer, dict)
        ):
            index = int(target[1:])
            work["results"].append({
                "class_id": class_of[kind],
                "message": index if target[0] == "m" else None,
                "candidate": index if target[0] == "c" else None,
                "values": answer,
            })  # fmt: skip
    return out


# ---------------------------------------------------------------- progress and annotators


def _who_and_when(session: Session, filters: ExportFilters) -> list[Any]:
    """The annotator and date filters as conditions on annotations (the status filter is the caller's)."""
    where = []
    selected = user_ids(session, filters)
    if selected is not None:
        where.append(Annotation.annotator_id.in_(selected))
    if filters.date_from:
        where.append(Annotation.updated_at >= datetime.combine(filters.date_from, time.min, UTC))
    if filters.date_to:
        where.append(
            Annotation.updated_at < datetime.combine(filters.date_to + timedelta(days=1), time.min, UTC)
        )
    return where


def _progress(session: Session, dataset_id: int, overlap: int, filters: ExportFilters) -> dict[str, Any]:
    """Items by how far they got (the furthest status any of their annotations reached; with annotator or
    date filters, only those annotations count), the submissions still needed for the overlap, and the
    finish at the recent pace. Counted in the database: one row per state comes back."""
    done = Annotation.status.in_(("submitted", "accepted"))
    per_item = (
        select(
            func.max(case((Annotation.final, 1), else_=0)).label("final"),
            func.max(case((Annotation.status == "accepted", 1), else_=0)).label("accepted"),
            func.sum(case((done & (Annotation.final == false()), 1), else_=0)).label("submitted"),
        )
        .where(Annotation.dataset_id == dataset_id, *_who_and_when(session, filters))
        .group_by(Annotation.item_id)
        .subquery()
    )
    state = case(
        (per_item.c.final == 1, "final"),
        (per_item.c.accepted == 1, "accepted"),
        (per_item.c.submitted > 0, "submitted"),
        else_="in progress",
    )
    short = case((per_item.c.submitted < overlap, overlap - per_item.c.submitted), else_=0)
    total = session.execute(select(func.count(Item.id)).where(Item.dataset_id == dataset_id)).scalar_one()
    counts = dict.fromkeys(PROGRESS, 0)
    needed = 0  # submissions the touched items still need
    for name, n, missing in session.execute(select(state, func.count(), func.sum(short)).group_by(state)):
        counts[name] = int(n)
        needed += int(missing or 0)
    counts["untouched"] = total - sum(counts.values())
    needed += counts["untouched"] * overlap
    return {"items": total, "overlap": overlap, **counts, "submissions_needed": needed}


def _day(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(UTC)
        return value.date().isoformat()
    return str(value)[:10]  # SQLite's stored text, "YYYY-MM-DD HH:MM:SS…", always UTC


def _annotators(
    session: Session, dataset_id: int, filters: ExportFilters, names: dict[int, str]
) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Per annotator (their own work, never final answers; the annotator and date filters apply):
    submissions, accepted and rejected shares, active seconds, pace; and the team's submissions per day."""
    where = [
        Annotation.dataset_id == dataset_id,
        Annotation.final == false(),
        Annotation.submitted_at.isnot(None),
        *_who_and_when(session, filters),
    ]
    where.append(Annotation.status.in_(("submitted", "accepted", "rejected")))
    conn = session.connection()
    # counts per annotator, status and day in the database (a few rows), the active seconds as one column
    day = func.date(Annotation.submitted_at)
    grouped = conn.execute(
        select(Annotation.annotator_id, Annotation.status, day, func.count(Annotation.id))
        .where(*where)
        .group_by(Annotation.annotator_id, Annotation.status, day)
    ).all()
    statuses: dict[int, Counter] = defaultdict(Counter)
    days: dict[int, Counter] = defaultdict(Counter)
    team: Counter = Counter()
    for user_id, status, when, n in grouped:
        statuses[user_id][status] += n
        days[user_id][_day(when)] += n
        team[_day(when)] += n
    who, spent = conn.execute(
        select(
            joined_numbers(Annotation.annotator_id),
            joined_numbers(func.coalesce(Annotation.active_seconds, 0.0)),
        ).where(*where)
    ).one()
    who, spent = numbers(who), numbers(spent, np.float64)
    seconds = {u: spent[who == u] for u in np.unique(who).tolist()}
    out = []
    for user_id in sorted(statuses, key=lambda u: names.get(u, "")):
        n = sum(statuses[user_id].values())
        active = seconds.get(user_id, np.zeros(0))
        total = float(active.sum())
        out.append({
            "annotator": names.get(user_id, f"user {user_id}"),
            "submitted": n,
            "accepted": statuses[user_id]["accepted"] / n,
            "rejected": statuses[user_id]["rejected"] / n,
            "median_seconds": float(np.median(active)) if len(active) else None,
            "items_per_hour": n / (total / 3600) if total > 0 else None,
            "active_hours": total / 3600,
            "per_day": n / len(days[user_id]),
            "days": dict(sorted(days[user_id].items())),
        })  # fmt: skip
    return out, dict(sorted(team.items()))


def _finish(needed: int, per_day: dict[str, int], today: date) -> dict[str, Any]:
    """The finish at the pace of the last PACE_DAYS days that saw submissions (ending on the latest)."""
    if not per_day:
        return {"pace_per_day": None, "days_left": None, "finish": None}
    last = date.fromisoformat(max(per_day))
    start = last - timedelta(days=PACE_DAYS - 1)
    first = max(start, date.fromisoformat(min(per_day)))
    recent = sum(n for day, n in per_day.items() if date.fromisoformat(day) >= start)
    pace = recent / ((last - first).days + 1)
    if needed <= 0:
        return {"pace_per_day": pace, "days_left": 0.0, "finish": today.isoformat()}
    days_left = needed / pace
    return {
        "pace_per_day": pace,
        "days_left": days_left,
        "finish": (today + timedelta(days=math.ceil(days_left))).isoformat(),
    }


# ---------------------------------------------------------------- the report


def _clean(value: Any) -> Any:
    """JSON-ready: tuples as lists, numpy numbers as Python's, nan as None, keys as text."""
    if isinstance(value, dict):
        return {("(none)" if k is None else str(k)): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class _Beside:
    """Work done beside the main thread's: reads in their own sessions on the same engine (the database
    drivers let go of Python's lock while the database works, numpy while it sorts and counts), so on two
    cores the report's reads overlap. An in-memory SQLite database has a single connection: there it all
    runs in order, on the caller's session. (Each read sees the database as its own session finds it: a
    report taken during writes may count one more submission in one section than in another.)"""

    def __init__(self, session: Session) -> None:
        self.session = session
        self.engine = session.get_bind()
        memory = self.engine.dialect.name == "sqlite" and self.engine.url.database in (None, "", ":memory:")
        self.pool = None if memory else ThreadPoolExecutor(max_workers=2, thread_name_prefix="report")

    def __enter__(self) -> _Beside:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True, cancel_futures=True)

    def run(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Future:
        if self.pool is not None:
            return self.pool.submit(fn, *args, **kw)
        done: Future = Future()
        done.set_result(fn(*args, **kw))
        return done

    def read(self, fn: Callable[..., Any], *args: Any) -> Future:
        """fn(session, *args) in a session of its own."""
        if self.pool is None:
            return self.run(fn, self.session, *args)

        def in_session() -> Any:
            with Session(self.engine, expire_on_commit=False) as session:
                return fn(session, *args)

        return self.pool.submit(in_session)


def report_data(
    *, session: Session, user: User, dataset_id: int, filters: ReportFilters, today: date | None = None
) -> dict[str, Any]:
    """The report of one dataset (admins and reviewers who may see it): see the module docstring."""
    require_reviewer(user)
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    selection = filters.export_filters()
    today = today or datetime.now(UTC).date()
    names = dict(session.execute(select(User.id, User.username)).all())
    classes, questions = _ontology(session, dataset_id)

    with _Beside(session) as beside:
        overlap = overlap_of(session=session, dataset=dataset)
        progress_ = beside.read(_progress, dataset_id, overlap, selection)
        annotators_ = beside.read(_annotators, dataset_id, selection, names)
        models_ = beside.read(item_models, dataset_id)
        cols = read_columns(session, dataset_id, selection, names)
        wanted = set(np.unique(cols.ann_item).tolist())
        t = tally(cols, {i: m for i, m in models_.result().items() if i in wanted}, classes, questions)
        rows_ = [beside.run(agreement, c, bootstrap=AGREEMENT_BOOTSTRAP) for c in t.criteria]
        counted = cells(t)
        by = by_answer(t, bootstrap=LEADERBOARD_BOOTSTRAP)
        board = leaderboard_of_cells(counted, bootstrap=LEADERBOARD_BOOTSTRAP)
        rows = [r.result() for r in rows_]
        progress = progress_.result()
        annotators, per_day = annotators_.result()
    progress["per_day"] = per_day
    progress.update(_finish(progress["submissions_needed"], per_day, today))
    agreement_rows = [
        {"criterion": r.criterion, "key": r.key, "level": r.level, "alpha": r.alpha, "ci": r.ci,
         "items": r.items, "percent": r.percent, "tau": r.tau, "per_annotator": r.per_annotator}
        for r in rows if r.items
    ]  # fmt: skip
    _agreement_per_annotator(annotators, agreement_rows)
    judge = []
    judges = _judges(session, dataset_id, classes, questions, wanted)
    if judges:
        works = _works(cols)
        for agent, judged in sorted(judges.items()):
            for row in judge_agreement(works, judged, classes=classes, questions=questions):
                judge.append({"judge": agent, **row})
    return _clean({
        "dataset": dataset.name,
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "filters": filters.as_dict(),
        "progress": progress,
        "agreement": agreement_rows,
        "models": {
            "pairs": pair_table_of_cells(counted),
            "leaderboard": board,
            "scores": t.scores,
            "by": {name: split for name, split in by.items() if any(split.values())},
            "judge": judge,
        },
        "annotators": annotators,
    })  # fmt: skip


def _agreement_per_annotator(annotators: list[dict[str, Any]], rows: list[dict[str, Any]]) -> None:
    """Each annotator's mean agreement with the others over the criteria (leave one out: the outlier shows)."""
    for person in annotators:
        shares = [
            r["per_annotator"][person["annotator"]]["agreement"]
            for r in rows
            if person["annotator"] in r["per_annotator"]
            and r["per_annotator"][person["annotator"]]["agreement"] is not None
        ]
        person["agreement"] = statistics.fmean(shares) if shares else None
