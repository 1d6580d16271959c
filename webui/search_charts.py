"""Plotly figures of a search (issue 18): best accuracy so far against wall time, the Pareto front
of accuracy against cost, and every trial's test accuracy per epoch with stopped trials greyed.

The data come from `workers.search_report`; these only draw. No Streamlit here.
"""

from __future__ import annotations

from typing import Any, Sequence

import plotly.graph_objects as go

from .charts import NEUTRAL, base_fig, color

GREY = "rgba(138,138,138,0.45)"  # stopped trials: present, but behind the ones that went on


def best_so_far_fig(curve: Sequence[tuple[float, float]]) -> go.Figure:
    """Best test accuracy so far (%) at each trial's end, x = minutes since the search started."""
    fig = base_fig("Best test accuracy so far", "minutes since the search started", "test accuracy (%)")
    fig.add_scatter(x=[s / 60 for s, _ in curve], y=[100 * a for _, a in curve], mode="lines+markers",
                    line=dict(color=color(0), width=2, shape="hv"), name="best so far")
    fig.update_layout(hovermode="closest", showlegend=False)
    if curve:  # a flat line (every trial equal) keeps a readable scale
        low = min(100 * a for _, a in curve)
        fig.update_yaxes(range=[min(low - 2, 95), 101])
    return fig


def pareto_fig(points: Sequence[dict[str, Any]], unit: str) -> go.Figure:
    """Every ended trial as a point (accuracy up, cost down), the front joined and highlighted."""
    fig = base_fig("Pareto front: accuracy against cost", unit, "test accuracy (%)", height=360)
    rest = [p for p in points if not p["front"]]
    front = sorted((p for p in points if p["front"]), key=lambda p: p["cost"])
    fig.add_scatter(x=[p["cost"] for p in rest], y=[100 * p["acc"] for p in rest], mode="markers",
                    marker=dict(color=NEUTRAL, size=8, opacity=0.6), name="dominated",
                    text=[f"trial {p['number']} ({p['state']}): {p['params']}" for p in rest])
    fig.add_scatter(x=[p["cost"] for p in front], y=[100 * p["acc"] for p in front], mode="lines+markers",
                    marker=dict(color=color(3), size=11, symbol="star"), line=dict(color=color(3), shape="hv"),
                    name="Pareto front", text=[f"trial {p['number']} ({p['state']}): {p['params']}" for p in front])
    fig.update_traces(hovertemplate="%{text}<br>%{x:.3s}, %{y:.1f} %<extra></extra>")
    fig.update_layout(hovermode="closest")
    fig.update_xaxes(tickformat="~s")
    return fig


def curves_fig(curves: Sequence[dict[str, Any]], last_rung: int) -> go.Figure:
    """One line per trial, test accuracy (%) per epoch; trials stopped early in grey, drawn first."""
    fig = base_fig("Test accuracy per epoch, every trial", "epoch", "test accuracy (%)", height=360)
    fig.update_xaxes(range=[0.5, last_rung + 0.5], dtick=1 if last_rung <= 12 else None)
    shown = [c for c in curves if c["epochs"]]
    if any(c["greyed"] for c in shown):  # one legend entry toggles every stopped trial
        fig.add_scatter(x=[None], y=[None], mode="lines", line=dict(color=GREY, dash="dot"), name="stopped early",
                        legendgroup="stopped")
    for c in sorted(shown, key=lambda c: not c["greyed"]):
        style = dict(color=GREY, width=1.5, dash="dot") if c["greyed"] else dict(color=color(c["number"]), width=2)
        fig.add_scatter(x=c["epochs"], y=[100 * a for a in c["acc"]], mode="lines+markers", line=style,
                        marker=dict(size=5), name=f"trial {c['number']} ({c['state']})",
                        legendgroup="stopped" if c["greyed"] else None, showlegend=not c["greyed"])
    # The legend as a column beside the plot, not rows over its title.
    fig.update_layout(hovermode="closest", legend=dict(orientation="v", yanchor="top", y=1, xanchor="left", x=1.02))
    return fig
