"""Adjudication: an item's submitted answers side by side, and the final answer a reviewer builds from
them (one per item, authored by the reviewer, `final` set). Finalise agreed items does it in bulk."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import true
from sqlmodel import Session, select

from core.adjudication import Criterion, compare, compose
from store.access import visible_dataset, visible_item
from store.annotations import saved_work, stored_form, write_results
from store.errors import InputError
from store.models import Annotation, Item, OntologyClass, User, utcnow
from store.team import history
from store.team.history import require_reviewer
from store.team.review import disagree, may_disagree, multi_submitted, submitted_works


@dataclass
class Adjudication:
    item: Item
    works: dict[str, dict[str, Any]]  # annotator → submitted work
    criteria: list[Criterion]
    final: dict[str, Any] | None  # the item's final answer, if there is one
    final_by: str | None


def _final(session: Session, item_id: int) -> Annotation | None:
    return session.exec(
        select(Annotation).where(Annotation.item_id == item_id, Annotation.final == true())
    ).first()


def get_adjudication(*, session: Session, user: User, item_id: int) -> Adjudication:
    require_reviewer(user)
    item = visible_item(session=session, user=user, item_id=item_id)
    works = submitted_works(session, item.id)
    final = _final(session, item.id)
    by = session.get(User, final.annotator_id).username if final is not None else None
    return Adjudication(
        item=item,
        works=works,
        criteria=compare(works),
        final=saved_work(session, final) if final is not None else None,
        final_by=by,
    )


@dataclass
class AdjudicationRow:
    item_id: int
    external_id: str
    name: str
    annotations: int
    agree: bool
    final: bool


def items_to_adjudicate(
    *, session: Session, user: User, dataset_id: int, disagreements_only: bool = False, limit: int = 500
) -> list[AdjudicationRow]:
    """Items with two or more submitted annotations, by position, whether they agree and have a final."""
    require_reviewer(user)
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    counts = multi_submitted(dataset_id).subquery()
    finals = set(
        session.exec(
            select(Annotation.item_id).where(Annotation.dataset_id == dataset_id, Annotation.final == true())
        ).all()
    )
    # (the ids and names only: loading every such item whole decoded each dialogue, 10 s at 1M items for 500)
    query = (
        select(Item.id, Item.external_id, Item.name, counts.c.n)
        .join(counts, counts.c.item_id == Item.id)
        .order_by(Item.position, Item.id)
    )
    if disagreements_only:
        query = query.where(may_disagree(dataset_id))
    candidates = session.exec(query).all()
    rows: list[AdjudicationRow] = []
    for start in range(0, len(candidates), max(limit, 1)):  # checked a page at a time: each reads its works
        batch = candidates[start : start + limit]
        differ = disagree(session, {item_id for item_id, *_ in batch})
        for item_id, external_id, name, n in batch:
            if disagreements_only and item_id not in differ:
                continue
            rows.append(
                AdjudicationRow(
                    item_id=item_id,
                    external_id=external_id,
                    name=name,
                    annotations=int(n),
                    agree=item_id not in differ,
                    final=item_id in finals,
                )
            )
        if len(rows) >= limit:
            break
    return rows[:limit]


def _with_roles(session: Session, dataset_id: int, work: dict[str, Any]) -> dict[str, Any]:
    """A written reply answers as its class's role (compose() knows only the text)."""
    roles = dict(
        session.exec(
            select(OntologyClass.id, OntologyClass.role).where(OntologyClass.dataset_id == dataset_id)
        ).all()
    )
    for result in work["results"]:
        if result.get("message") is None and result.get("candidate") is None:
            result["role"] = result.get("role") or roles.get(result["class_id"])
    return work


def finalise(*, session: Session, user: User, item_id: int, picks: dict[str, Any]) -> Annotation:
    """Make the item's final answer from `picks` (criterion key → annotator, or {"value": own answer}; see
    core/adjudication.compose), replacing an earlier final. Needs two or more submitted annotations."""
    require_reviewer(user)
    item = visible_item(session=session, user=user, item_id=item_id)
    works = submitted_works(session, item.id)
    if len(works) < 2:
        raise InputError("adjudication needs two or more submitted annotations of the item")
    try:
        work = _with_roles(session, item.dataset_id, compose(works, picks))
    except ValueError as err:
        raise InputError(str(err)) from None
    ann = _write_final(session, user, item, work, picks=picks)
    session.commit()
    return ann


def _write_final(session: Session, user: User, item: Item, work: dict[str, Any], **detail: Any) -> Annotation:
    old = _final(session, item.id)
    before = saved_work(session, old) if old is not None else None
    if old is not None and old.annotator_id != user.id:
        session.delete(old)  # one final per item: the new adjudicator's replaces it (history keeps the old)
        session.flush()
        old = None
    now = utcnow()
    ann = old or Annotation(
        item_id=item.id,
        dataset_id=item.dataset_id,
        annotator_id=user.id,
        final=True,
        version=0,
        created_at=now,
    )
    ann.status, ann.validity, ann.invalid_reason = (
        "accepted",
        work.get("validity", "valid"),
        work.get("invalid_reason", ""),
    )
    ann.classifications, ann.reviewer_id, ann.reviewed_at = work.get("classifications") or {}, user.id, now
    ann.submitted_at, ann.updated_at, ann.version = now, now, ann.version + 1
    ann.draft, ann.draft_at, ann.needs_review = None, None, False
    session.add(ann)
    session.flush()
    rows = write_results(session, ann, work)
    history.record(
        session,
        action="finalised",
        user_id=user.id,
        dataset_id=item.dataset_id,
        item_id=item.id,
        annotation=ann,
        annotator=user.username,
        before=before,
        after=stored_form(work, rows),
        **detail,
    )
    return ann


def finalise_agreed(*, session: Session, user: User, dataset_id: int) -> int:
    """Give every item whose annotators all agree (two or more, no final yet) that shared answer as its
    final; returns how many items were finalised."""
    done = 0
    for row in items_to_adjudicate(session=session, user=user, dataset_id=dataset_id, limit=10**9):
        if not row.agree or row.final:
            continue
        works = submitted_works(session, row.item_id)
        item = session.get(Item, row.item_id)
        _write_final(
            session, user, item, _with_roles(session, item.dataset_id, compose(works, {})), bulk=True
        )
        done += 1
    session.commit()
    return done
