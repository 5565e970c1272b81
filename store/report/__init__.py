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
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import orjson
from sqlalchemy import Engine, Text, case, cast, func, select
from sqlmodel import Session

from core.report.agreement import agreement
from core.report.models import judge_agreement, leaderboard_of_cells, pair_table_of_cells
from store.access import visible_dataset
from store.errors import InputError
from store.export_filters import ExportFilters, item_restriction, updated_within, user_ids
from store.items import change_keys
from store.models import Annotation, Item, Suggestion, User
from store.ontology import class_to_dict, classification_to_dict, list_classes, list_classifications
from store.report.read import TextCodes, item_models, joined_numbers, joined_texts, numbers, read_columns
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
    items: str = ""  # an item filter as canonical JSON (core/filters.py ItemFilter.to_json()): its items only

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
            items=orjson.loads(self.items) if self.items else None,
        )
        filters.check()
        return filters

    def as_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "annotators": list(self.annotators),
            "since": self.since.isoformat() if self.since else None,
            "until": self.until.isoformat() if self.until else None,
            **({"items": orjson.loads(self.items)} if self.items else {}),
        }


def last_change(*, session: Session, dataset_id: int) -> tuple[Any, ...]:
    """A key that changes whenever the dataset's report could (store.items.change_keys)."""
    return change_keys(session, [dataset_id]).get(dataset_id, ())


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
    return where + updated_within(filters)


def _team(
    session: Session, dataset_id: int, overlap: int, filters: ExportFilters, names: dict[int, str]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, int]]:
    """Progress, the annotators' figures and the team's submissions per day, from one read of the dataset's
    annotations (the annotator and date filters apply; the status filter does not).

    Progress: items by how far they got (the furthest status any of their annotations reached), and the
    submissions still needed for the overlap. Annotators (their own work, never final answers):
    submissions, accepted and rejected shares, active seconds, pace."""
    when = Annotation.submitted_at
    only = item_restriction(session, dataset_id, filters)  # an item filter: progress counts its items only
    if session.get_bind().dialect.name == "postgresql":
        when = func.timezone("UTC", when)  # the day in UTC, as SQLite stores it, whatever the session's zone
    row = session.execute(
        select(
            joined_numbers(Annotation.item_id),
            joined_numbers(Annotation.annotator_id),
            joined_numbers(case((Annotation.final, 1), else_=0)),
            joined_texts(Annotation.status),
            joined_texts(func.date(when)),  # NULL (never submitted): "null"
            joined_numbers(func.coalesce(Annotation.active_seconds, 0.0)),
        ).where(
            Annotation.dataset_id == dataset_id,
            *_who_and_when(session, filters),
            *(
                [Annotation.item_id.in_(select(Item.id).where(Item.dataset_id == dataset_id, *only))]
                if only
                else []
            ),
        )
    ).one()
    item, user, final = numbers(row[0]), numbers(row[1]), numbers(row[2]).astype(bool)
    status_codes, day_codes = TextCodes(), TextCodes()
    status, day = status_codes.codes(row[3]), day_codes.codes(row[4])
    spent = numbers(row[5], np.float64)
    statuses, days = list(status_codes.index), list(day_codes.index)

    def among(*names_: str) -> np.ndarray:
        wanted = [statuses.index(n) for n in names_ if n in statuses]
        return np.isin(status, wanted)

    total = session.execute(
        select(func.count(Item.id)).where(Item.dataset_id == dataset_id, *only)
    ).scalar_one()
    items, at = np.unique(item, return_inverse=True)
    at = at.reshape(-1)
    is_final = np.bincount(at, weights=final, minlength=len(items)) > 0
    accepted = np.bincount(at, weights=among("accepted"), minlength=len(items)) > 0
    submitted = np.bincount(at, weights=among("submitted", "accepted") & ~final, minlength=len(items))
    counts = {
        "final": int(is_final.sum()),
        "accepted": int((~is_final & accepted).sum()),
        "submitted": int((~is_final & ~accepted & (submitted > 0)).sum()),
        "in progress": int((~is_final & ~accepted & (submitted == 0)).sum()),
    }
    untouched = total - len(items)
    needed = int(np.maximum(overlap - submitted, 0).sum()) + untouched * overlap
    progress = {
        "items": total,
        "overlap": overlap,
        "untouched": untouched,
        **counts,
        "submissions_needed": needed,
    }

    mine = (
        ~final
        & among("submitted", "accepted", "rejected")
        & (day != days.index("null") if "null" in days else True)
    )
    people: list[dict[str, Any]] = []
    team: Counter = Counter()
    for d, n in zip(*np.unique(day[mine], return_counts=True), strict=True):
        team[days[d]] += int(n)
    for user_id in sorted(np.unique(user[mine]).tolist(), key=lambda u: names.get(u, "")):
        theirs = mine & (user == user_id)
        n = int(theirs.sum())
        active = spent[theirs]
        seconds = float(active.sum())
        per_day = {days[d]: int(k) for d, k in zip(*np.unique(day[theirs], return_counts=True), strict=True)}
        people.append({
            "annotator": names.get(user_id, f"user {user_id}"),
            "submitted": n,
            "accepted": int((theirs & among("accepted")).sum()) / n,
            "rejected": int((theirs & among("rejected")).sum()) / n,
            "median_seconds": float(np.median(active)),
            "items_per_hour": n / (seconds / 3600) if seconds > 0 else None,
            "active_hours": seconds / 3600,
            "per_day": n / len(per_day),
            "days": dict(sorted(per_day.items())),
        })  # fmt: skip
    return progress, people, dict(sorted(team.items()))


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
    cores the report's reads overlap. An in-memory SQLite database has a single connection, and a session
    bound to the caller's connection is inside their transaction: there it all runs in order, on that
    session. (Each read sees the database as its own session finds it: a report taken during writes may
    count one more submission in one section than in another.)"""

    def __init__(self, session: Session) -> None:
        self.session = session
        bind = session.get_bind()
        self.engine = bind if isinstance(bind, Engine) else None
        memory = bind.dialect.name == "sqlite" and bind.engine.url.database in (None, "", ":memory:")
        alone = self.engine is None or memory
        self.pool = None if alone else ThreadPoolExecutor(max_workers=2, thread_name_prefix="report")

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
        team_ = beside.read(_team, dataset_id, overlap, selection, names)
        models_ = beside.read(item_models, dataset_id)
        cols = read_columns(session, dataset_id, selection, names)
        wanted = set(np.unique(cols.ann_item).tolist())
        t = tally(cols, {i: m for i, m in models_.result().items() if i in wanted}, classes, questions)
        # the criteria one after another beside the leaderboards (two at once passed 500 MB at 300k votes)
        rows_ = beside.run(lambda: [agreement(c, bootstrap=AGREEMENT_BOOTSTRAP) for c in t.criteria])
        counted = cells(t)
        by = by_answer(t, bootstrap=LEADERBOARD_BOOTSTRAP)
        board = leaderboard_of_cells(counted, bootstrap=LEADERBOARD_BOOTSTRAP)
        rows = rows_.result()
        progress, annotators, per_day = team_.result()
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
