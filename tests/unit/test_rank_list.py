"""Drag-to-rank list rules: a dropped order as a ranking (ties kept only while together), the flat order
drawn from a ranking, and the component's check of a dropped order."""

import pytest

from components.rank_list import valid_drop
from core import evaluation as ev


def test_a_dropped_order_is_the_ranking_best_first() -> None:
    assert ev.order_to_ranking([2, 0, 1]) == [2, 0, 1]
    assert ev.order_to_ranking([]) == []
    assert ev.order_to_ranking([1]) == [1]  # the others are unranked
    assert ev.ranking_errors(ev.order_to_ranking([2, 0, 1]), 3) == []


def test_a_tie_stays_while_its_candidates_stay_together() -> None:
    previous = [[0, 1], 2]
    assert ev.order_to_ranking([2, 0, 1], previous) == [2, [0, 1]]
    assert ev.order_to_ranking([2, 1, 0], previous) == [2, [0, 1]]
    # Dragging one tied candidate away splits the tie.
    assert ev.order_to_ranking([0, 2, 1], previous) == [0, 2, 1]
    # Unranking one member of a tie ends the tie.
    assert ev.order_to_ranking([2, 0], previous) == [2, 0]
    assert ev.ranking_to_ranks(ev.order_to_ranking([2, 0, 1], previous)) == {2: 1, 0: 2, 1: 2}


def test_a_candidate_dropped_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="ranked twice"):
        ev.order_to_ranking([0, 1, 0])


def test_ranking_order_is_what_the_list_draws() -> None:
    assert ev.ranking_order([[0, 1], 2]) == [0, 1, 2]
    assert ev.ranking_order([2, 0]) == [2, 0]
    assert ev.ranking_order(None) == []
    for ranking in ([2, 0, 1], [1, [0, 2]], [[0, 1, 2]]):
        assert ev.order_to_ranking(ev.ranking_order(ranking), ranking) == ranking


def test_the_component_takes_only_orders_of_its_own_rows() -> None:
    ids = [0, 1, 2]
    assert valid_drop([2, 0, 1], ids) == [2, 0, 1]
    assert valid_drop(["2", 0], ids) == [2, 0]
    assert valid_drop([], ids) == []
    assert valid_drop([0, 0], ids) is None
    assert valid_drop([3], ids) is None
    assert valid_drop(["x"], ids) is None
    assert valid_drop(None, ids) is None
    assert valid_drop({"order": [0]}, ids) is None


def test_each_drop_is_taken_once_and_never_in_view_mode() -> None:
    """The component's Python side in the test app (AppTest; the drop state is injected as the browser
    would send it): a drop is returned until the page holds it, never again after a later change made
    elsewhere, refused in View mode, and an order naming unknown rows is refused."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    app = Path(__file__).resolve().parents[1] / "shellapp" / "rank_list_app.py"
    at = AppTest.from_file(str(app), default_timeout=30)

    def shown() -> str:
        at.run()
        assert not at.exception
        return at.text[0].value

    assert shown() == "order: [0, 1, 2]"
    at.session_state["ranks"] = {"drop": {"order": [2, 0, 1], "nonce": "n1"}}
    assert shown() == "order: [2, 0, 1]"
    at.session_state["order"] = [1, 2, 0]  # another widget (number keys) ranked afterwards
    assert shown() == "order: [1, 2, 0]"
    at.toggle(key="view").set_value(True)
    at.session_state["ranks"] = {"drop": {"order": [0, 1, 2], "nonce": "n2"}}
    assert shown() == "order: [1, 2, 0]"
    at.toggle(key="view").set_value(False)
    assert shown() == "order: [1, 2, 0]"  # a drop refused in View mode does not come back in Edit mode
    at.session_state["ranks"] = {"drop": {"order": [0, 0, 7], "nonce": "n3"}}
    assert shown() == "order: [1, 2, 0]"
    at.session_state["ranks"] = {"drop": {"order": [0], "nonce": "n4"}}
    assert shown() == "order: [0]"
