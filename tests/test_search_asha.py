"""ASHA's decisions, non-dominated ranking and the hypervolume, on planted rung results."""

from __future__ import annotations

import pytest

from workers.search_asha import crowding, hypervolume_2d, nondominated_fronts, promotes, rank_order, top_k


def test_top_k_keeps_a_third_and_always_the_best():
    assert [top_k(n, 3) for n in (1, 2, 3, 5, 6, 9, 10)] == [1, 1, 1, 1, 2, 3, 3]


def test_one_objective_promotes_the_top_third_of_what_the_rung_has_seen():
    rung = [(0, (0.50,)), (1, (0.70,)), (2, (0.60,))]
    assert promotes(1, rung, 3) and not promotes(0, rung, 3) and not promotes(2, rung, 3)
    assert promotes(0, rung[:1], 3)  # the first result at a rung is the best so far: it goes on
    assert not promotes(0, rung[:2], 3)  # a better one arrived before it was decided
    six = [(n, (acc,)) for n, acc in enumerate([0.1, 0.9, 0.5, 0.8, 0.3, 0.2])]
    assert [n for n, _ in six if promotes(n, six, 3)] == [1, 3]
    assert [n for n, _ in six if promotes(n, six, 2)] == [1, 2, 3]
    with pytest.raises(ValueError, match="trial 7 has no result"):
        promotes(7, six, 3)


def test_ties_go_to_the_earlier_trial():
    assert rank_order([(3, (0.5,)), (1, (0.5,)), (2, (0.4,))]) == [1, 3, 2]


def test_two_objectives_rank_by_front_then_crowding():
    # (accuracy up, cost down): 0, 1 and 2 trade off; 3 is dominated by 1; 4 by everyone.
    points = [(0.9, 100.0), (0.8, 50.0), (0.6, 10.0), (0.7, 60.0), (0.5, 200.0)]
    assert nondominated_fronts(points) == [[0, 1, 2], [3], [4]]
    dist = crowding(points, [0, 1, 2])
    assert dist[0] == dist[2] == float("inf") and dist[1] == pytest.approx(0.3 / 0.3 + 90 / 90)
    results = list(enumerate(points))
    assert rank_order(results) == [0, 2, 1, 3, 4]
    assert [n for n, _ in results if promotes(n, results, 3)] == [0]
    assert [n for n, _ in results if promotes(n, results, 2)] == [0, 2]


def test_hypervolume_of_a_staircase():
    assert hypervolume_2d([], (0.0, 10.0)) == 0.0
    assert hypervolume_2d([(0.5, 2.0)], (0.0, 10.0)) == pytest.approx(0.5 * 8)
    # cost 2..5 at 0.5, then 5..10 at 0.8; a dominated point adds nothing
    assert hypervolume_2d([(0.5, 2.0), (0.8, 5.0), (0.4, 6.0)], (0.0, 10.0)) == pytest.approx(0.5 * 3 + 0.8 * 5)
    assert hypervolume_2d([(0.5, 12.0)], (0.0, 10.0)) == 0.0  # beyond the reference cost
