"""Datasets as the Dataset Center shows them: counts per dataset, items to browse, rename and delete."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, select
from sqlmodel import Session

from core.filters import ItemFilter
from store import search
from store.access import require_admin, visible_dataset, visible_item
from store.datasets import visible_datasets_query
from store.errors import InputError
from store.filters import DONE, annotation_items, conditions, count_selected, item_conditions
from store.models import (
    Annotation,
    AnnotationValue,
    AuditEvent,
    Classification,
    Comment,
    Dataset,
    DatasetMember,
    ImportJob,
    Item,
    OntologyClass,
    Result,
    Suggestion,
    User,
)


@dataclass
class DatasetStats:
    id: int
    name: str
    description: str
    items: int = 0
    messages: int = 0
    images: int = 0
    new: int = 0  # items nobody has saved or submitted
    saved: int = 0  # items with saved work and no submission
    submitted: int = 0  # items with at least one submitted annotation
    invalid: int = 0  # items marked invalid by someone


# Counts kept from an earlier call, by dataset id: (the dataset's change_keys key then, its stats).
KnownStats = dict[int, tuple[tuple[Any, ...], DatasetStats]]


def dataset_stats(*, session: Session, user: User, known: KnownStats | None = None) -> list[DatasetStats]:
    """Every dataset `user` may see with its counts: three grouped queries whatever the number of datasets.

    `known` (a dict this call fills, which calls on other threads may share): counts from earlier calls, kept
    for each dataset whose change_keys key is the same. At 1M items the counts took ~0.7 s and the keys ~0.1 s,
    and the Datasets page counts on each run."""
    datasets = list(session.exec(visible_datasets_query(user)).all())
    stats = {d.id: DatasetStats(id=d.id, name=d.name, description=d.description) for d in datasets}  # type: ignore[misc]
    if not stats:
        return []
    if known is None:
        _count(session, stats, list(stats))
        return list(stats.values())
    keys = change_keys(session, list(stats))
    stale = [i for i in stats if i not in known or known[i][0] != keys.get(i)]
    for i in stats.keys() - set(stale):
        stats[i] = dataclasses.replace(known[i][1], name=stats[i].name, description=stats[i].description)
    if stale:  # (counted after the keys were read: counts at least as new as the key they are kept under)
        _count(session, stats, stale)
    for i in stale:  # (entries are replaced, never removed: callers on other threads may share `known`)
        if i in keys:
            known[i] = (keys[i], stats[i])
    return list(stats.values())


def _count(session: Session, stats: dict[int, DatasetStats], ids: list[int]) -> None:
    """Fill in the counts of the datasets `ids`."""
    items = select(Item.dataset_id, func.count(), func.sum(Item.message_count)).where(
        Item.dataset_id.in_(ids)
    )
    for dataset_id, count, messages in session.execute(items.group_by(Item.dataset_id)):
        stats[dataset_id].items, stats[dataset_id].messages = count, int(messages or 0)
    # submitted: handed in (a reviewer may have accepted it since); saved: work kept, or rejected to redo
    rank = func.max(
        case(
            (Annotation.status.in_(DONE), 2),
            (Annotation.status.in_(("saved", "rejected")), 1),
            else_=0,
        )
    )
    bad = func.max(case(((Annotation.validity == "invalid") & (Annotation.status != "draft"), 1), else_=0))
    per_item = (
        select(Annotation.dataset_id.label("ds"), rank.label("rank"), bad.label("bad"))
        .where(Annotation.dataset_id.in_(ids))
        .group_by(Annotation.dataset_id, Annotation.item_id)
        .subquery()
    )
    status = select(
        per_item.c.ds,
        func.sum(case((per_item.c.rank == 2, 1), else_=0)),
        func.sum(case((per_item.c.rank == 1, 1), else_=0)),
        func.sum(per_item.c.bad),
    ).group_by(per_item.c.ds)
    for dataset_id, submitted, saved, invalid in session.execute(status):
        s = stats[dataset_id]
        s.submitted, s.saved, s.invalid = int(submitted or 0), int(saved or 0), int(invalid or 0)
    jobs = select(ImportJob.dataset_id, ImportJob.counts).where(
        ImportJob.dataset_id.in_(ids), ImportJob.status == "done"
    )
    for dataset_id, counts in session.execute(jobs):
        stats[dataset_id].images += int((counts or {}).get("images", 0))
    for i in ids:
        s = stats[i]
        s.new = s.items - s.submitted - s.saved


def change_keys(session: Session, dataset_ids: list[int]) -> dict[int, tuple[Any, ...]]:
    """Per dataset, a key that changes whenever its counts or its report could: its latest history entry
    (every change to an annotation appends one: store/team/history.py), its annotation and item counts
    (imports and deletes). Each read from an index: max(updated_at) would read every annotation row (300 ms on
    300,000)."""
    of = Dataset.id

    def per(query: Any) -> Any:
        return query.correlate(Dataset).scalar_subquery()

    latest = per(select(func.max(AuditEvent.id)).where(AuditEvent.dataset_id == of))
    annotations = per(select(func.count()).select_from(Annotation).where(Annotation.dataset_id == of))
    items = per(select(func.count()).select_from(Item).where(Item.dataset_id == of))
    # (and when the dataset was made: SQLite gives a new dataset the id of a deleted last one)
    rows = session.execute(
        select(of, Dataset.created_at, latest, annotations, items).where(of.in_(dataset_ids))
    )
    return {row[0]: tuple(row[1:]) for row in rows}


def list_items(
    *,
    session: Session,
    user: User,
    dataset_id: int,
    search: str = "",
    offset: int = 0,
    limit: int = 20,
    flt: ItemFilter | None = None,
) -> tuple[list[Item], int]:
    """One page of the dataset's items the filter selects (`search` adds a text search to it) and how many
    it selects: best search match first when searching (store/search.py's rank), otherwise in order."""
    flt = flt or ItemFilter()
    if search.strip():
        flt = ItemFilter.from_dict({**flt.to_dict(), "search": search})
    rest = flt.without_search()  # the search joins (for its rank) rather than filters
    where = [
        Item.dataset_id == dataset_id,
        *item_conditions(session=session, user=user, dataset_id=dataset_id, flt=rest),
    ]
    if flt.search.strip():
        by_annotation = annotation_items(session=session, dataset_id=dataset_id, flt=rest)
        return _ranked_page(
            session,
            dataset_id,
            flt.search,
            where if not rest.is_empty() else None,
            offset,
            limit,
            by_annotation,
            rest,
        )
    total = count_selected(session=session, dataset_id=dataset_id, flt=rest)
    offset = max(offset, 0)
    if not total or offset >= total:
        return [], int(total)
    order = (Item.position, Item.id)
    window = _walk_window(session, dataset_id, total, offset + limit) if where[1:] else None
    if window is not None:
        walk = [Item.dataset_id == dataset_id, Item.position < window,
                *conditions(session=session, dataset_id=dataset_id, flt=rest, correlated=True)]  # fmt: skip
        rows = session.execute(
            select(Item).where(*walk).order_by(*order).offset(offset).limit(limit)
        ).scalars()
        page = list(rows.all())
        if len(page) == min(limit, total - offset):
            return page, int(total)
    query = select(Item).where(*where).order_by(*order).offset(offset).limit(limit)
    return list(session.execute(query).scalars().all()), int(total)


# A page of a filtered list is read by walking the dataset in order and checking each item (EXISTS) when
# that is expected to reach the page within WALK_UP_TO items; otherwise, or when the selected items lie
# elsewhere (a walk goes at most twice the expected distance), every selected id is sorted by position.
# A filter selecting 24 % of 1M items finds its first page after ~80 items (under 1 ms) instead of sorting
# 240k ids (425 ms); one selecting 0.1 % is sorted (1,000 ids) rather than walked (1M checks).
WALK_UP_TO = 20_000


def _walk_window(session: Session, dataset_id: int, selected: int, upto: int) -> int | None:
    """The position below which to walk for the page's items, or None to sort instead: the walk is expected
    to find them within page end × dataset size / selected items."""
    ends = _ends(session, dataset_id, Item.position)
    if ends is None:
        return None
    first, last = ends
    expected = upto * (last - first + 1) / selected
    return int(first + 2 * expected) + 1 if expected <= WALK_UP_TO else None


def _ends(session: Session, dataset_id: int, col: Any) -> tuple[int, int] | None:
    """The smallest and largest `col` (Item.position, Item.id) of the dataset's items; None when it has none."""
    # (apart: SQLite reads one end of the index for each, and scans it for both at once)
    first = session.execute(select(func.min(col)).where(Item.dataset_id == dataset_id)).scalar()
    last = session.execute(select(func.max(col)).where(Item.dataset_id == dataset_id)).scalar()
    return None if first is None or last is None else (first, last)


def _ranked_page(
    session: Session,
    dataset_id: int,
    query: str,
    where: list[Any] | None,
    offset: int,
    limit: int,
    by_annotation: Any,
    rest: ItemFilter,
) -> tuple[list[Item], int]:
    """A page of the search's matches, best first (ties by id; in order past search.RANKED_UP_TO), and how many. The matches are counted and
    ordered on the index's ids alone, and only the page's items are read: with no other filter no item row
    is touched for the other matches (a word in 40 % of a million items reads 20 rows, not 400,000)."""
    from store.search import matches, ranked_page

    found = matches(session=session, dataset_id=dataset_id, query=query)
    ids = select(found.c.item_id, found.c.rank)
    # (`+ 0` on SQLite: it would hand each id of a filter's set to FTS5 as a rowid to find, 2.5 s for 36k ids,
    # instead of reading the matches once. PostgreSQL, given the plain id, looks a small set's ids up in the
    # index's primary key rather than reading every match: "refund" and comments at 1M items 200 -> 130 ms,
    # with rejected too 133 -> 34 ms, with disagreement and a month 161 -> 53 ms.)
    match = found.c.item_id + 0 if session.get_bind().dialect.name == "sqlite" else found.c.item_id
    if by_annotation is not None:
        # Only conditions on annotations: each match is looked up in their item ids, no item row read.
        ids = ids.where(match.in_(select(by_annotation.c.item_id)))
    elif where is not None and not (rest.status or rest.annotation_level() or rest.models):
        # Filters on items alone, but a model: each match is looked up in the ids of the dataset's items they
        # select, which their indexes give (import dates, disagreement, comments) without reading an item row.
        # (Joined to its item, each match read its row: "refund" and comments at 1M items, 210 -> 120 ms; with
        # disagreement and a month, 180 -> 80 ms. A model's items are most of a dataset: the set of them cost
        # more than reading the matches' rows, 310 against 390 ms for "refund" and a model.)
        ids = ids.where(match.in_(select(Item.id).where(*where)))
    elif where is not None:  # conditions on annotations and on items: each match's item is read and checked
        ids = ids.join(Item, Item.id == match).where(*where)
    # Filtered matches are counted and paged in as few reads as can be (search.ranked_page, as many or few as
    # _likely_many guesses): apart, the filter's sets were built two or three times (1.1 s for a search with a
    # status and an answer at 1M items).
    filtered = by_annotation is not None or where is not None
    many = filtered and _likely_many(session, dataset_id, found, rest)
    ranked, total = ranked_page(
        session, ids.subquery(), query, offset, limit, once=True if filtered else None, likely_many=many
    )
    page = [i for i, _ in ranked]
    items = {i.id: i for i in session.execute(select(Item).where(Item.id.in_(page))).scalars()}
    return [items[i] for i in page if i in items], int(total)


# How a filtered search guesses whether its matches are more than search.RANKED_UP_TO before reading
# them (search.ranked_page reads them ranked if not, counted in id order if so; a wrong guess costs one more
# read): the filter is checked on the first SAMPLED matches from each of PARTS places spread over the dataset.
PARTS, SAMPLED = 4, 100


def _likely_many(session: Session, dataset_id: int, found: Any, flt: ItemFilter) -> bool:
    """Whether the search's matches (`found`, unfiltered) that `flt` selects are likely more than
    RANKED_UP_TO: the share of sampled matches it selects, times how densely the search matches."""
    ends = _ends(session, dataset_id, Item.id)
    if ends is None:
        return False
    first, last = ends
    span = last - first + 1
    if span <= search.RANKED_UP_TO:  # the dataset holds too few items
        return False
    sample: list[int] = []
    covered = 0  # ids looked through for the sample
    for part in range(PARTS):
        start, end = first + span * part // PARTS, first + span * (part + 1) // PARTS
        ids = (
            session.execute(
                select(found.c.item_id)
                .where(found.c.item_id >= start, found.c.item_id < end)
                .order_by(found.c.item_id)
                .limit(SAMPLED)
            )
            .scalars()
            .all()
        )
        sample.extend(ids)
        covered += (ids[-1] + 1 if len(ids) == SAMPLED else end) - start
    if len(sample) * span / covered <= search.RANKED_UP_TO:  # the search alone matches too few
        return False
    where = conditions(session=session, dataset_id=dataset_id, flt=flt, correlated=True)
    kept = session.execute(
        select(func.count()).select_from(Item).where(Item.id.in_(set(sample)), *where)
    ).scalar_one()
    return kept * span / covered > search.RANKED_UP_TO


def get_item(*, session: Session, user: User, item_id: int) -> Item:
    return visible_item(session=session, user=user, item_id=item_id)


def suggestions_for(*, session: Session, user: User, item_id: int) -> list[Suggestion]:
    visible_item(session=session, user=user, item_id=item_id)
    return list(session.execute(select(Suggestion).where(Suggestion.item_id == item_id)).scalars())


def rename_dataset(
    *, session: Session, user: User, dataset_id: int, name: str, description: str | None = None
) -> Dataset:
    require_admin(user)
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    name = name.strip()
    if not name or len(name) > 200:
        raise InputError("dataset name: 1 to 200 characters")
    other = session.execute(select(Dataset.id).where(Dataset.name == name, Dataset.id != dataset_id)).first()
    if other is not None:
        raise InputError(f"dataset name {name!r}: already exists")
    old = dataset.name
    dataset.name = name
    if description is not None:
        dataset.description = description
    session.add(dataset)
    session.add(
        AuditEvent(user_id=user.id, dataset_id=dataset_id, action="dataset.rename", detail={"from": old})
    )
    session.flush()
    return dataset


SETTINGS = {"shuffle_candidates": bool, "hide_model_names": bool}  # what an admin may set on a dataset


def update_dataset_settings(
    *, session: Session, user: User, dataset_id: int, changes: dict[str, Any]
) -> Dataset:
    """Set dataset settings (blind comparison: shuffle_candidates, hide_model_names); admins only, audited."""
    require_admin(user)
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    for name, value in changes.items():
        if name not in SETTINGS or not isinstance(value, SETTINGS[name]):
            raise InputError(
                f"dataset setting {name!r}: unknown, or not a {SETTINGS.get(name, bool).__name__}"
            )
    dataset.settings = {**(dataset.settings or {}), **changes}  # a new dict: the JSON column sees the change
    session.add(dataset)
    session.add(AuditEvent(user_id=user.id, dataset_id=dataset_id, action="dataset.settings", detail=changes))
    session.flush()
    return dataset


def deletion_impact(*, session: Session, user: User, dataset_id: int) -> dict[str, int]:
    """What deleting the dataset would lose: items, annotations, results, suggestions, comments."""
    require_admin(user)
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    item_ids = select(Item.id).where(Item.dataset_id == dataset_id)
    annotation_ids = select(Annotation.id).where(Annotation.dataset_id == dataset_id)

    def count(model: Any, where: Any) -> int:
        return int(session.execute(select(func.count()).select_from(model).where(where)).scalar_one())

    return {
        "items": count(Item, Item.dataset_id == dataset_id),
        "annotations": count(Annotation, Annotation.dataset_id == dataset_id),
        "results": count(Result, Result.annotation_id.in_(annotation_ids)),
        "suggestions": count(Suggestion, Suggestion.item_id.in_(item_ids)),
        "comments": count(Comment, Comment.item_id.in_(item_ids)),
    }


def delete_dataset(*, session: Session, user: User, dataset_id: int) -> dict[str, int]:
    """Delete the dataset and everything in it (explicitly, child tables first); returns what was lost."""
    require_admin(user)
    dataset = visible_dataset(session=session, user=user, dataset_id=dataset_id)
    lost = deletion_impact(session=session, user=user, dataset_id=dataset_id)
    item_ids = select(Item.id).where(Item.dataset_id == dataset_id)
    annotation_ids = select(Annotation.id).where(Annotation.dataset_id == dataset_id)
    session.execute(delete(Result).where(Result.annotation_id.in_(annotation_ids)))
    session.execute(delete(AnnotationValue).where(AnnotationValue.dataset_id == dataset_id))
    session.execute(delete(Annotation).where(Annotation.dataset_id == dataset_id))
    session.execute(delete(Suggestion).where(Suggestion.item_id.in_(item_ids)))
    session.execute(delete(Comment).where(Comment.item_id.in_(item_ids)))
    search.drop_index(session.connection(), dataset_id)
    session.execute(delete(Item).where(Item.dataset_id == dataset_id))
    session.execute(delete(OntologyClass).where(OntologyClass.dataset_id == dataset_id))
    session.execute(delete(Classification).where(Classification.dataset_id == dataset_id))
    session.execute(delete(ImportJob).where(ImportJob.dataset_id == dataset_id))
    session.execute(delete(DatasetMember).where(DatasetMember.dataset_id == dataset_id))
    session.add(
        AuditEvent(
            user_id=user.id,
            dataset_id=dataset_id,
            action="dataset.delete",
            detail={"name": dataset.name, **lost},
        )
    )
    session.execute(delete(Dataset).where(Dataset.id == dataset_id))
    session.flush()
    session.expunge_all()
    return lost


def import_jobs(*, session: Session, user: User, dataset_id: int, limit: int = 10) -> list[ImportJob]:
    """The dataset's latest imports (sources, counts, errors): for admins, as the Datasets page is."""
    require_admin(user)
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    query = (
        select(ImportJob).where(ImportJob.dataset_id == dataset_id).order_by(ImportJob.id.desc()).limit(limit)
    )
    return list(session.execute(query).scalars())


def asset_bytes(asset_id: str) -> bytes:
    """An image's bytes from the blob store (the id is its sha256)."""
    from store.blobs import get_blob_store

    return get_blob_store().get(asset_id)
