"""Figures of the Search page (plotly only): best accuracy so far against wall time, and the Pareto
front of accuracy against cost. Each takes a `workers.search.SearchView`."""

from __future__ import annotations

import plotly.graph_objects as go

from workers.search import SearchView


def best_curve(view: SearchView) -> go.Figure:
    fig = go.Figure(go.Scatter(x=[t for t, _ in view.best_curve], y=[b for _, b in view.best_curve],
                               mode="lines+markers", line_shape="hv", name="best so far"))
    fig.update_layout(title="Best test accuracy so far", xaxis_title="wall time since the start (s)",
                      yaxis_title="test accuracy", height=320, margin=dict(t=40, b=40))
    return fig


def front(view: SearchView) -> go.Figure:
    """Every ended trial (stopped ones grey), and the front through the non-dominated ones."""
    cost = "synaptic ops / inference" if view.objective.endswith("sops") else "FLOPs / inference"
    ended = [r for r in view.trials if r["acc"] is not None and r["cost"] is not None]
    fig = go.Figure()
    for name, rows, color in (("stopped early", [r for r in ended if r["greyed"]], "lightgrey"),
                              ("trained further", [r for r in ended if not r["greyed"]], "#1f77b4")):
        fig.add_trace(go.Scatter(x=[r["cost"] for r in rows], y=[r["acc"] for r in rows], mode="markers", name=name,
                                 marker=dict(color=color), text=[f"trial {r['number']}: run {r['run_id']}" for r in rows]))
    fig.add_trace(go.Scatter(x=[p["cost"] for p in view.front], y=[p["acc"] for p in view.front], mode="lines+markers",
                             line_shape="hv", name="Pareto front"))
    fig.update_layout(title="Pareto front: accuracy against cost", xaxis_title=cost, yaxis_title="test accuracy",
                      xaxis_type="log", height=360, margin=dict(t=40, b=40))
    return fig
