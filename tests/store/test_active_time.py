"""Active time on an item: added to the annotator's annotation, never a change of its work."""

import pytest

from store.annotations import add_active_time, load_work, save_draft
from store.errors import InputError, NotFound
from store.models import Annotation
from tests.store.test_team_queue import add_user, team


def test_active_seconds_add_up_without_touching_the_version(session):
    ds, items, _ = team(session, n=2, overlap=1)
    alice = add_user(session, "alice")
    assert (
        add_active_time(session=session, user=alice, item_id=items[0].id, seconds=5) is False
    )  # nothing yet
    version = save_draft(session=session, user=alice, item_id=items[0].id, work={"results": []}, version=0)
    assert add_active_time(session=session, user=alice, item_id=items[0].id, seconds=12.5) is True
    assert add_active_time(session=session, user=alice, item_id=items[0].id, seconds=3) is True
    session.expire_all()
    ann = session.query(Annotation).filter_by(item_id=items[0].id, annotator_id=alice.id).one()
    assert ann.active_seconds == pytest.approx(15.5)
    assert load_work(session=session, user=alice, item_id=items[0].id).version == version  # no conflict


@pytest.mark.parametrize("seconds", [0, -1, 121])
def test_a_report_outside_one_interval_is_refused(session, seconds):
    ds, items, _ = team(session, n=1, overlap=1)
    alice = add_user(session, "alice")
    save_draft(session=session, user=alice, item_id=items[0].id, work={"results": []}, version=0)
    with pytest.raises(InputError):
        add_active_time(session=session, user=alice, item_id=items[0].id, seconds=seconds)


def test_only_for_items_the_user_may_open(session):
    ds, items, _ = team(session, n=1, overlap=1)
    alice = add_user(session, "alice")
    with pytest.raises(NotFound):
        add_active_time(session=session, user=alice, item_id=10_000, seconds=5)
