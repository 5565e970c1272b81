"""Comments: a thread per item, on a bubble or the whole item; who sees which."""

import pytest

from store.comments import add_comment, list_comments, set_resolved
from store.errors import Forbidden, InputError
from store.models import Item
from tests.utils import make_dataset, make_user


@pytest.fixture
def item(session):
    ds = make_dataset(session, "c")
    it = Item(
        dataset_id=ds.id,
        external_id="1",
        messages=[{"role": "user", "text": "hi"}],
        candidates=[{"text": "a"}],
    )
    session.add(it)
    session.commit()
    return it


def test_thread_with_targets_author_and_time(session, item):
    alice = make_user(session, "alice")
    add_comment(session=session, user=alice, item_id=item.id, text="typo in the prompt", target="m0")
    add_comment(session=session, user=alice, item_id=item.id, text="reply A is cut off", target="c0")
    add_comment(session=session, user=alice, item_id=item.id, text="whole item is odd")
    seen = list_comments(session=session, user=alice, item_id=item.id)
    assert [(c.target, c.text) for c in seen] == [
        ("m0", "typo in the prompt"),
        ("c0", "reply A is cut off"),
        (None, "whole item is odd"),
    ]
    assert seen[0].author == "alice" and seen[0].mine and seen[0].created_at is not None


def test_annotators_see_their_own_and_reviewers_but_not_each_other(session, item):
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    rev = make_user(session, "rev", role="reviewer")
    add_comment(session=session, user=alice, item_id=item.id, text="alice's note")
    add_comment(session=session, user=bob, item_id=item.id, text="bob's note")
    add_comment(session=session, user=rev, item_id=item.id, text="review feedback")
    texts = lambda user: [c.text for c in list_comments(session=session, user=user, item_id=item.id)]  # noqa: E731
    assert texts(alice) == ["alice's note", "review feedback"]
    assert texts(bob) == ["bob's note", "review feedback"]
    assert texts(rev) == ["alice's note", "bob's note", "review feedback"]


def test_bad_comments_are_refused(session, item):
    alice = make_user(session, "alice")
    with pytest.raises(InputError, match="empty"):
        add_comment(session=session, user=alice, item_id=item.id, text="   ")
    with pytest.raises(InputError, match="no such bubble"):
        add_comment(session=session, user=alice, item_id=item.id, text="x", target="m5")
    with pytest.raises(InputError, match="m3 or c1"):
        add_comment(session=session, user=alice, item_id=item.id, text="x", target="zz")


def test_resolve_by_author_or_reviewer_only(session, item):
    alice, bob = make_user(session, "alice"), make_user(session, "bob")
    rev = make_user(session, "rev", role="reviewer")
    cid = add_comment(session=session, user=alice, item_id=item.id, text="check this")
    with pytest.raises(Forbidden):
        set_resolved(session=session, user=bob, comment_id=cid)
    set_resolved(session=session, user=rev, comment_id=cid)
    assert list_comments(session=session, user=alice, item_id=item.id)[0].resolved
