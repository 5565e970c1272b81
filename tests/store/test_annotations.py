"""Annotations: drafts, save, submit, the version guard, and who may touch which item."""

import pytest

from store.annotations import load_work, save_annotation, save_draft
from store.errors import Conflict, InputError, NotFound
from store.models import DatasetMember, Item, OntologyClass
from tests.utils import make_dataset, make_user


@pytest.fixture
def item(session):
    ds = make_dataset(session, "d1")
    it = Item(dataset_id=ds.id, external_id="1", messages=[{"role": "user", "text": "hi"}], candidates=[])
    cls = OntologyClass(dataset_id=ds.id, name="quality", tool="dialog_evaluation", number=1)
    session.add_all([it, cls])
    session.commit()
    return it, cls


def test_draft_then_save_then_submit(session, item):
    it, cls = item
    alice = make_user(session, "alice")
    loaded = load_work(session=session, user=alice, item_id=it.id)
    assert loaded.status == "new" and loaded.version == 0
    work = {**loaded.work, "results": [{"class_id": cls.id, "message": 0, "values": {"score": "4"}}]}
    v1 = save_draft(session=session, user=alice, item_id=it.id, work=work, version=0)
    again = load_work(session=session, user=alice, item_id=it.id)
    assert again.has_unsaved_draft and again.work["results"][0]["values"] == {"score": "4"}
    v2 = save_annotation(session=session, user=alice, item_id=it.id, work=work, version=v1)
    saved = load_work(session=session, user=alice, item_id=it.id)
    assert saved.status == "saved" and not saved.has_unsaved_draft and saved.version == v2
    assert saved.work["results"][0]["message"] == 0
    save_annotation(session=session, user=alice, item_id=it.id, work=work, version=v2, submit=True)
    assert load_work(session=session, user=alice, item_id=it.id).status == "submitted"


def test_stale_version_is_a_conflict_and_changes_nothing(session, item):
    it, cls = item
    alice = make_user(session, "alice")
    work = {"results": [{"class_id": cls.id, "message": 0, "values": {"score": "1"}}]}
    save_annotation(session=session, user=alice, item_id=it.id, work=work, version=0)
    other = {"results": [{"class_id": cls.id, "message": 0, "values": {"score": "5"}}]}
    with pytest.raises(Conflict, match="another tab"):
        save_annotation(session=session, user=alice, item_id=it.id, work=other, version=0)
    session.rollback()
    assert load_work(session=session, user=alice, item_id=it.id).work["results"][0]["values"] == {
        "score": "1"
    }


def test_two_annotators_keep_their_own(session, item):
    it, cls = item
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    save_annotation(
        session=session,
        user=alice,
        item_id=it.id,
        work={"results": [{"class_id": cls.id, "message": 0, "values": {"s": "a"}}]},
        version=0,
    )
    save_annotation(
        session=session,
        user=bob,
        item_id=it.id,
        work={"results": [{"class_id": cls.id, "message": 0, "values": {"s": "b"}}]},
        version=0,
    )
    assert load_work(session=session, user=alice, item_id=it.id).work["results"][0]["values"] == {"s": "a"}
    assert load_work(session=session, user=bob, item_id=it.id).work["results"][0]["values"] == {"s": "b"}


def test_same_class_twice_on_one_target_is_refused(session, item):
    it, cls = item
    alice = make_user(session, "alice")
    twice = {"results": [{"class_id": cls.id, "message": 0}, {"class_id": cls.id, "message": 0}]}
    with pytest.raises(InputError, match="twice"):
        save_annotation(session=session, user=alice, item_id=it.id, work=twice, version=0)


def test_restricted_dataset_hides_items_from_non_members(session, item):
    it, _ = item
    ds = it.dataset_id
    from store.models import Dataset

    dataset = session.get(Dataset, ds)
    dataset.restricted = True
    session.add(dataset)
    session.commit()
    outsider, member = make_user(session, "outsider"), make_user(session, "member")
    session.add(DatasetMember(dataset_id=ds, user_id=member.id))
    session.commit()
    with pytest.raises(NotFound):
        load_work(session=session, user=outsider, item_id=it.id)
    assert load_work(session=session, user=member, item_id=it.id).status == "new"
