"""Review: the stream of submitted annotations awaiting review, Accept, Reject with a reason (the
annotation goes back to the top of its author's queue), and Fix & accept (the author's version is kept)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import false, func, literal_column, or_, true
from sqlmodel import Session, select

from store.access import visible_dataset, visible_item
from store.annotations import bump_version, saved_work, stored_form, write_results
from store.errors import Conflict, InputError, NotFound
from store.filters import DONE
from store.models import Annotation, Item, Result, User, utcnow
from store.team import history
from store.team.history import require_reviewer

REVIEWABLE = ("submitted", "accepted", "rejected")
STREAM_PAGE = 200  # annotations the review stream lists at a time, oldest submission first


@dataclass
class ReviewRow:
    annotation_id: int
    item_id: int
    external_id: str
    item_name: str
    position: int
    annotator: str
    status: str
    validity: str
    rounds: int
    submitted_at: datetime | None


def multi_submitted(dataset_id: int) -> Any:
    """(item_id, n) of the dataset's items with two or more submitted (or accepted) annotations."""
    return (
        select(Annotation.item_id, func.count(Annotation.id).label("n"))
        .where(
            Annotation.dataset_id == dataset_id,
            Annotation.final == false(),
            Annotation.status.in_(("submitted", "accepted")),
        )  # fmt: skip
        .group_by(Annotation.item_id)
        .having(func.count(Annotation.id) >= 2)
    )


def may_disagree(dataset_id: int) -> Any:
    """A condition on Item: the item's annotators may disagree as core.adjudication compares them. Every such
    item has Item.disagree set (the filters' comparison, kept by store.filters.refresh_disagree, which differs
    wherever adjudication does and more: empty answers, key order) or, where only validity differs, an invalid
    submitted annotation (the partial invalid index). Checking every item with two submissions instead took
    minutes at 1M items."""
    invalid = select(Annotation.item_id).where(
        Annotation.dataset_id == dataset_id,
        Annotation.validity == literal_column("'invalid'"),
        Annotation.final == false(),
        Annotation.status.in_(DONE),
    )
    return or_(Item.disagree == true(), Item.id.in_(invalid))


def disagree(session: Session, item_ids: set[int]) -> set[int]:
    """Of these items, those with two or more submitted annotations whose answers differ (core.adjudication)."""
    from core.adjudication import agree

    return {i for i in item_ids if not agree(submitted_works(session, i))}


# The review stream under "Disagreements only" reads the candidates in its order WALKED at a time and checks
# their items, until it has its page.
WALKED = 1_000


def submitted_works(session: Session, item_id: int) -> dict[str, dict[str, Any]]:
    """Annotator → saved work, for the item's submitted and accepted annotations (not the final one)."""
    rows = session.exec(
        select(Annotation, User.username)
        .join(User, User.id == Annotation.annotator_id)
        .where(
            Annotation.item_id == item_id,
            Annotation.final == false(),
            Annotation.status.in_(("submitted", "accepted")),
        )
        .order_by(User.username)
    ).all()
    return {username: saved_work(session, ann) for ann, username in rows}


def _stream_where(
    session: Session, dataset_id: int, annotator: str | None, class_id: int | None, validity: str | None,
    waiting: bool,
) -> list[Any]:  # fmt: skip
    """The review stream's conditions on Annotation (review_stream's filters, but disagreements)."""
    where: list[Any] = [Annotation.dataset_id == dataset_id]
    if waiting:
        # Read in order from the partial index of the waiting annotations (migration 0010). `IS NOT 1` on SQLite:
        # it has no statistics for that index while it is empty, and given `final = 0` it walked every
        # annotation in order on (dataset, final, submitted_at) instead (0.1 -> 122 ms at 1M items, none waiting)
        sqlite = session.get_bind().dialect.name == "sqlite"
        not_final = Annotation.final.is_not(True) if sqlite else Annotation.final == false()
        where += [not_final, Annotation.needs_review == true(), Annotation.status == "submitted"]
    else:
        where += [Annotation.final == false(), Annotation.status.in_(REVIEWABLE)]
    if annotator:
        where.append(Annotation.annotator_id.in_(select(User.id).where(User.username == annotator)))
    if validity in ("valid", "invalid"):
        where.append(Annotation.validity == validity)
    if class_id is not None:
        where.append(
            select(Result.id)
            .where(Result.annotation_id == Annotation.id, Result.class_id == class_id)
            .exists()
        )
    return where


def review_count(
    *,
    session: Session,
    user: User,
    dataset_id: int,
    annotator: str | None = None,
    class_id: int | None = None,
    validity: str | None = None,
    waiting: bool = True,
) -> int:
    """How many annotations the review stream holds under these filters ("Disagreements only" aside: that
    one is checked item by item, as far as a page)."""
    require_reviewer(user)
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    where = _stream_where(session, dataset_id, annotator, class_id, validity, waiting)
    return int(session.execute(select(func.count()).select_from(Annotation).where(*where)).scalar_one())


def review_stream(
    *,
    session: Session,
    user: User,
    dataset_id: int,
    annotator: str | None = None,
    class_id: int | None = None,
    validity: str | None = None,
    disagreements: bool = False,
    waiting: bool = True,
    limit: int = STREAM_PAGE,
) -> list[ReviewRow]:
    """Annotations awaiting review (`waiting`; else every submitted, accepted or rejected one), oldest
    submission first, under the filters."""
    require_reviewer(user)
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    query = (
        select(Annotation, Item.external_id, Item.name, Item.position, User.username)
        .join(Item, Item.id == Annotation.item_id)
        .join(User, User.id == Annotation.annotator_id)
        .where(*_stream_where(session, dataset_id, annotator, class_id, validity, waiting))
        .order_by(Annotation.submitted_at, Annotation.id)
    )
    if disagreements:
        rows: list[Any] = []
        verdicts: dict[int, bool] = {}
        query = query.where(may_disagree(dataset_id))
        for start in itertools.count(0, WALKED):
            walked = session.exec(query.offset(start).limit(WALKED)).all()
            unseen = {ann.item_id for ann, *_ in walked} - verdicts.keys()
            found = disagree(session, unseen)
            verdicts.update((i, i in found) for i in unseen)
            rows += [row for row in walked if verdicts[row[0].item_id]]
            if len(rows) >= limit or len(walked) < WALKED:
                break
        rows = rows[:limit]
    else:
        rows = list(session.exec(query.limit(limit)).all())
    return [
        ReviewRow(
            annotation_id=ann.id,
            item_id=ann.item_id,
            external_id=ext,
            item_name=name,
            position=pos,
            annotator=username,
            status=ann.status,
            validity=ann.validity,
            rounds=ann.review_rounds,
            submitted_at=ann.submitted_at,
        )
        for ann, ext, name, pos, username in rows
    ]


@dataclass
class UnderReview:
    annotation: Annotation
    item: Item
    annotator: str
    work: dict[str, Any]  # what the reviewer judges: the saved state (a fix, where fixed)
    original: dict[str, Any] | None  # the author's own version, where a reviewer fixed it
    reviewer: str | None


def get_for_review(*, session: Session, user: User, annotation_id: int) -> UnderReview:
    require_reviewer(user)
    ann = session.get(Annotation, annotation_id)
    if ann is None:
        raise NotFound(f"annotation {annotation_id}: not found")
    item = visible_item(session=session, user=user, item_id=ann.item_id)
    author = session.get(User, ann.annotator_id)
    reviewer = session.get(User, ann.reviewer_id) if ann.reviewer_id else None
    return UnderReview(
        annotation=ann,
        item=item,
        annotator=author.username if author else "",
        work=saved_work(session, ann),
        original=ann.original,
        reviewer=reviewer.username if reviewer else None,
    )


def find_annotation(
    *, session: Session, user: User, dataset_id: int, external_id: str, annotator: str
) -> int:
    """The annotation id behind `/review?dataset=…&item=…&annotator=…`; NotFound otherwise."""
    require_reviewer(user)
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    found = session.exec(
        select(Annotation.id)
        .join(Item, Item.id == Annotation.item_id)
        .join(User, User.id == Annotation.annotator_id)
        .where(
            Item.dataset_id == dataset_id,
            Item.external_id == str(external_id),
            User.username == annotator,
            Annotation.final == false(),
        )
    ).first()
    if found is None:
        raise NotFound(f"no annotation by {annotator!r} on item {external_id!r}")
    return int(found)


def _judge(session: Session, user: User, annotation_id: int, version: int) -> tuple[Annotation, str]:
    require_reviewer(user)
    ann = session.get(Annotation, annotation_id)
    if ann is None or ann.final:
        raise NotFound(f"annotation {annotation_id}: not found")
    visible_item(session=session, user=user, item_id=ann.item_id)
    if ann.status not in REVIEWABLE:
        raise InputError("only submitted annotations can be reviewed")
    if ann.version != version:
        raise Conflict("This annotation changed since you opened it (its author saved again). Reload it.")
    author = session.get(User, ann.annotator_id)
    return ann, author.username if author else ""


def _set(session: Session, ann: Annotation, values: dict[str, Any]) -> int:
    return bump_version(session, ann, values, "This annotation changed at the same moment; reload it.")


def _verdict(session: Session, user: User, annotation_id: int, version: int, status: str, reason: str) -> int:
    """Accept or reject: the review state, one round more, and its history entry, in one commit."""
    ann, author = _judge(session, user, annotation_id, version)
    rounds = ann.review_rounds + 1  # (read before _set: the update refreshes `ann` in the session)
    new = _set(session, ann, {"status": status, "needs_review": False, "reviewer_id": user.id,
                              "review_reason": reason, "review_rounds": rounds, "reviewed_at": utcnow()})  # fmt: skip
    history.record(session, action=status, user_id=user.id, dataset_id=ann.dataset_id, item_id=ann.item_id,
                   annotation=ann, annotator=author, status=status, reason=reason or None, rounds=rounds)  # fmt: skip
    session.commit()
    return new


def accept(*, session: Session, user: User, annotation_id: int, version: int) -> int:
    """Accept a submitted annotation; returns its new version."""
    return _verdict(session, user, annotation_id, version, "accepted", "")


def reject(*, session: Session, user: User, annotation_id: int, version: int, reason: str) -> int:
    """Send the annotation back to its author with `reason` (required); it tops their queue."""
    reason = (reason or "").strip()
    if not reason:
        raise InputError("Give a reason: the annotator sees it on the item.")
    if len(reason) > 2000:
        raise InputError("reason: at most 2,000 characters")
    return _verdict(session, user, annotation_id, version, "rejected", reason)


def fix_and_accept(
    *, session: Session, user: User, annotation_id: int, version: int, work: dict[str, Any], reason: str = ""
) -> int:
    """The reviewer's corrected version replaces the results and is accepted; the author's own version is
    kept in `original` (the first fix keeps it; a second fix does not overwrite it)."""
    ann, author = _judge(session, user, annotation_id, version)
    rounds = ann.review_rounds + 1  # (read before _set: the update refreshes `ann` in the session)
    before = saved_work(session, ann)
    rows = write_results(session, ann, work)
    new = _set(
        session,
        ann,
        {
            "status": "accepted",
            "needs_review": False,
            "reviewer_id": user.id,
            "review_reason": reason.strip(),
            "review_rounds": rounds,
            "reviewed_at": utcnow(),
            "validity": work.get("validity", "valid"),
            "invalid_reason": work.get("invalid_reason", ""),
            "classifications": work.get("classifications") or {},
            "original": ann.original if ann.original is not None else before,
        },
    )
    history.record(
        session,
        action="fixed",
        user_id=user.id,
        dataset_id=ann.dataset_id,
        item_id=ann.item_id,
        annotation=ann,
        annotator=author,
        status="accepted",
        before=before,
        after=stored_form(work, rows),
        reason=reason.strip() or None,
    )
    session.commit()
    return new
