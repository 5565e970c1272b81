"""Item navigation for one annotator: position in a dataset, neighbours, the next item to do, filters.

Filters (`status`), always from the point of view of the annotator `user`:
    "all"        every item
    "todo"       items this annotator has not submitted (no annotation, draft, saved, or rejected by a reviewer)
    "new"        items with no annotation by this annotator
    "progress"   items with a draft, saved or rejected annotation by this annotator
    "submitted"  items this annotator has submitted (and a reviewer may have accepted since)
The annotator's work is their own annotation, not a final answer they adjudicated.
Items are ordered by (position, id). Every query uses the (dataset_id, position) index and the
(item_id, annotator_id) unique index, so it stays fast on 100,000-item datasets.

`flt` (core/filters.py's ItemFilter, optional everywhere) narrows every function to the items it selects,
on top of the status: the tool pages' "Show" menu with a saved filter or the Datasets page's "Annotate these".
No filter adds nothing to the queries.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, false, func, or_
from sqlmodel import Session, select

from core.filters import ItemFilter
from store.access import visible_dataset
from store.errors import InputError, NotFound
from store.filters import DONE, conditions, count_selected
from store.models import Annotation, Item, User

FILTERS = ("all", "todo", "new", "progress", "submitted")
FILTER_LABELS = {
    "all": "All items",
    "todo": "Not submitted by me",
    "new": "Not started by me",
    "progress": "Draft or saved by me",
    "submitted": "Submitted by me",
}


def _filtered(query: Any, user: User, status: str, extra: list[Any] | None = None, anti: bool = False) -> Any:
    """`query` on Item narrowed to `status` (FILTERS) for `user` and to `extra`. The annotator's work is their
    own annotation of the item, not a final answer they adjudicated. `anti`: "todo" as NOT EXISTS (their
    submitted work) rather than an outer join, for PostgreSQL reading a filter's items as a set: an anti-join
    there, where the outer join looked up each of the set's items (86k at the end of a filtered queue on 1M
    items); SQLite walked the outer join faster (210 against 330 ms)."""
    if extra:
        query = query.where(*extra)
    if status not in FILTERS:
        raise InputError(f"status filter {status!r}: must be one of {', '.join(FILTERS)}")
    if status == "all":
        return query
    # (the dataset too, which the annotation shares with its item: the annotator's covering (annotator,
    # dataset, item, status, final) index then answers the status without reading the annotation row; at the
    # end of a filtered queue on 1M items, 86k checks: 285 -> 232 ms)
    mine = [
        Annotation.item_id == Item.id,
        Annotation.annotator_id == user.id,
        Annotation.dataset_id == Item.dataset_id,
        Annotation.final == false(),
    ]
    if status == "todo" and anti:
        return query.where(~exists().where(*mine, Annotation.status.in_(DONE)))
    query = query.outerjoin(Annotation, and_(*mine))
    if status == "todo":
        return query.where(or_(Annotation.id == None, Annotation.status.not_in(DONE)))  # noqa: E711
    if status == "new":
        return query.where(Annotation.id == None)  # noqa: E711
    if status == "progress":
        return query.where(Annotation.id != None, Annotation.status.not_in(DONE))  # noqa: E711
    return query.where(Annotation.status.in_(DONE))


def in_order(item: Item, step: int, inclusive: bool = False) -> ColumnElement[bool]:
    """The items after (`step` > 0) or before (`step` < 0) `item` in the dataset's (position, id) order;
    `inclusive`: `item` too."""
    if step > 0:
        tie = Item.id >= item.id if inclusive else Item.id > item.id
        return or_(Item.position > item.position, and_(Item.position == item.position, tie))
    tie = Item.id <= item.id if inclusive else Item.id < item.id
    return or_(Item.position < item.position, and_(Item.position == item.position, tie))


def _extra(session: Session, dataset_id: int, flt: ItemFilter | None, correlated: bool = False) -> list[Any]:
    """The filter's conditions; `correlated` (EXISTS per item) where the read walks items in order and stops
    after a few (store/filters.py's module doc)."""
    return conditions(session=session, dataset_id=dataset_id, flt=flt, correlated=correlated) if flt else []


def count_items(
    *, session: Session, user: User, dataset_id: int, status: str = "all", flt: ItemFilter | None = None
) -> int:
    """How many items of the dataset pass the filter."""
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    if status == "all":  # (the tool page's "n / total", recounted after each Submit with a filter)
        return count_selected(session=session, dataset_id=dataset_id, flt=flt)
    extra = _extra(session, dataset_id, flt)
    query = _filtered(select(func.count(Item.id)).where(Item.dataset_id == dataset_id), user, status, extra)
    return int(session.exec(query).one())


def selected(
    *, session: Session, user: User, item: Item, status: str = "all", flt: ItemFilter | None = None
) -> bool:
    """Whether the status filter and `flt` select `item` (checked on it alone)."""
    visible_dataset(session=session, user=user, dataset_id=item.dataset_id)
    return _selected(session, user, item, status, _extra(session, item.dataset_id, flt, True))


def _selected(session: Session, user: User, item: Item, status: str, extra: list[Any]) -> bool:
    """selected, given the filter's conditions in their per-item (correlated) form."""
    if status == "all" and not extra:
        return True
    return (
        session.exec(_filtered(select(Item.id).where(Item.id == item.id), user, status, extra)).first()
        is not None
    )


def rank_of(
    *, session: Session, user: User, item: Item, status: str = "all", flt: ItemFilter | None = None
) -> int:
    """The 1-based place of `item` among the filtered items (as in "12 / 300"); 0 if it is filtered out."""
    visible_dataset(session=session, user=user, dataset_id=item.dataset_id)
    # (whether the item is selected first, checked on it alone: counting the items before it through the
    # filter's sets took 0.3-1.8 s at 1M items, for an answer of 0 when it is not)
    if not _selected(session, user, item, status, _extra(session, item.dataset_id, flt, True)):
        return 0
    extra = _extra(session, item.dataset_id, flt)
    query = _filtered(
        select(func.count(Item.id)).where(
            Item.dataset_id == item.dataset_id, in_order(item, -1, inclusive=True)
        ),
        user,
        status,
        extra,
    )
    return int(session.exec(query).one())


# rank_after counts the items between two places when they are at most this many positions apart
RANK_CARRIED_UP_TO = 2_000


def rank_after(
    *,
    session: Session,
    user: User,
    item: Item,
    before: Item,
    before_rank: int,
    status: str = "all",
    flt: ItemFilter | None = None,
) -> int:
    """rank_of(`item`) from `before_rank`, the place `before` had among the filtered items (it was one of
    them) before a change to `before`'s work only, when `item` comes after `before` within
    RANK_CARRIED_UP_TO positions (Submit-and-next): the place before `before`, plus the items selected now
    from `before` to `item`, counted item by item over that range. rank_of counts every filtered item up to
    `item` (0.14-0.38 s at 1M items for the middle of the dataset); elsewhere it is what this returns."""
    visible_dataset(session=session, user=user, dataset_id=item.dataset_id)
    after = (before.position, before.id) < (item.position, item.id)
    close = after and item.position <= before.position + RANK_CARRIED_UP_TO
    if not close or before.dataset_id != item.dataset_id or before_rank < 1:
        return rank_of(session=session, user=user, item=item, status=status, flt=flt)
    extra = _extra(session, item.dataset_id, flt, True)
    if not _selected(session, user, item, status, extra):
        return 0
    query = _filtered(
        select(func.count(Item.id)).where(
            Item.dataset_id == item.dataset_id,
            Item.position.between(before.position, item.position),  # (the index range; the ties below)
            in_order(before, 1, inclusive=True),
            in_order(item, -1, inclusive=True),
        ),
        user,
        status,
        extra,
    )
    return before_rank - 1 + int(session.exec(query).one())


def neighbour(
    *,
    session: Session,
    user: User,
    dataset_id: int,
    item: Item | None,
    step: int,
    status: str = "all",
    flt: ItemFilter | None = None,
) -> Item | None:
    """The next (`step`=1) or previous (`step`=-1) item after `item` under the filter; None at the end.

    With `item` None: the first (step 1) or last (step -1) item.
    """
    found = following(
        session=session, user=user, dataset_id=dataset_id, item=item, step=step, status=status, flt=flt
    )
    return found[0] if found else None


def following(
    *,
    session: Session,
    user: User,
    dataset_id: int,
    item: Item | None,
    step: int,
    status: str = "all",
    limit: int = 1,
    flt: ItemFilter | None = None,
    below: int | None = None,
) -> list[Item]:
    """Up to `limit` items after (`step` > 0) or before (`step` < 0) `item` under the filter, nearest first;
    `below`: only positions below it."""
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    extra = _extra(session, dataset_id, flt, correlated=True)
    query = _filtered(select(Item).where(Item.dataset_id == dataset_id), user, status, extra)
    if below is not None:
        query = query.where(Item.position < below)
    if step > 0:
        if item is not None:
            # the redundant `>=` lets SQLite seek the (dataset_id, position) index: with the OR alone and bound
            # parameters it scanned the dataset from its start (40 ms in the middle of 1M items)
            query = query.where(Item.position >= item.position, in_order(item, 1))
        query = query.order_by(Item.position, Item.id)
    else:
        if item is not None:
            query = query.where(Item.position <= item.position, in_order(item, -1))
        query = query.order_by(Item.position.desc(), Item.id.desc())
    return list(session.exec(query.limit(limit)).all())


def next_todo(
    *, session: Session, user: User, dataset_id: int, after: Item | None = None, flt: ItemFilter | None = None
) -> Item | None:
    """The next item this annotator has not submitted, after `after` and wrapping round; None when all done."""
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    kw: dict[str, Any] = {
        "session": session,
        "user": user,
        "dataset_id": dataset_id,
        "status": "todo",
        "flt": flt,
    }
    if after is not None and flt is not None and not flt.is_empty():
        return _next_todo_filtered(session, user, dataset_id, after, flt)
    found = neighbour(**kw, item=after, step=1)
    if found is None and after is not None:
        # wrapping round: from the start to `after`'s position, not the items past it again (when nothing is
        # left, every item is checked once rather than those past `after` twice)
        wrapped = following(**kw, item=None, step=1, below=after.position + 1)
        found = wrapped[0] if wrapped else None
        if found is not None and found.id == after.id:
            return None
    return found


# Under a filter, next_todo checks the next WALKED_FIRST positions item by item (the filter as EXISTS), then
# reads the filter's items as a set for the rest, wrapping round, in one query. At the end of a filtered queue
# (nothing left) the walk checked every item of the dataset: 1.2-1.9 s at 1M items, the set ~0.3-0.5 s.
WALKED_FIRST = 2_000


def _next_todo_filtered(
    session: Session, user: User, dataset_id: int, after: Item, flt: ItemFilter
) -> Item | None:
    near = following(session=session, user=user, dataset_id=dataset_id, item=after, step=1, status="todo",
                     flt=flt, below=after.position + WALKED_FIRST)  # fmt: skip
    if near:
        return near[0]
    wrapped = in_order(after, -1)
    # (the id only: PostgreSQL sorted the candidates' whole rows, dialogues included, before the "todo" check
    # dropped them; 86k at 1M items, 22 MB sorted on disk)
    postgres = session.get_bind().dialect.name == "postgresql"
    query = _filtered(
        select(Item.id).where(Item.dataset_id == dataset_id),
        user,
        "todo",
        _extra(session, dataset_id, flt),
        postgres,
    )
    query = query.where(Item.id != after.id).order_by(wrapped, Item.position, Item.id)
    found = session.exec(query.limit(1)).first()
    return session.get(Item, found) if found is not None else None


def item_at(
    *,
    session: Session,
    user: User,
    dataset_id: int,
    rank: int,
    status: str = "all",
    flt: ItemFilter | None = None,
) -> Item | None:
    """The item at 1-based place `rank` under the filter (for "go to #")."""
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    if rank < 1:
        return None
    extra = _extra(session, dataset_id, flt, correlated=True)
    query = _filtered(select(Item).where(Item.dataset_id == dataset_id), user, status, extra)
    return session.exec(query.order_by(Item.position, Item.id).offset(rank - 1).limit(1)).first()


def item_by_external_id(*, session: Session, user: User, dataset_id: int, external_id: str) -> Item:
    """The item whose source id is `external_id` (the deep link's `item=`); NotFound otherwise."""
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    item = session.exec(
        select(Item).where(Item.dataset_id == dataset_id, Item.external_id == str(external_id))
    ).first()
    if item is None:
        raise NotFound(f"item {external_id!r}: not found in this dataset")
    return item


def my_status(*, session: Session, user: User, item_id: int) -> str:
    """This annotator's status on the item: "new", "draft", "saved" or "submitted"."""
    status = session.exec(
        select(Annotation.status).where(
            Annotation.item_id == item_id, Annotation.annotator_id == user.id, Annotation.final == false()
        )
    ).first()
    return status or "new"
