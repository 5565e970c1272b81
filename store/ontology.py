"""Ontology: a dataset's classes (Dialog Evaluation / Dialog Response) and classifications."""

from __future__ import annotations

from sqlmodel import Session, select

from store.models import Classification, OntologyClass


def list_classes(*, session: Session, dataset_id: int, include_deleted: bool = False) -> list[OntologyClass]:
    """The dataset's classes by number."""
    query = select(OntologyClass).where(OntologyClass.dataset_id == dataset_id)
    if not include_deleted:
        query = query.where(OntologyClass.deleted_at == None)  # noqa: E711
    return list(session.exec(query.order_by(OntologyClass.number, OntologyClass.id)).all())


def list_classifications(
    *, session: Session, dataset_id: int, include_deleted: bool = False
) -> list[Classification]:
    """The dataset's item-level questions in their order."""
    query = select(Classification).where(Classification.dataset_id == dataset_id)
    if not include_deleted:
        query = query.where(Classification.deleted_at == None)  # noqa: E711
    return list(session.exec(query.order_by(Classification.position, Classification.id)).all())
