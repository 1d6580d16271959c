"""Figures of the analyses no other tool shows about a spiking network: spike health, decision
latency, cost against accuracy with its Pareto front, and hyperparameter importance. Figures only,
drawn from rows computed in `workers.insight_data` and `workers.analysis` (no Redis, no torch);
`webui.insights` and the Insights page lay them out."""

from __future__ import annotations

import math
from typing import Any, Sequence

import plotly.graph_objects as go

from webui.charts import NEUTRAL, base_fig, color

HAND_FLOPS = {"ANN (lab, by hand)": 15_900, "SNN T=5, rates 1 and 0.25 (lab, by hand)": 78_750}
COST_AXES = {"synops": "synaptic operations per inference", "flops": "SNN FLOPs per inference"}


def health_fig(history: Sequence[dict]) -> go.Figure:
    """Share of silent and saturated neurons per layer, per epoch (test set)."""
    fig = base_fig("Spike health per epoch (test set)", "epoch", "share of the layer's neurons")
    epochs = [e for e in history if e.get("health")]
    names = [l["name"] for l in epochs[-1]["health"]["layers"]] if epochs else []
    for i, name in enumerate(names):
        for kind, dash in (("silent", "solid"), ("saturated", "dot")):
            ys = [next((l[f"{kind}_share"] for l in e["health"]["layers"] if l["name"] == name), None) for e in epochs]
            fig.add_scatter(x=[e["epoch"] for e in epochs], y=ys, mode="lines+markers", name=f"{name} {kind}",
                            line=dict(color=color(i + 2), dash=dash))
    fig.update_yaxes(tickformat=".0%", range=[-0.02, 1.02])
    fig.update_xaxes(dtick=1)
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0))  # clear of the title
    return fig


def latency_fig(history: Sequence[dict], decision: dict[str, Any] | None, fraction: float = 0.9) -> go.Figure:
    """Test accuracy after the first t of T steps, one line per epoch (the latest bold), and the step
    `decision` (`workers.insight_data.latency_row` of the history) reaches `fraction` of its final."""
    fig = base_fig("Decision latency: test accuracy reading the output after t steps", "steps read (t)", "accuracy")
    epochs = [e for e in history if e.get("latency_acc")]
    for i, e in enumerate(epochs):
        last = i == len(epochs) - 1
        curve = e["latency_acc"]
        fig.add_scatter(x=list(range(1, len(curve) + 1)), y=curve, mode="lines", name=f"epoch {e['epoch']}",
                        line=dict(color=color(0) if last else NEUTRAL, width=3 if last else 1),
                        opacity=1 if last else 0.5, showlegend=last or i == 0)
    if decision is not None:
        step = decision["decides at t"]
        fig.add_vline(x=step, line=dict(color=color(3), dash="dash"),
                      annotation_text=f"{fraction:.0%} of final at t={step}", annotation_position="bottom right")
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0))  # clear of the title
    return fig


def latency_overlay_fig(rows: Sequence[dict[str, Any]], fraction: float = 0.9, relative: bool = False) -> go.Figure:
    """Each run's latest latency curve (`workers.insight_data.latency_rows`); x as steps, or as the share
    t/T of its own T when `relative`."""
    fig = base_fig("Decision latency per run (latest epoch)", "share of T read (t/T)" if relative else "steps read (t)",
                   "accuracy", height=460)
    if len(rows) > 6:  # many runs: a legend column on the right keeps the plot its size
        fig.update_layout(legend=dict(orientation="v", yanchor="top", y=1, xanchor="left", x=1.02, font=dict(size=10)))
    Ts = [row["T"] for row in rows]
    if Ts and not relative and max(Ts) >= 10 * min(Ts):
        fig.update_xaxes(type="log")  # T from 5 to 100: the early steps, where decisions happen, stay visible
    for i, row in enumerate(rows):
        T = row["T"]
        xs = [t / T for t in range(1, T + 1)] if relative else list(range(1, T + 1))
        fig.add_scatter(x=xs, y=row["curve"], mode="lines",
                        name=f"{row['run']} ({fraction:.0%} at t={row['decides at t']})", line=dict(color=color(i)))
    fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    return fig


def cost_fig(rows: Sequence[dict], front: Sequence[dict], cost: str, names: dict[str, str],
             hand: bool = True) -> go.Figure:
    """Every run at (cost per inference, best test accuracy), the Pareto front joined and named."""
    fig = base_fig(f"Best test accuracy against {COST_AXES[cost]}", COST_AXES[cost], "best test accuracy", height=420)
    on_front = {p["id"] for p in front}
    rest = [r for r in rows if r["id"] not in on_front]
    fig.add_scatter(x=[r[cost] for r in rest], y=[r["acc"] for r in rest], mode="markers", name="runs",
                    marker=dict(color=NEUTRAL, size=8), text=[names.get(r["id"], r["id"]) for r in rest],
                    hovertemplate="%{text}<br>%{x:,.0f}<br>%{y:.1%}<extra></extra>")
    # Front runs are numbered on the chart (names of close points would overprint each other) and
    # named in the hover and in the table below it, whose "#" column gives the number.
    fig.add_scatter(x=[p[cost] for p in front], y=[p["acc"] for p in front], mode="lines+markers+text",
                    name="Pareto front", line=dict(color=color(3), width=2), marker=dict(size=10),
                    text=[str(i) for i in range(1, len(front) + 1)], textposition="top center",
                    hovertext=[names.get(p["id"], p["id"]) for p in front],
                    hovertemplate="#%{text} %{hovertext}<br>%{x:,.0f}<br>%{y:.1%}<extra></extra>")
    if hand and cost == "flops":
        for i, (name, value) in enumerate(HAND_FLOPS.items()):
            fig.add_vline(x=value, line=dict(color=color(4 + i), dash="dash"))
            # On a log axis an annotation's x is log10 of the value (add_vline's own label lands off the chart).
            fig.add_annotation(x=math.log10(value), xref="x", y=0.02 + 0.08 * i, yref="paper", text=f"{name}: {value:,}",
                               showarrow=False, xanchor="left", font=dict(color=color(4 + i)))
    fig.update_xaxes(type="log")
    fig.update_yaxes(tickformat=".0%")
    fig.update_layout(hovermode="closest")
    return fig


def importance_fig(result: Sequence[dict], level: float = 0.9) -> go.Figure:
    """One bar per hyperparameter: mean importance, with its bootstrap interval as the error bar."""
    fig = base_fig(f"Importance for best test accuracy (drop in R², {level:.0%} bootstrap interval)",
                   "hyperparameter", "importance")
    fig.add_bar(x=[f"{r['param']} ({r['share']:.0%} of the total)" for r in result], y=[r["importance"] for r in result],
                marker_color=color(0), name="importance",
                error_y=dict(type="data", symmetric=False, array=[r["high"] - r["importance"] for r in result],
                             arrayminus=[r["importance"] - r["low"] for r in result]))
    return fig
