"""Item filters in SQL (core/filters.py's ItemFilter: what each field means); saved filters are in
store/saved_filters.py.

`item_conditions` returns WHERE conditions on `Item` over the annotation, result and comment tables, in one
of two forms with the same meaning:
- `Item.id IN (subquery)` (or NOT IN): every filter is read once, whole, from an index and then looked up per
  item — for counts, a page of the list and Export's reads, which visit most of the dataset anyway.
  Annotation conditions go through ix_annotation_dataset_status (dataset, status, final, item) or the annotator
  index; classes and answers through the annotation values (store/annotation_values.py); comments by item.
- `correlated=True`: `EXISTS (SELECT 1 … WHERE annotation.item_id = item.id AND …)` (or NOT EXISTS), checked
  per candidate item through the (item_id, annotator_id) index — for the tool pages' ←/→ and next item
  (store/queue.py), which walk items in (position, id) order and stop after a few: building the whole set
  first cost ~1-3 s a step at 1M items (240k submitted ids), the per-row check milliseconds.
Full-text search is IN for counts; for navigation it is checked per item when the index finds many
matches (store.search.item_matches).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, time, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Text,
    and_,
    cast,
    false,
    func,
    literal_column,
    or_,
    select,
    text,
    true,
    union_all,
    update,
)
from sqlalchemy.orm import aliased
from sqlalchemy.orm.util import identity_key
from sqlmodel import Session

from core.filters import FilterError, ItemFilter
from store import annotation_values
from store.access import visible_dataset
from store.errors import InputError
from store.models import (
    Annotation,
    AnnotationValue,
    Classification,
    Comment,
    Item,
    OntologyClass,
    Result,
    User,
)

# ItemFilter statuses → the annotators' own statuses (final answers are their own status, "final").
_OWN = {"draft": ("draft", "saved"), "submitted": ("submitted",), "accepted": ("accepted",),
        "rejected": ("rejected",)}  # fmt: skip
# Work handed in: submitted, or accepted by a reviewer since (rejected work is to do again). What "annotators
# disagree" compares, what the tool pages' "Submitted by me" holds, what the Datasets table counts as submitted.
DONE = ("submitted", "accepted")


def parse(spec: Any) -> ItemFilter:
    """An ItemFilter from its JSON form; InputError (one line) when it cannot be read."""
    if isinstance(spec, ItemFilter):
        return spec
    try:
        return ItemFilter.from_dict(spec)
    except FilterError as err:
        raise InputError(str(err)) from None


def item_conditions(
    *, session: Session, user: User, dataset_id: int, flt: ItemFilter | None, correlated: bool = False
) -> list[ColumnElement[bool]]:
    """WHERE conditions on Item selecting the dataset's items `flt` selects (none for an empty filter).

    The dataset must be one `user` may see (NotFound otherwise); names the filter uses (classes,
    classifications) must exist in the dataset (InputError otherwise).
    """
    visible_dataset(session=session, user=user, dataset_id=dataset_id)
    return conditions(session=session, dataset_id=dataset_id, flt=flt, correlated=correlated)


def conditions(
    *, session: Session, dataset_id: int, flt: ItemFilter | None, correlated: bool = False
) -> list[ColumnElement[bool]]:
    """item_conditions without the check: inside checked calls (the queue's, Export's and the report's reads).

    `correlated`: EXISTS per item instead of IN over the whole set (module doc: for navigation)."""
    if flt is None or flt.is_empty():
        return []
    flt.check()
    where: list[ColumnElement[bool]] = []
    if flt.search.strip() and correlated:
        from store.search import item_matches

        where.append(item_matches(session=session, dataset_id=dataset_id, query=flt.search))
    elif flt.search.strip():
        where.append(Item.id.in_(select(_search(session, dataset_id, flt.search).c.item_id)))
    where.extend(_annotation_conditions(session, dataset_id, flt, correlated))
    if flt.comments is not None and not _comments_with_annotation(flt, correlated):
        if correlated or (not flt.comments and not _sqlite(session)):
            commented = select(Comment.item_id).where(Comment.item_id == Item.id).correlate(Item).exists()
            where.append(commented if flt.comments else ~commented)
        else:
            # (every dataset's commented items: the item's own dataset is the caller's condition; joining
            # the items here to keep just this dataset's made SQLite read them all, 230-580 ms at 1M)
            ids = select(Comment.item_id)
            where.append(Item.id.in_(ids) if flt.comments else Item.id.not_in(ids))
    if flt.disagree:
        where.append(Item.disagree == true())  # kept by refresh_disagree
    if flt.models:
        where.append(_model_condition(session, dataset_id, flt.models))
    if flt.imported_from:
        where.append(Item.created_at >= datetime.combine(flt.imported_from, time.min, UTC))
    if flt.imported_to:
        where.append(Item.created_at < datetime.combine(flt.imported_to + timedelta(days=1), time.min, UTC))
    return where


def _comments_with_annotation(flt: ItemFilter, correlated: bool) -> bool:
    """Whether "has comments" is a condition inside the annotation subquery (the annotation's item has a
    comment) rather than one on the item: when the filter selects items by an annotation (IN form).

    The smaller set then leads. Beside it, PostgreSQL joined the comments to every item of the dataset before
    checking their annotations (rejected · invalid · has comments at 1M items: 52 items in 310 ms); inside,
    it reads the 6k rejected invalid annotations and keeps those whose item has a comment (30 ms)."""
    return (
        flt.comments is True
        and not correlated
        and "untouched" not in flt.status
        and bool(flt.status or flt.annotation_level())
    )


def _search(session: Session, dataset_id: int, query: str) -> Any:
    """The full-text matches (columns item_id, rank; store/search.py)."""
    from store.search import matches

    return matches(session=session, dataset_id=dataset_id, query=query)


def _annotators(names: list[str]) -> Any:
    return select(User.id).where(User.username.in_(names))


def _sqlite(session: Session) -> bool:
    """Whether the session is on SQLite, whose planner some conditions are written differently for.

    "Not among these items" is NOT IN on SQLite and NOT EXISTS elsewhere. PostgreSQL hashes a NOT IN subquery
    only when its ids fit in work_mem (4 MB by default); past that it checks each item against the whole list:
    rank_of under "untouched" at 1M items (300k annotated ids) ran for more than 18 minutes. NOT EXISTS is an
    anti-join it hashes at any size. SQLite builds the NOT IN list once and looks each item up in it, where
    NOT EXISTS would search the index per item."""
    return session.get_bind().dialect.name == "sqlite"


# The filters' aliases, made once: a new alias per read cost more than the read (SQLAlchemy adapts each column
# of a new alias when first used: 40 % of next_todo's time under a filter on a small dataset). An alias is a
# name in SQL, so one object serves every statement; each use is a subquery of its own.
_ANN = aliased(Annotation, name="flt_annotation")
_VALUE = aliased(AnnotationValue, name="flt_value")


def _items_with(ann: Any, where: list[ColumnElement[bool]], correlated: bool) -> ColumnElement[bool]:
    """The item has an annotation (`ann`, an alias of Annotation) meeting `where`: IN or a correlated EXISTS."""
    if correlated:
        return select(ann.item_id).where(ann.item_id == Item.id, *where).correlate(Item).exists()
    return Item.id.in_(select(ann.item_id).where(*where))


def count_selected(*, session: Session, dataset_id: int, flt: ItemFilter | None) -> int:
    """How many of the dataset's items `flt` selects (inside checked reads: the Datasets list, the tool
    page's "n / total").

    A filter with conditions on one annotation only (status other than untouched, annotators, class, answer,
    validity; and "has comments") is counted as the distinct item ids of the annotations that meet them, from
    the annotation indexes alone: at 1M items `Item.id IN (…)` looked up every selected item's row (500 ms for
    240k items), this reads no item row (240 ms)."""
    if flt is not None and flt == ItemFilter(status=["untouched"], annotators=flt.annotators):
        # the dataset's items less the annotated ones, both counted on an index (a NOT IN over every item
        # took 650 ms at 1M items, this 120 ms)
        flt.check()
        items = select(func.count()).select_from(Item).where(Item.dataset_id == dataset_id)
        ann, anyone = _annotators_work(dataset_id, flt.annotators)
        annotated = select(func.count(ann.item_id.distinct())).where(*anyone)
        return int(session.execute(items).scalar_one()) - int(session.execute(annotated).scalar_one())
    found = annotation_items(session=session, dataset_id=dataset_id, flt=flt) if flt is not None else None
    if found is not None:
        return int(session.execute(select(func.count(found.c.item_id.distinct()))).scalar_one())
    where = conditions(session=session, dataset_id=dataset_id, flt=flt)
    query = select(func.count()).select_from(Item).where(Item.dataset_id == dataset_id, *where)
    return int(session.execute(query).scalar_one())


def annotation_items(*, session: Session, dataset_id: int, flt: ItemFilter) -> Any:
    """The item ids `flt` selects (a subquery, column item_id, an id possibly more than once) when it sets
    conditions on one annotation only, and perhaps "has comments" (see count_selected); None for any other
    filter."""
    if flt.is_empty() or "untouched" in flt.status or not (flt.status or flt.annotation_level()):
        return None
    rest = ItemFilter(status=flt.status, annotators=flt.annotators, label=flt.label, attribute=flt.attribute,
                      value=flt.value, question=flt.question, answer=flt.answer, validity=flt.validity,
                      comments=True if flt.comments else None)  # fmt: skip
    if rest != flt:
        return None
    flt.check()
    by_value = _value_items(session, dataset_id, flt)
    if by_value is not None:
        return by_value.subquery("by_value")
    ann, where = _annotation_where(session, dataset_id, flt, correlated=False)
    return select(ann.item_id.label("item_id")).where(*where).subquery("by_annotation")


def _annotation_where(
    session: Session, dataset_id: int, flt: ItemFilter, correlated: bool
) -> tuple[Any, list[ColumnElement[bool]]]:
    """The annotation alias and the conditions one annotation must meet (status, annotators, class,
    classification answer, validity), within the dataset.

    `correlated` (checked per item, whose id names the dataset): no condition on the annotation's dataset, so
    that SQLite looks the item's annotations up by item id. Given `dataset_id = ?` too, and no statistics
    (ANALYZE), it chose the covering (dataset, status, final, item) index and read all 900k of the dataset's
    annotations for each item."""
    touched = [s for s in flt.status if s != "untouched"]
    on_work = bool(flt.label or flt.question or flt.validity)
    # an alias: the queue's reads join the user's own annotation, which a correlated EXISTS must not take
    ann = _ANN
    where: list[ColumnElement[bool]] = [] if correlated else [ann.dataset_id == dataset_id]
    if touched:
        own = [v for s in touched for v in _OWN.get(s, ())]
        either = []
        # With annotators named, their covering (annotator, dataset, item, status, final) index answers all of
        # it; `|| ''` keeps SQLite off the (dataset, status, …) index, which leaves each annotator to look up
        # (submitted · ann1 · model at 1M items: 360 -> 210 ms). Not on PostgreSQL: it cannot estimate the
        # expression and looked 128k items up one by one (770 ms).
        status = ann.status + "" if flt.annotators and not correlated and _sqlite(session) else ann.status
        if own:
            either.append(and_(status.in_(own), ann.final == false()))
        if "final" in touched:
            either.append(ann.final == true())
        where.append(or_(*either) if len(either) > 1 else either[0])
    if flt.annotators:
        where.append(ann.annotator_id.in_(_annotators(flt.annotators)))
    if on_work:
        where.append(ann.status != "draft")  # a draft's work is not in its columns yet
    if flt.validity == "invalid":  # (written out, not a parameter: the partial ix_annotation_invalid applies)
        where.append(ann.validity == literal_column("'invalid'"))
    elif flt.validity:
        where.append(ann.validity == flt.validity)
    if flt.question:
        where.append(_with_value(dataset_id, ann, _answer_lookup(session, dataset_id, flt), correlated))
    if flt.label:
        where.append(_with_value(dataset_id, ann, _result_lookup(session, dataset_id, flt), correlated))
    if _comments_with_annotation(flt, correlated):
        where.append(ann.item_id.in_(select(Comment.item_id)))
    return ann, where


def _annotation_conditions(
    session: Session, dataset_id: int, flt: ItemFilter, correlated: bool
) -> list[ColumnElement[bool]]:
    """status, annotators, class (attribute value), classification answer and validity: one annotation."""
    touched = [s for s in flt.status if s != "untouched"]
    on_work = bool(flt.label or flt.question or flt.validity)
    by_value = None if correlated else _value_items(session, dataset_id, flt)
    if by_value is not None:
        return [Item.id.in_(by_value)]
    ann, where = _annotation_where(session, dataset_id, flt, correlated)
    annotated = _items_with(ann, where, correlated)
    needs_annotation = bool(touched or on_work or (flt.annotators and not flt.status))
    if "untouched" not in flt.status:
        return [annotated] if needs_annotation else []
    _, anyone = _annotators_work(dataset_id, flt.annotators, ann, correlated)
    untouched = ~_items_with(ann, anyone, correlated or not _sqlite(session))
    if touched:
        return [or_(untouched, annotated)]
    return [untouched, annotated] if on_work else [untouched]


def _annotators_work(
    dataset_id: int, names: list[str], ann: Any = None, correlated: bool = False
) -> tuple[Any, list[ColumnElement[bool]]]:
    """An annotation alias and the conditions for any annotation in the dataset (by one of `names`, if any):
    what "untouched" asks there is none of. (`correlated`: see _annotation_where.)"""
    ann = ann if ann is not None else _ANN
    where: list[ColumnElement[bool]] = [] if correlated else [ann.dataset_id == dataset_id]
    if names:
        where.append(ann.annotator_id.in_(_annotators(names)))
    return ann, where


def _like_json(column: Any, value: str) -> ColumnElement[bool]:
    """The JSON text in `column` holds the JSON string `value` (an element of a list, or the string itself),
    in either encoding of non-ASCII text (escaped by json.dumps, raw as the databases write it back)."""
    encodings = {json.dumps(value), json.dumps(value, ensure_ascii=False)}
    return or_(*(column.like("%" + _escape_like(e) + "%", escape="\\") for e in encodings))


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _candidate_index(label: str) -> int | None:
    """ "A" → 0, "B" → 1 … "AA" → 26; None for anything else."""
    label = label.strip().upper()
    if not label.isalpha() or not label.isascii() or len(label) > 2:
        return None
    index = 0
    for ch in label:
        index = index * 26 + (ord(ch) - 64)
    return index - 1


_Lookup = tuple[list[str], str | None]  # AnnotationValue keys (any of them) and the value (None: any)


def _value_rows(dataset_id: int | None, lookup: _Lookup) -> tuple[Any, list[ColumnElement[bool]]]:
    """An AnnotationValue alias and the conditions of `lookup` on it (within the dataset unless None)."""
    keys, value = lookup
    found = _VALUE
    where = [found.key.in_(keys) if len(keys) > 1 else found.key == keys[0]]
    if dataset_id is not None:
        where.append(found.dataset_id == dataset_id)
    if value is not None:
        where.append(found.value == value)
    return found, where


def _with_value(dataset_id: int, ann: Any, lookup: _Lookup, correlated: bool) -> ColumnElement[bool]:
    """The annotation `ann` has a value `lookup` names: a correlated EXISTS on the value's primary key
    (annotation, key, value), or IN over the (dataset, key, value, item, annotation) index."""
    found, where = _value_rows(None if correlated else dataset_id, lookup)
    if correlated:
        return (
            select(found.annotation_id).where(found.annotation_id == ann.id, *where).correlate(ann).exists()
        )
    return ann.id.in_(select(found.annotation_id).where(*where))


def _value_items(session: Session, dataset_id: int, flt: ItemFilter) -> Any:
    """The item ids (a Select, an id possibly more than once) when the filter's annotation condition is one
    class or one answer and nothing else (no status, annotators, validity): read from the values' index
    alone, with no annotation looked up (class score = 4 at 1M items: 250 -> 30 ms). None otherwise."""
    if flt.status or flt.annotators or flt.validity or bool(flt.label) == bool(flt.question):
        return None
    lookup = (
        _result_lookup(session, dataset_id, flt) if flt.label else _answer_lookup(session, dataset_id, flt)
    )
    found, where = _value_rows(dataset_id, lookup)
    if _comments_with_annotation(flt, correlated=False):
        where.append(found.item_id.in_(select(Comment.item_id)))
    return select(found.item_id.label("item_id")).where(*where)


def _answer_lookup(session: Session, dataset_id: int, flt: ItemFilter) -> _Lookup:
    """The value of the answer `flt.answer` to the classification `flt.question` (core/filters.py)."""
    name, answer = flt.question, flt.answer
    question = session.execute(
        select(Classification).where(Classification.dataset_id == dataset_id, Classification.name == name)
    ).scalar_one_or_none()
    if question is None:
        raise InputError(f"filter field question: no classification named {name!r} in this dataset")
    if question.type in ("radio", "text", "checkbox"):
        value = annotation_values.encode(answer)
    elif question.type == "pairwise" and answer.strip().lower() == "tie":
        value = "#tie"
    else:
        index = _candidate_index(answer)
        if index is None:
            raise InputError(
                f"filter field answer: {answer!r} is not a candidate label (A, B, …) for {name!r}"
            )
        value = f"#first:{index}" if question.type == "ranking" else f"#chosen:{index}"
    return [annotation_values.question_key(question.id)], value  # type: ignore[arg-type]


def _result_lookup(session: Session, dataset_id: int, flt: ItemFilter) -> _Lookup:
    """The values of a result of class `flt.label` (with its attribute `flt.attribute` set; to `flt.value`
    when given: one of its elements for a list)."""
    classes = list(
        session.execute(
            select(OntologyClass.id, OntologyClass.attributes).where(
                OntologyClass.dataset_id == dataset_id, OntologyClass.name == flt.label
            )
        ).all()
    )
    if not classes:
        raise InputError(f"filter field label: no class named {flt.label!r} in this dataset")
    if flt.attribute and not any(
        a.get("name") == flt.attribute for _, attributes in classes for a in attributes or ()
    ):
        raise InputError(f"filter field attribute: class {flt.label!r} has no attribute {flt.attribute!r}")
    if not flt.attribute:
        return [annotation_values.class_key(c) for c, _ in classes], ""
    keys = [annotation_values.class_key(c, flt.attribute) for c, _ in classes]
    return keys, annotation_values.encode(flt.value) if flt.value else None


def refresh_disagree(session: Session, item_ids: list[int]) -> None:
    """Recompute Item.disagree ("annotators disagree") of these items: after any change to their submitted or
    accepted work (a save or submit, a review's verdict or fix, imported annotations)."""
    ids = sorted(set(item_ids))
    if not ids:
        return
    flagged = Item.id.in_(disagreeing(item_ids=ids))
    session.execute(
        update(Item).where(Item.id.in_(ids)).values(disagree=flagged),
        execution_options={"synchronize_session": False},
    )
    for item_id in ids:  # (a bulk update: an Item already in the session reads the new value again)
        loaded = session.identity_map.get(identity_key(Item, item_id))
        if loaded is not None:
            session.expire(loaded, ["disagree"])


def disagreeing(*, dataset_id: int | None = None, item_ids: list[int] | None = None) -> Any:
    """Items (of the dataset, among `item_ids`; all when neither is given) with ≥ 2 submitted/accepted
    annotations where some judgement is in one and not in all.

    A judgement is a result (class, bubble, its values and text as stored) or one classification answer
    (question, answer as stored). Counting, per item, the annotations holding each judgement: they agree
    exactly when every judgement is held by all of them (an annotation holds a judgement at most once).
    Two grouped reads over the finished annotations: seconds on a million items (bench/filters.py), so the
    filter reads Item.disagree, which refresh_disagree keeps with this query for one item at a time (and
    migration 0004 for all).
    """
    where = [Annotation.status.in_(DONE), Annotation.final == false()]
    if dataset_id is not None:
        where.append(Annotation.dataset_id == dataset_id)
    if item_ids is not None:
        where.append(Annotation.item_id.in_(item_ids))
    done = and_(*where)
    counts = (
        select(Annotation.item_id, func.count().label("n"))
        .where(done)
        .group_by(Annotation.item_id)
        .having(func.count() >= 2)
        .subquery()
    )
    by_result = (
        select(Annotation.item_id, func.count().label("k"))
        .join(Result, Result.annotation_id == Annotation.id)
        .where(done)
        .group_by(Annotation.item_id, Result.class_id, Result.slot, cast(Result.values, Text), Result.text)
        .subquery()
    )
    answers = func.json_each(Annotation.classifications).table_valued("key", "value")
    by_answer = (
        select(Annotation.item_id, func.count().label("k"))
        .select_from(Annotation)
        .join(answers, true())
        .where(done)
        .group_by(Annotation.item_id, answers.c.key, cast(answers.c.value, Text))
        .subquery()
    )
    return union_all(
        *(
            select(counts.c.item_id)
            .join(held, held.c.item_id == counts.c.item_id)
            .where(held.c.k < counts.c.n)
            for held in (by_result, by_answer)
        )
    )


# The distinct model lists of a dataset are few (one per combination of models its candidates name), so the
# model filter reads them first, one seek each on ix_item_models, and selects the items holding one of the
# matching lists through the same index: at 1M items 40 ms, where LIKE on every item's list took 300 ms.
# Past MODEL_LISTS_UP_TO distinct lists it tests each item's list instead.
MODEL_LISTS_UP_TO = 256
_MODEL_LISTS = text(
    "WITH RECURSIVE m(v) AS ("
    " SELECT min(models) FROM item WHERE dataset_id = :dataset_id"
    " UNION ALL"
    " SELECT (SELECT min(models) FROM item WHERE dataset_id = :dataset_id AND models > m.v) FROM m"
    " WHERE m.v IS NOT NULL)"
    " SELECT v FROM m WHERE v IS NOT NULL LIMIT :up_to"
)


def model_lists(session: Session, dataset_id: int) -> list[str] | None:
    """The dataset's distinct Item.models texts, in order; None past MODEL_LISTS_UP_TO of them."""
    params = {"dataset_id": dataset_id, "up_to": MODEL_LISTS_UP_TO + 1}
    lists = list(session.execute(_MODEL_LISTS, params).scalars())
    return lists if len(lists) <= MODEL_LISTS_UP_TO else None


def _model_condition(session: Session, dataset_id: int, models: list[str]) -> ColumnElement[bool]:
    """The item has a candidate written by one of `models` (a name each; Item.models is a JSON list)."""
    lists = model_lists(session, dataset_id)
    if lists is None:
        return or_(*(_like_json(Item.models, name) for name in models))
    wanted = set(models)
    chosen = [v for v in lists if wanted.intersection(m for m in json.loads(v) if isinstance(m, str))]
    return Item.models.in_(chosen) if chosen else false()
