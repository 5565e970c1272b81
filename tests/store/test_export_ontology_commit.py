"""import_ontology(commit=False) leaves the decision to the caller's transaction (a native import's), on
SQLite and PostgreSQL; apply_native uses it, so a failed native import leaves no classes behind."""

import pytest
from sqlmodel import select

from store.models import Classification, OntologyClass
from store.ontology import import_ontology
from store.roundtrip import apply_native
from tests.store.export_data import ONTOLOGY
from tests.utils import make_dataset, make_user


def class_names(session, dataset_id):
    return sorted(session.exec(select(OntologyClass.name).where(OntologyClass.dataset_id == dataset_id)))


def test_without_commit_a_rollback_takes_the_ontology_back(session):
    admin = make_user(session, "boss", role="admin")
    ds = make_dataset(session, "nocommit")
    summary = import_ontology(session=session, user=admin, dataset_id=ds.id, data=ONTOLOGY, commit=False)
    assert summary["created"] == 2
    assert class_names(session, ds.id) == [
        "helpfulness",
        "ideal_reply",
    ]  # flushed: visible in the transaction
    session.rollback()
    assert class_names(session, ds.id) == []
    assert not session.exec(select(Classification).where(Classification.dataset_id == ds.id)).all()


def test_by_default_it_commits(session):
    admin = make_user(session, "boss", role="admin")
    ds = make_dataset(session, "commits")
    import_ontology(session=session, user=admin, dataset_id=ds.id, data=ONTOLOGY)
    session.rollback()
    assert class_names(session, ds.id) == ["helpfulness", "ideal_reply"]


def test_a_native_import_that_fails_after_the_ontology_leaves_no_classes(session):
    admin = make_user(session, "boss", role="admin")
    ds = make_dataset(session, "halfway")
    with pytest.raises(AttributeError):
        # A broken item (None, not a ParsedItem): apply_native fails after merging the ontology.
        apply_native(session=session, user=admin, dataset=ds, ontology=ONTOLOGY, items=[(1, None)])
    session.rollback()
    assert class_names(session, ds.id) == []
