"""Asynchronous successive halving (ASHA, Li et al. 2020) as pure functions over a rung's results.

A trial that reaches rung r (its hold epoch) is promoted to the next rung iff it is among the
top k = max(1, floor(n / eta)) of the n results seen so far at rung r, itself included; else it is
stopped early. Decided at once, with what is known then (asynchronous: no rung waits to fill up),
as Optuna's SuccessiveHalvingPruner does; k >= 1 means a trial that is the best so far always goes on.

One objective: ranked by test accuracy (higher is better). Two objectives (accuracy up, cost down):
ranked by non-dominated front (Deb's fast non-dominated sort), then by crowding distance within a
front (larger first), then by trial number, so the order is total and reproducible.
"""

from __future__ import annotations

import math
from typing import Hashable, Sequence

__all__ = ["promotes", "rank_order", "nondominated_fronts", "crowding", "hypervolume_2d", "top_k"]

Values = tuple[float, ...]  # (accuracy,) or (accuracy, cost)


def top_k(n: int, eta: int) -> int:
    """How many of n results at a rung go on: max(1, n // eta)."""
    return max(1, n // eta)


def _dominates(a: Values, b: Values) -> bool:
    """a is at least as good in both (accuracy up, cost down) and better in one."""
    ge = a[0] >= b[0] and a[1] <= b[1]
    return ge and (a[0] > b[0] or a[1] < b[1])


def nondominated_fronts(points: Sequence[Values]) -> list[list[int]]:
    """Indices of `points` by front: the first holds the points nothing dominates, and so on."""
    n = len(points)
    dominated_by = [0] * n
    dominates: list[list[int]] = [[] for _ in range(n)]
    for i in range(n):
        for j in range(n):
            if i != j and _dominates(points[i], points[j]):
                dominates[i].append(j)
            elif i != j and _dominates(points[j], points[i]):
                dominated_by[i] += 1
    fronts, current = [], [i for i in range(n) if dominated_by[i] == 0]
    while current:
        fronts.append(sorted(current))
        nxt = []
        for i in current:
            for j in dominates[i]:
                dominated_by[j] -= 1
                if dominated_by[j] == 0:
                    nxt.append(j)
        current = nxt
    return fronts


def crowding(points: Sequence[Values], front: Sequence[int]) -> dict[int, float]:
    """NSGA-II crowding distance of each index of `front`: the ends of each objective get infinity."""
    out = {i: 0.0 for i in front}
    for m in range(len(points[front[0]])):
        ordered = sorted(front, key=lambda i: points[i][m])
        span = points[ordered[-1]][m] - points[ordered[0]][m]
        out[ordered[0]] = out[ordered[-1]] = math.inf
        if span <= 0:
            continue
        for a, b, c in zip(ordered, ordered[1:], ordered[2:]):
            out[b] += (points[c][m] - points[a][m]) / span
    return out


def rank_order(results: Sequence[tuple[Hashable, Values]]) -> list[Hashable]:
    """The keys of `results` (key, values) best first (see the module docstring for the order)."""
    if not results:
        return []
    keys = [k for k, _ in results]
    points = [tuple(float(x) for x in v) for _, v in results]
    if len(points[0]) == 1:
        order = sorted(range(len(points)), key=lambda i: (-points[i][0], keys[i]))
        return [keys[i] for i in order]
    out: list[Hashable] = []
    for front in nondominated_fronts(points):
        dist = crowding(points, front)
        out += [keys[i] for i in sorted(front, key=lambda i: (-dist[i], keys[i]))]
    return out


def promotes(key: Hashable, results: Sequence[tuple[Hashable, Values]], eta: int) -> bool:
    """Whether the trial `key` (one of `results`, a rung's results so far) goes on to the next rung."""
    order = rank_order(results)
    if key not in order:
        raise ValueError(f"trial {key!r} has no result at this rung")
    return order.index(key) < top_k(len(order), eta)


def hypervolume_2d(points: Sequence[tuple[float, float]], ref: tuple[float, float]) -> float:
    """Area dominated by (accuracy, cost) points (accuracy up, cost down) and bounded by `ref`
    (the worst accuracy and the largest cost counted): the front's hypervolume."""
    acc_ref, cost_ref = ref
    kept = sorted((c, a) for a, c in points if a > acc_ref and c < cost_ref)
    # Sweep by cost: each step's height is the best accuracy reached at that cost or cheaper.
    area, best, prev = 0.0, acc_ref, None
    for cost, acc in kept:
        if prev is not None:
            area += (cost - prev) * (best - acc_ref)
        best, prev = max(best, acc), cost
    if prev is not None:
        area += (cost_ref - prev) * (best - acc_ref)
    return area
