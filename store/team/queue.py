"""The overlap queue: which item each annotator gets next, and the leases that keep an item from being
handed to more annotators than its overlap while other items stay untouched.

An annotator *holds a slot* of an item while they have an active lease on it (opened, not yet submitted,
not skipped, not expired) or a submitted / accepted / rejected annotation of it. `Item.taken` counts the
holders and `Item.full` says taken ≥ overlap; both are recomputed from those rows (refresh_slots) in the
same transaction as every change, so the queue's scan runs on the (dataset_id, full, position) index.

An annotator's queue, in order:
  1. their annotations a reviewer rejected (sent back), by position;
  2. by position: items they hold a lease on, and items not full that they hold no slot of and have not
     skipped; the scan starts at their cursor (the position of the last item the queue handed them), so
     it does not walk over their own past work, and wraps round once;
  3. items they skipped that still need annotators.
Taking a lease locks the dataset's row (PostgreSQL; SQLite writers are serialised by BEGIN IMMEDIATE),
so concurrent requests never hand out more slots than the overlap.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import and_, exists, false, func, or_, true, union
from sqlmodel import Session, select

from store.access import visible_dataset, visible_item
from store.errors import Conflict
from store.models import Annotation, Dataset, Item, Lease, QueueCursor, User, utcnow
from store.team import history
from store.team.settings import overlap_of, team_settings

LEASE_TTL = timedelta(minutes=30)
CLAIMING = ("submitted", "accepted", "rejected")
SCAN = 64  # candidates read per query while scanning


def _limit(session: Session, dataset: Dataset) -> int | None:
    """The overlap, or None where every annotator takes every item ("all": items are never full)."""
    return None if team_settings(dataset).overlap is None else overlap_of(session=session, dataset=dataset)


def refresh_slots(session: Session, item_id: int, limit: int | None) -> int:
    """Recount the item's slot holders from the leases and annotations; returns the count."""
    now = utcnow()
    leased = select(Lease.user_id).where(
        Lease.item_id == item_id, Lease.skipped == false(), Lease.expires_at > now
    )
    annotated = select(Annotation.annotator_id).where(
        Annotation.item_id == item_id,
        Annotation.final == false(),
        Annotation.status.in_(CLAIMING),
    )
    holders = union(leased, annotated).subquery()
    taken = int(session.execute(select(func.count()).select_from(holders)).scalar_one())
    item = session.get(Item, item_id)
    if item is not None:
        item.taken = taken
        item.full = limit is not None and taken >= limit
        session.add(item)
        session.flush()
    return taken


def _lock_dataset(session: Session, dataset_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Dataset.id).where(Dataset.id == dataset_id).with_for_update())


def expire_leases(session: Session, dataset: Dataset) -> int:
    """End the leases idle for LEASE_TTL (their slots go back to the queue); returns how many."""
    now = utcnow()
    stale = session.exec(
        select(Lease, User.username)
        .join(User, User.id == Lease.user_id)
        .where(Lease.dataset_id == dataset.id, Lease.skipped == false(), Lease.expires_at <= now)
    ).all()
    if not stale:
        return 0
    limit = _limit(session, dataset)
    for lease, username in stale:
        session.delete(lease)
        session.flush()
        history.record(
            session,
            action="lease.expired",
            user_id=None,
            dataset_id=dataset.id,
            item_id=lease.item_id,
            annotator=username,
        )
        refresh_slots(session, lease.item_id, limit)
    return len(stale)


def _my_lease(session: Session, user: User, item_id: int) -> Lease | None:
    return session.exec(select(Lease).where(Lease.item_id == item_id, Lease.user_id == user.id)).first()


def holds_slot(session: Session, user: User, item_id: int) -> bool:
    lease = _my_lease(session, user, item_id)
    if lease is not None and not lease.skipped and _aware(lease.expires_at) > utcnow():
        return True
    return _claiming_annotation(session, user, item_id)


def _claiming_annotation(session: Session, user: User, item_id: int) -> bool:
    return (
        session.exec(
            select(Annotation.id).where(
                Annotation.item_id == item_id,
                Annotation.annotator_id == user.id,
                Annotation.final == false(),
                Annotation.status.in_(CLAIMING),
            )
        ).first()
        is not None
    )


def _aware(at):  # type: ignore[no-untyped-def]
    return at if at.tzinfo else at.replace(tzinfo=utcnow().tzinfo)


def claim(session: Session, user: User, item: Item, *, enforce: bool = True) -> bool:
    """Make sure `user` holds a slot of `item`: renew their lease, or take one if a slot is free.

    Returns False when the item already has its overlap of annotators (with `enforce`, annotators are
    refused then: Conflict). Admins and reviewers are never refused; their leases count like anyone's.
    """
    now = utcnow()
    lease = _my_lease(session, user, item.id)
    if lease is not None and not lease.skipped and _aware(lease.expires_at) > now:
        lease.expires_at = now + LEASE_TTL
        session.add(lease)
        return True
    if _claiming_annotation(session, user, item.id):
        return True
    _lock_dataset(session, item.dataset_id)
    dataset = session.get(Dataset, item.dataset_id)
    limit = _limit(session, dataset)
    taken = refresh_slots(session, item.id, limit)
    if limit is not None and taken >= limit and user.role == "annotator":
        if enforce:
            raise Conflict(
                f"This item already has its {limit} annotator{'s' if limit != 1 else ''}; "
                "it is not in your queue. Your work on it is kept as a draft."
            )
        return False
    if lease is None:
        lease = Lease(
            dataset_id=item.dataset_id,
            item_id=item.id,
            user_id=user.id,
            position=item.position,
            expires_at=now + LEASE_TTL,
        )
    else:
        lease.skipped, lease.taken_at, lease.expires_at = False, now, now + LEASE_TTL
    session.add(lease)
    session.flush()
    refresh_slots(session, item.id, limit)
    history.record(
        session,
        action="lease.taken",
        user_id=user.id,
        dataset_id=item.dataset_id,
        item_id=item.id,
        annotator=user.username,
    )
    return True


def release(session: Session, user: User, item: Item) -> None:
    """The annotator submitted: their lease ends (the submitted annotation holds the slot now)."""
    lease = _my_lease(session, user, item.id)
    if lease is not None:
        session.delete(lease)
        session.flush()
    dataset = session.get(Dataset, item.dataset_id)
    refresh_slots(session, item.id, _limit(session, dataset))


# ---------------------------------------------------------------------- the queue's order


def _not_mine(user: User):  # type: ignore[no-untyped-def]
    """Items `user` holds no slot of (a lease of any kind, or a claiming annotation)."""
    return and_(
        ~exists().where(Lease.item_id == Item.id, Lease.user_id == user.id),
        ~exists().where(
            Annotation.item_id == Item.id,
            Annotation.annotator_id == user.id,
            Annotation.final == false(),
            Annotation.status.in_(CLAIMING),
        ),
    )


def _open_after(
    session: Session, user: User, dataset_id: int, low: int | None, high: int | None
) -> Iterator[Item]:
    """Items not full that `user` holds no slot of, with low < position ≤ high (None: unbounded), in order."""
    while True:
        query = select(Item).where(Item.dataset_id == dataset_id, Item.full == false(), _not_mine(user))
        if low is not None:
            query = query.where(Item.position > low)
        if high is not None:
            query = query.where(Item.position <= high)
        batch = list(session.exec(query.order_by(Item.position, Item.id).limit(SCAN)).all())
        yield from batch
        if len(batch) < SCAN:
            return
        low = batch[-1].position  # (items sharing a position: imports give each its own)


def _leased_after(
    session: Session, user: User, dataset_id: int, low: int | None, high: int | None
) -> list[Item]:
    now = utcnow()
    query = (
        select(Item)
        .join(Lease, Lease.item_id == Item.id)
        .where(
            Lease.user_id == user.id,
            Lease.dataset_id == dataset_id,
            Lease.skipped == false(),
            Lease.expires_at > now,
        )
    )
    if low is not None:
        query = query.where(Lease.position > low)
    if high is not None:
        query = query.where(Lease.position <= high)
    return list(session.exec(query.order_by(Lease.position)).all())


def _merged(a: list[Item], b: Iterator[Item]) -> Iterator[Item]:
    pending = iter(sorted(a, key=lambda i: (i.position, i.id)))
    x, y = next(pending, None), next(b, None)
    while x is not None or y is not None:
        if y is None or (x is not None and (x.position, x.id) <= (y.position, y.id)):
            yield x  # type: ignore[misc]
            x = next(pending, None)
        else:
            yield y
            y = next(b, None)


def rejected_items(session: Session, user: User, dataset_id: int) -> list[Item]:
    """The annotator's annotations sent back by a reviewer, by position."""
    return list(
        session.exec(
            select(Item)
            .join(Annotation, Annotation.item_id == Item.id)
            .where(
                Annotation.dataset_id == dataset_id,
                Annotation.status == "rejected",
                Annotation.annotator_id == user.id,
                Annotation.final == false(),
            )
            .order_by(Item.position, Item.id)
        ).all()
    )


def _cursor(session: Session, user: User, dataset_id: int) -> int | None:
    row = session.get(QueueCursor, (dataset_id, user.id))
    return row.position if row else None


def _candidates(session: Session, user: User, dataset: Dataset, after: Item | None) -> Iterator[Item]:
    """The queue in order (see the module's doc), starting after `after` (or at the cursor), each once."""
    seen: set[int] = set()

    def once(items):  # type: ignore[no-untyped-def]
        for item in items:
            if item.id not in seen:
                seen.add(item.id)
                yield item

    rejected = rejected_items(session, user, dataset.id)
    here = after.position if after is not None else None
    if after is None or after.id not in {i.id for i in rejected}:
        yield from once(i for i in rejected if after is None or i.id != after.id)
    else:  # on a sent-back item: the next sent-back one first
        rest = [i for i in rejected if (i.position, i.id) > (after.position, after.id)]
        yield from once(rest + [i for i in rejected if i not in rest and i.id != after.id])
    if after is None:
        leased = _leased_after(session, user, dataset.id, None, None)
        yield from once(leased)
        start = _cursor(session, user, dataset.id)
    else:
        start = here
    yield from once(
        i
        for i in _merged(
            _leased_after(session, user, dataset.id, start, None),
            _open_after(session, user, dataset.id, start, None),
        )
        if after is None or i.id != after.id
    )
    if start is not None:
        yield from once(
            i
            for i in _merged(
                _leased_after(session, user, dataset.id, None, start),
                _open_after(session, user, dataset.id, None, start),
            )
            if after is None or i.id != after.id
        )
    skipped = session.exec(
        select(Item)
        .join(Lease, Lease.item_id == Item.id)
        .where(
            Lease.user_id == user.id,
            Lease.dataset_id == dataset.id,
            Lease.skipped == true(),
            Item.full == false(),
        )
        .order_by(Item.position)
    ).all()
    yield from once(i for i in skipped if after is None or i.id != after.id)


def next_in_queue(*, session: Session, user: User, dataset_id: int, after: Item | None = None) -> Item | None:
    """The annotator's next queue item after `after` (None: where they left off), with a lease taken on it;
    None when their queue is empty. Call in a write session (it commits nothing itself)."""
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    expire_leases(session, dataset)
    for item in _candidates(session, user, dataset, after):
        if claim(session, user, item, enforce=False):
            cursor = session.get(QueueCursor, (dataset.id, user.id))
            if cursor is None:
                session.add(QueueCursor(dataset_id=dataset.id, user_id=user.id, position=item.position))
            elif item.position > cursor.position:
                cursor.position = item.position
                session.add(cursor)
            session.flush()
            return item
    return None


def peek_queue(
    *, session: Session, user: User, dataset_id: int, after: Item | None, limit: int = 2
) -> list[Item]:
    """The next `limit` queue items after `after`, taking nothing (for the canvas to show them ahead)."""
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    found = []
    for item in _candidates(session, user, dataset, after):
        found.append(item)
        if len(found) >= limit:
            break
    return found


def skip(*, session: Session, user: User, item_id: int) -> None:
    """Skip: release the item (its slot goes back to the queue) and pass it by until the rest is done."""
    item = visible_item(session=session, user=user, item_id=item_id)
    now = utcnow()
    lease = _my_lease(session, user, item.id)
    if lease is None:
        lease = Lease(
            dataset_id=item.dataset_id,
            item_id=item.id,
            user_id=user.id,
            position=item.position,
            expires_at=now,
        )
    lease.skipped, lease.expires_at = True, now
    session.add(lease)
    session.flush()
    dataset = session.get(Dataset, item.dataset_id)
    refresh_slots(session, item.id, _limit(session, dataset))
    history.record(
        session,
        action="skipped",
        user_id=user.id,
        dataset_id=item.dataset_id,
        item_id=item.id,
        annotator=user.username,
    )


@dataclass
class QueueCounts:
    left: int  # items still in this annotator's queue
    items: int  # items in the dataset
    complete: int  # items with as many submitted (or accepted) annotations as the overlap asks
    overlap: int


def queue_counts(*, session: Session, user: User, dataset_id: int) -> QueueCounts:
    """ "N left in my queue" and the dataset's completion."""
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    overlap = overlap_of(session=session, dataset=dataset)
    items = int(session.exec(select(func.count(Item.id)).where(Item.dataset_id == dataset.id)).one())
    open_items = select(func.count(Item.id)).where(Item.dataset_id == dataset.id, Item.full == false())
    open_not_mine = int(session.exec(open_items.where(_not_mine(user))).one())
    now = utcnow()
    leased = int(
        session.exec(
            select(func.count(Lease.id)).where(
                Lease.user_id == user.id,
                Lease.dataset_id == dataset.id,
                Lease.skipped == false(),
                Lease.expires_at > now,
            )
        ).one()
    )
    rejected = len(rejected_items(session, user, dataset.id))
    per_item = (
        select(Annotation.item_id)
        .where(
            Annotation.dataset_id == dataset.id,
            Annotation.final == false(),
            Annotation.status.in_(("submitted", "accepted")),
        )
        .group_by(Annotation.item_id)
        .having(func.count(Annotation.id) >= overlap)
        .subquery()
    )
    complete = int(session.execute(select(func.count()).select_from(per_item)).scalar_one())
    skipped = int(
        session.exec(
            select(func.count(Lease.id))
            .join(Item, Item.id == Lease.item_id)
            .where(
                Lease.user_id == user.id,
                Lease.dataset_id == dataset.id,
                Lease.skipped == true(),
                Item.full == false(),
            )
        ).one()
    )
    return QueueCounts(
        left=open_not_mine + leased + rejected + skipped, items=items, complete=complete, overlap=overlap
    )


def queue_before(*, session: Session, user: User, dataset_id: int, item: Item, limit: int = 2) -> list[Item]:
    """Up to `limit` items before `item`, nearest first, that ← in the queue goes back through: the items
    the annotator worked on (a lease not skipped, or an annotation) and those still open to them."""
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    mine = or_(
        exists().where(Lease.item_id == Item.id, Lease.user_id == user.id, Lease.skipped == false()),
        exists().where(
            Annotation.item_id == Item.id, Annotation.annotator_id == user.id, Annotation.final == false()
        ),
    )
    open_to_me = and_(
        Item.full == false(), ~exists().where(Lease.item_id == Item.id, Lease.user_id == user.id)
    )
    before = or_(Item.position < item.position, and_(Item.position == item.position, Item.id < item.id))
    query = (
        select(Item)
        .where(Item.dataset_id == dataset_id, before, or_(mine, open_to_me))
        .order_by(Item.position.desc(), Item.id.desc())
        .limit(limit)
    )
    return list(session.exec(query).all())
