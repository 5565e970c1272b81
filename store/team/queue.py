"""The overlap queue: which item each annotator gets next, and the leases that keep an item from being
handed to more annotators than its overlap while other items stay untouched.

An annotator *holds a slot* of an item while they have an active lease on it (opened, not yet submitted,
not skipped, not expired) or a submitted / accepted / rejected annotation of it. `Item.taken` counts the
holders and `Item.full` says taken ≥ overlap; a lease taken counts the holders afresh under the lock,
other changes move the count by one in a relative update (refresh_slots recounts from the rows), in the
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

from sqlalchemy import and_, bindparam, delete, exists, false, func, insert, or_, true, union, update
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session, select

from store.access import visible_dataset, visible_item
from store.errors import Conflict
from store.models import Annotation, Dataset, Item, Lease, QueueCursor, User, utcnow
from store.queue import in_order
from store.team import history
from store.team.settings import overlap_of, team_settings

LEASE_TTL = timedelta(minutes=30)
CLAIMING = ("submitted", "accepted", "rejected")
SCAN = 64  # candidates read per query while scanning

# The queue's hot path runs prebuilt statements with bound parameters on the session's connection: built
# once, compiled once, no ORM objects per row (a pick was ~25 statements' worth of expression building).
_U, _D, _NOW, _I = bindparam("user_id"), bindparam("dataset_id"), bindparam("now"), bindparam("item_id")
_ACTIVE_LEASE = and_(Lease.skipped == false(), Lease.expires_at > _NOW)
_CLAIMING = and_(Annotation.final == false(), Annotation.status.in_(CLAIMING))
_HOLDERS = select(func.count()).select_from(
    union(
        select(Lease.user_id).where(Lease.item_id == _I, _ACTIVE_LEASE),
        select(Annotation.annotator_id).where(Annotation.item_id == _I, _CLAIMING),
    ).subquery()
)
_MY_LEASES = (
    select(Lease.item_id, Lease.position)
    .where(Lease.user_id == _U, Lease.dataset_id == _D, _ACTIVE_LEASE)
    .order_by(Lease.position, Lease.item_id)
)
_MY_REJECTED = select(Annotation.item_id).where(
    Annotation.dataset_id == _D, Annotation.status == "rejected", Annotation.annotator_id == _U,
    Annotation.final == false(),
)  # fmt: skip
_POSITIONS = select(Item.id, Item.position).where(Item.id.in_(bindparam("ids", expanding=True)))
_CURSOR = select(QueueCursor.position).where(QueueCursor.dataset_id == _D, QueueCursor.user_id == _U)
_MOVE_CURSOR = (  # (an UPDATE's bound names must differ from its columns')
    update(QueueCursor)
    .where(
        QueueCursor.dataset_id == bindparam("b_dataset"), QueueCursor.user_id == bindparam("b_user"),
        QueueCursor.position < bindparam("b_position"),
    )
    .values(position=bindparam("b_position"))
)  # fmt: skip
_NOT_MINE = and_(
    ~exists().where(Lease.item_id == Item.id, Lease.user_id == _U),
    ~exists().where(Annotation.item_id == Item.id, Annotation.annotator_id == _U, _CLAIMING),
)
_OPEN = {
    (low, high): select(Item.id, Item.position)
    .where(
        Item.dataset_id == _D, Item.full == false(), _NOT_MINE,
        Item.position > bindparam("low") if low else true(),
        Item.position <= bindparam("high") if high else true(),
    )
    .order_by(Item.position, Item.id)
    .limit(bindparam("size"))
    for low in (False, True)
    for high in (False, True)
}  # fmt: skip
_SKIPPED = (
    select(Item.id, Item.position)
    .join(Lease, Lease.item_id == Item.id)
    .where(Lease.user_id == _U, Lease.dataset_id == _D, Lease.skipped == true(), Item.full == false())
    .order_by(Item.position, Item.id)
)
_STALE = (
    select(Lease.id, Lease.item_id, Lease.user_id, User.username)
    .join(User, User.id == Lease.user_id)
    .where(Lease.dataset_id == _D, Lease.skipped == false(), Lease.expires_at <= _NOW)
)


def _limit(session: Session, dataset: Dataset) -> int | None:
    """The overlap, or None where every annotator takes every item ("all": items are never full)."""
    return None if team_settings(dataset).overlap is None else overlap_of(session=session, dataset=dataset)


def _count_holders(session: Session, item_id: int) -> int:
    return int(session.connection().execute(_HOLDERS, {"item_id": item_id, "now": utcnow()}).scalar_one())


_SET_SLOTS = (
    update(Item)
    .where(Item.id == bindparam("b_item"))
    .values(taken=bindparam("b_taken"), full=bindparam("b_full"))
)
_INSERT_LEASE = insert(Lease)


def _store_slots(session: Session, item_id: int, taken: int, limit: int | None) -> None:
    params = {"b_item": item_id, "b_taken": taken, "b_full": limit is not None and taken >= limit}
    session.connection().execute(_SET_SLOTS, params)
    loaded = session.identity_map.get(identity_key(Item, item_id))
    if loaded is not None:  # (a core update: an Item already in the session reads the new count again)
        session.expire(loaded, ["taken", "full"])


def _shift_slots(session: Session, item_id: int, delta: int, limit: int | None) -> None:
    """One holder more or fewer, as one relative update (never a count read earlier, which a concurrent
    taker may have changed since)."""
    taken = Item.taken + delta
    session.execute(
        update(Item).where(Item.id == item_id).values(taken=taken, full=taken >= limit if limit else False)
    )


def refresh_slots(session: Session, item_id: int, limit: int | None) -> int:
    """Recount the item's slot holders from the leases and annotations and store it; returns the count."""
    session.flush()
    taken = _count_holders(session, item_id)
    _store_slots(session, item_id, taken, limit)
    return taken


def _lock_dataset(session: Session, dataset_id: int) -> None:
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(Dataset.id).where(Dataset.id == dataset_id).with_for_update())


def expire_leases(session: Session, dataset: Dataset) -> int:
    """End the leases idle for LEASE_TTL (their slots go back to the queue); returns how many."""
    stale = session.connection().execute(_STALE, {"dataset_id": dataset.id, "now": utcnow()}).all()
    if not stale:
        return 0
    # Under the lock, like a lease taken: a count moved down here is never overwritten by a stale one.
    _lock_dataset(session, dataset.id)
    limit = _limit(session, dataset)
    for lease_id, item_id, user_id, username in stale:
        session.execute(delete(Lease).where(Lease.id == lease_id))
        history.record(session, action="lease.expired", user_id=None, dataset_id=dataset.id, item_id=item_id,
                       annotator=username)  # fmt: skip
        if not _claiming_annotation(session, User(id=user_id), item_id):
            _shift_slots(session, item_id, -1, limit)
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


def claim(session: Session, user: User, item: Item, *, enforce: bool = True, free: bool = False) -> bool:
    """Make sure `user` holds a slot of `item`: renew their lease, or take one if a slot is free.

    Returns False when the item already has its overlap of annotators (with `enforce`, annotators are
    refused then: Conflict). Admins and reviewers are never refused; their leases count like anyone's.
    `free`: the caller knows `user` holds nothing of the item (the queue's scan says so), which saves
    two look-ups on the queue's hot path.
    """
    now = utcnow()
    lease = None if free else _my_lease(session, user, item.id)
    if lease is not None and not lease.skipped and _aware(lease.expires_at) > now:
        lease.expires_at = now + LEASE_TTL
        session.add(lease)
        return True
    if not free and _claiming_annotation(session, user, item.id):
        return True
    _lock_dataset(session, item.dataset_id)
    dataset = session.get(Dataset, item.dataset_id)
    limit = _limit(session, dataset)
    # The decision counts the holders afresh under the lock (the stored count only steers the scan).
    taken = _count_holders(session, item.id)
    if limit is not None and taken >= limit and user.role == "annotator":
        _store_slots(session, item.id, taken, limit)
        if enforce:
            raise Conflict(
                f"This item already has its {limit} annotator{'s' if limit != 1 else ''}; "
                "it is not in your queue. Your work on it is kept as a draft."
            )
        return False
    if lease is None and free:
        row = {"dataset_id": item.dataset_id, "item_id": item.id, "user_id": user.id, "position": item.position,
               "skipped": False, "taken_at": now, "expires_at": now + LEASE_TTL}  # fmt: skip
        session.connection().execute(_INSERT_LEASE, row)
    else:
        if lease is None:
            lease = Lease(dataset_id=item.dataset_id, item_id=item.id, user_id=user.id, position=item.position,
                          expires_at=now + LEASE_TTL)  # fmt: skip
        else:
            lease.skipped, lease.taken_at, lease.expires_at = False, now, now + LEASE_TTL
        session.add(lease)
        session.flush()
    _store_slots(session, item.id, taken + 1, limit)
    history.record(session, action="lease.taken", user_id=user.id, dataset_id=item.dataset_id,
                   item_id=item.id, annotator=user.username)  # fmt: skip
    return True


def release(session: Session, user: User, item: Item, *, held: bool = False) -> None:
    """The annotator submitted: their lease ends, and the submitted annotation holds the slot instead.
    One holder more only where they had neither an active lease nor (`held`) a claiming annotation
    before this submit (a sent-back one, resubmitted)."""
    lease = _my_lease(session, user, item.id)
    active = lease is not None and not lease.skipped and _aware(lease.expires_at) > utcnow()
    if lease is not None:
        session.delete(lease)
        session.flush()
    if not active and not held:
        dataset = session.get(Dataset, item.dataset_id)
        _shift_slots(session, item.id, 1, _limit(session, dataset))


# ---------------------------------------------------------------------- the queue's order


@dataclass(frozen=True)
class Slot:
    """A queue candidate, as light as the scan reads it (the item itself is loaded once chosen)."""

    id: int
    dataset_id: int
    position: int
    free: bool  # the annotator holds nothing of it (an open item from the scan)


def _open_after(
    session: Session, user: User, dataset_id: int, low: int | None, high: int | None
) -> Iterator[Slot]:
    """Items not full that `user` holds no slot of, with low < position ≤ high (None: unbounded), in order.

    Read a few at a time (most asks take the first): a handful first, then more."""
    conn = session.connection()
    size = 4
    while True:
        params = {"dataset_id": dataset_id, "user_id": user.id, "low": low, "high": high, "size": size}
        batch = conn.execute(_OPEN[(low is not None, high is not None)], params).all()
        for item_id, position in batch:
            yield Slot(item_id, dataset_id, position, True)
        if len(batch) < size:
            return
        low, size = batch[-1][1], min(size * 4, SCAN)  # (items sharing a position: imports give each its own)


def _my_leases(session: Session, user: User, dataset_id: int) -> list[Slot]:
    params = {"user_id": user.id, "dataset_id": dataset_id, "now": utcnow()}
    rows = session.connection().execute(_MY_LEASES, params).all()
    return [Slot(item_id, dataset_id, position, False) for item_id, position in rows]


def _between(slots: list[Slot], low: int | None, high: int | None) -> list[Slot]:
    return [s for s in slots if (low is None or s.position > low) and (high is None or s.position <= high)]


def _merged(a: list[Slot], b: Iterator[Slot]) -> Iterator[Slot]:
    pending = iter(a)
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
    return [session.get(Item, slot.id) for slot in _rejected(session, user, dataset_id)]  # type: ignore[misc]


def _rejected(session: Session, user: User, dataset_id: int) -> list[Slot]:
    # Two steps on purpose: joined, SQLite walked the items in position order (100k of them) to spare
    # a sort; the (dataset_id, status) index finds the few sent-back annotations at once.
    conn = session.connection()
    item_ids = conn.execute(_MY_REJECTED, {"dataset_id": dataset_id, "user_id": user.id}).scalars().all()
    if not item_ids:
        return []
    rows = conn.execute(_POSITIONS, {"ids": list(item_ids)}).all()
    return sorted((Slot(item_id, dataset_id, position, False) for item_id, position in rows),
                  key=lambda slot: (slot.position, slot.id))  # fmt: skip


def _cursor(session: Session, user: User, dataset_id: int) -> int | None:
    params = {"dataset_id": dataset_id, "user_id": user.id}
    return session.connection().execute(_CURSOR, params).scalar_one_or_none()


def _candidates(session: Session, user: User, dataset: Dataset, after: Item | None) -> Iterator[Slot]:
    """The queue in order (see the module's doc), starting after `after` (or at the cursor), each once."""
    seen: set[int] = {after.id} if after is not None else set()

    def once(slots):  # type: ignore[no-untyped-def]
        for slot in slots:
            if slot.id not in seen:
                seen.add(slot.id)
                yield slot

    rejected = _rejected(session, user, dataset.id)
    if after is not None and any(r.id == after.id for r in rejected):
        # On a sent-back item: the next sent-back one first.
        rejected = [r for r in rejected if (r.position, r.id) > (after.position, after.id)] + rejected
    yield from once(rejected)
    leases = _my_leases(session, user, dataset.id)
    if after is None:
        yield from once(leases)
        start = _cursor(session, user, dataset.id)
    else:
        start = after.position
    yield from once(
        _merged(_between(leases, start, None), _open_after(session, user, dataset.id, start, None))
    )
    if start is not None:
        yield from once(
            _merged(_between(leases, None, start), _open_after(session, user, dataset.id, None, start))
        )
    skipped = session.connection().execute(_SKIPPED, {"user_id": user.id, "dataset_id": dataset.id}).all()
    yield from once(Slot(item_id, dataset.id, position, False) for item_id, position in skipped)


def next_in_queue(*, session: Session, user: User, dataset_id: int, after: Item | None = None) -> Item | None:
    """The annotator's next queue item after `after` (None: where they left off), with a lease taken on it;
    None when their queue is empty. Call in a write session (it commits nothing itself)."""
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    expire_leases(session, dataset)
    for slot in _candidates(session, user, dataset, after):
        if claim(session, user, slot, enforce=False, free=slot.free):  # type: ignore[arg-type]
            moved = session.connection().execute(
                _MOVE_CURSOR, {"b_dataset": dataset.id, "b_user": user.id, "b_position": slot.position}
            )
            if moved.rowcount == 0 and _cursor(session, user, dataset.id) is None:
                session.add(QueueCursor(dataset_id=dataset.id, user_id=user.id, position=slot.position))
            session.flush()
            return session.get(Item, slot.id)
    return None


def peek_queue(
    *, session: Session, user: User, dataset_id: int, after: Item | None, limit: int = 2
) -> list[Item]:
    """The next `limit` queue items after `after`, taking nothing (for the canvas to show them ahead)."""
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    found = []
    for slot in _candidates(session, user, dataset, after):
        found.append(session.get(Item, slot.id))
        if len(found) >= limit:
            break
    return found  # type: ignore[return-value]


def skip(*, session: Session, user: User, item_id: int) -> None:
    """Skip: release the item (its slot goes back to the queue) and pass it by until the rest is done."""
    item = visible_item(session=session, user=user, item_id=item_id)
    _lock_dataset(session, item.dataset_id)  # first: before the lease row's own lock on the dataset
    now = utcnow()
    lease = _my_lease(session, user, item.id)
    active = lease is not None and not lease.skipped and _aware(lease.expires_at) > now
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
    if active and not _claiming_annotation(session, user, item.id):
        dataset = session.get(Dataset, item.dataset_id)
        _shift_slots(session, item.id, -1, _limit(session, dataset))
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
    done: int  # submitted (or accepted) annotations
    overlap: int

    @property
    def needed(self) -> int:
        """Submissions the dataset needs in all (items × overlap)."""
        return self.items * self.overlap


_MINE_ON_OPEN = select(func.count()).select_from(
    union(
        select(Lease.item_id).join(Item, Item.id == Lease.item_id).where(Lease.user_id == _U, Lease.dataset_id == _D, Item.full == false()),
        select(Annotation.item_id).join(Item, Item.id == Annotation.item_id).where(Annotation.annotator_id == _U, Annotation.dataset_id == _D, Item.full == false(), _CLAIMING),
    ).subquery()
)  # fmt: skip
_ITEMS = select(func.count(Item.id)).where(Item.dataset_id == _D)
_OPEN_ITEMS = select(func.count(Item.id)).where(Item.dataset_id == _D, Item.full == false())
_DONE = select(func.count(Annotation.id)).where(
    Annotation.dataset_id == _D, Annotation.status.in_(("submitted", "accepted")), Annotation.final == false()
)


def queue_counts(*, session: Session, user: User, dataset_id: int) -> QueueCounts:
    """ "N left in my queue" and how much of the dataset is done, in counts over indexes (no per-item
    grouping: the page asks after every submit)."""
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    overlap = overlap_of(session=session, dataset=dataset)
    conn = session.connection()
    params = {"dataset_id": dataset.id, "user_id": user.id}
    items = int(conn.execute(_ITEMS, params).scalar_one())
    open_not_mine = int(conn.execute(_OPEN_ITEMS, params).scalar_one()) - int(
        conn.execute(_MINE_ON_OPEN, params).scalar_one()
    )
    leased = len(_my_leases(session, user, dataset.id))
    skipped = len(conn.execute(_SKIPPED, params).all())
    left = open_not_mine + leased + len(_rejected(session, user, dataset.id)) + skipped
    done = int(conn.execute(_DONE, params).scalar_one())
    return QueueCounts(left=left, items=items, done=done, overlap=overlap)


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
    query = (
        select(Item)
        .where(Item.dataset_id == dataset_id, in_order(item, -1), or_(mine, open_to_me))
        .order_by(Item.position.desc(), Item.id.desc())
        .limit(limit)
    )
    return list(session.exec(query).all())
