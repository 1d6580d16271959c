"""Plotly figures for training curves, comparisons and the FLOPs calculator.

Figures set no background or font colours: `st.plotly_chart(theme="streamlit")` supplies them,
so the same figure reads in the light and the dark theme. Explicit colours come from a
mid-tone palette that keeps contrast on both backgrounds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import plotly.graph_objects as go

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
           "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"]
NEUTRAL = "#8a8a8a"  # reference lines: visible on white and on near-black


def color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _rgba(hex_color: str, alpha: float) -> str:
    r, g, b = (int(hex_color[i:i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def base_fig(title: str, x: str, y: str, height: int = 320) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, xaxis_title=x, yaxis_title=y, height=height,
                      margin=dict(l=10, r=10, t=50, b=10), hovermode="x unified",
                      legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1))
    # The margins above are a minimum: automargin widens them to fit the tick labels and the axis title
    # beside them. The Streamlit template leaves it to the app's front end, which an exported file lacks.
    fig.update_xaxes(automargin=True)
    fig.update_yaxes(automargin=True)
    return fig


# -- one run ------------------------------------------------------------------------

def _epoch_axis(fig: go.Figure, n_epochs: int | None, start: float = 0.5) -> None:
    # A fixed x range from the start: empty charts stay sensible and the curve grows into it.
    if n_epochs:
        fig.update_xaxes(range=[start, n_epochs + 0.5 if start else n_epochs])


def train_loss_fig(batches: Sequence[dict], epochs: Sequence[dict], n_epochs: int | None = None) -> go.Figure:
    """Train loss per batch (x = fractional epoch) and the mean per epoch."""
    fig = base_fig("Train loss", "epoch", "loss")
    _epoch_axis(fig, n_epochs, start=0)
    fig.add_scatter(x=[b["epoch"] - 1 + b["batch"] / b["batches"] for b in batches],
                    y=[b["loss"] for b in batches], mode="lines", name="per batch",
                    line=dict(color=color(0), width=1), opacity=0.7)
    fig.add_scatter(x=[e["epoch"] for e in epochs], y=[e["train_loss"] for e in epochs],
                    mode="lines+markers", name="per epoch", line=dict(color=color(1), width=2))
    return fig


def epoch_fig(epochs: Sequence[dict], keys: dict[str, str], title: str, y: str,
              percent: bool = False, n_epochs: int | None = None) -> go.Figure:
    """One line per metric key ({key: legend name}) against the epoch number."""
    fig = base_fig(title, "epoch", y)
    _epoch_axis(fig, n_epochs)
    for i, (key, name) in enumerate(keys.items()):
        fig.add_scatter(x=[e["epoch"] for e in epochs], y=[e.get(key) for e in epochs],
                        mode="lines+markers", name=name, line=dict(color=color(i + 2)))
    if percent:
        fig.update_yaxes(tickformat=".0%", range=[0, 1.02])
    elif not epochs:
        fig.update_yaxes(rangemode="tozero")
    fig.update_xaxes(dtick=1)
    return fig


def layer_names(n: int) -> list[str]:
    """Names of n recorded layers: input, hidden 1..k, output."""
    if n <= 1:
        return ["output"][:n]
    return ["input", *[f"hidden {i}" for i in range(1, n - 1)], "output"]


def firing_rate_fig(epochs: Sequence[dict], n_epochs: int | None = None) -> go.Figure:
    fig = base_fig("Firing rate per layer", "epoch", "spikes / neuron / step")
    _epoch_axis(fig, n_epochs)
    fig.update_yaxes(rangemode="tozero")
    rates = [e.get("firing_rates") or [] for e in epochs]
    width = max((len(r) for r in rates), default=0)
    for i, name in enumerate(layer_names(width)):
        fig.add_scatter(x=[e["epoch"] for e in epochs], y=[r[i] if i < len(r) else None for r in rates],
                        mode="lines+markers", name=name, line=dict(color=color(i)))
    fig.update_xaxes(dtick=1)
    return fig


# -- several runs -------------------------------------------------------------------

@dataclass
class Series:
    """A curve to overlay: a run, or the mean of a seed group with its min-max band."""

    label: str
    x: list
    y: list
    lo: list | None = None
    hi: list | None = None


def overlay_fig(series: Sequence[Series], title: str, y: str, percent: bool = False) -> go.Figure:
    """Curves of several runs. The legend sits under the plot, one entry a row, and the figure grows
    to hold it: three of these share a row of the page, and a legend beside each took 60 % of it."""
    fig = base_fig(title, "epoch", y, height=300 + 20 * len(series))
    for i, s in enumerate(series):
        c = color(i)
        if s.lo is not None and s.hi is not None:
            fig.add_scatter(x=list(s.x) + list(s.x)[::-1], y=list(s.hi) + list(s.lo)[::-1],
                            fill="toself", fillcolor=_rgba(c, 0.18), line=dict(width=0),
                            hoverinfo="skip", showlegend=False, legendgroup=s.label)
        fig.add_scatter(x=s.x, y=s.y, mode="lines+markers", name=s.label, legendgroup=s.label,
                        line=dict(color=c, width=2))
    # The plot keeps 210 px whatever the number of curves (height less title and legend margins);
    # y = -0.22 of it puts the legend under the "epoch" axis title.
    fig.update_layout(legend=dict(orientation="v", yanchor="top", y=-0.22, xanchor="left", x=0, font=dict(size=11)),
                      margin=dict(b=40 + 20 * len(series)))
    if percent:
        # Whole percents where the ticks are 1 point or more apart, one decimal where the range is narrower
        # (seeds within a point of each other), so no two ticks read the same.
        fig.update_yaxes(tickformat=".1~%")
    fig.update_xaxes(dtick=1)
    return fig


def sweep_fig(rows: Sequence[dict], axis: str, by: str | None = None) -> go.Figure:
    """Best test accuracy against the swept value, one line per value of a second axis."""
    fig = base_fig(f"Best test accuracy vs {axis}", axis, "best test accuracy", height=360)
    groups: dict = {}
    for row in rows:
        groups.setdefault(row.get(by) if by else None, []).append(row)
    for i, (key, group) in enumerate(groups.items()):
        group = sorted(group, key=lambda r: _sort_key(r[axis]))
        fig.add_scatter(x=[str(r[axis]) if isinstance(r[axis], str) else r[axis] for r in group],
                        y=[r["best_test_acc"] for r in group], mode="lines+markers",
                        name=f"{by}={key}" if by else "runs", line=dict(color=color(i)),
                        error_y=dict(type="data", array=[r.get("acc_std", 0) or 0 for r in group],
                                     visible=True))
    fig.update_yaxes(tickformat=".0%")
    if all(isinstance(r[axis], (int, float)) for r in rows) and len({r[axis] for r in rows}) > 1:
        values = sorted({r[axis] for r in rows})
        if values[0] > 0 and values[-1] / values[0] >= 20:
            fig.update_xaxes(type="log")
    return fig


def _sort_key(v):
    return (0, v, "") if isinstance(v, (int, float)) else (1, 0, str(v))


def parcoords_fig(rows: Sequence[dict], dims: Sequence[str]) -> go.Figure:
    """Parallel coordinates over the differing hyperparameters, ending in best test accuracy (in %,
    as every other view shows it)."""
    dimensions = []
    for d in [*dims, "best_test_acc"]:
        values = [r.get(d) for r in rows]
        if d == "best_test_acc":
            dimensions.append(dict(label="best test acc %", values=[100 * (v or 0) for v in values],
                                   tickformat=".1f"))
            continue
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            dimensions.append(dict(label=d, values=values))
        else:
            labels = sorted({str(v) for v in values})
            dimensions.append(dict(label=d, values=[labels.index(str(v)) for v in values],
                                   tickvals=list(range(len(labels))), ticktext=labels))
    acc = [100 * (r.get("best_test_acc") or 0) for r in rows]
    fig = go.Figure(go.Parcoords(line=dict(color=acc, colorscale="Viridis", showscale=True,
                                           colorbar=dict(title="acc %", ticksuffix=" %")), dimensions=dimensions))
    fig.update_layout(title="Hyperparameters and best test accuracy", height=380,
                      margin=dict(l=60, r=40, t=80, b=20))
    return fig


# -- FLOPs --------------------------------------------------------------------------

def label_heights(lines: Sequence[float], n: int = 2, clearance: float = 0.09) -> list[float]:
    """Paper heights (0 bottom, 1 top) for `n` labels, each at least `clearance` from every
    line crossing the label's column (`lines`, also paper heights) and from the other labels:
    a label never sits on a line that would strike it through."""
    out: list[float] = []
    candidates = [round(1 - i * 0.04, 2) for i in range(25)]
    for _ in range(n):
        free = [c for c in candidates if all(abs(c - y) >= clearance for y in [*lines, *out])]
        out.append(free[0] if free else candidates[len(out)])
    return out


def _mark_lines(fig: go.Figure, marks: Sequence[tuple[float, str, str]], lines: Sequence[float], top: float) -> None:
    """Vertical lines at x with their labels (x, text, colour), the labels clear of `lines` (data y)."""
    fig.update_yaxes(range=[0, top])
    heights = label_heights([y / top for y in lines], n=len(marks))
    for (x, text, c), y in zip(marks, heights):
        fig.add_vline(x=x, line=dict(color=c, dash="dot" if c == color(3) else "solid", width=1.5))
        fig.add_annotation(x=x, y=y, xref="x", yref="paper", text=text, showarrow=False, xanchor="left",
                           yanchor="top", xshift=4, font=dict(color=c))


def flops_vs_T_fig(Ts: Sequence[int], snn: Sequence[float], ann: float, t_even: float,
                   T_now: int) -> go.Figure:
    fig = base_fig("SNN FLOPs against T", "timesteps T", "FLOPs per sample")
    fig.add_scatter(x=list(Ts), y=list(snn), mode="lines", name="SNN", line=dict(color=color(0), width=2))
    fig.add_scatter(x=[Ts[0], Ts[-1]], y=[ann, ann], mode="lines", name="ANN",
                    line=dict(color=NEUTRAL, dash="dash"))
    per_step = snn[0] / Ts[0] if Ts and Ts[0] else 0.0
    marks = [(T_now, f"T = {T_now}", color(1))]
    lines = [ann, per_step * T_now]
    if Ts[0] <= t_even <= Ts[-1]:
        marks.insert(0, (t_even, f"break-even T = {t_even:.2f}", color(3)))
    _mark_lines(fig, marks, lines, 1.1 * max(ann, *snn))
    return fig


def flops_vs_rate_fig(rates: Sequence[float], snn: Sequence[float], ann: float,
                      even: float | None, which: str, rate_now: float) -> go.Figure:
    fig = base_fig(f"SNN FLOPs against the firing rate of {which}", "firing rate", "FLOPs per sample")
    fig.add_scatter(x=list(rates), y=list(snn), mode="lines", name="SNN", line=dict(color=color(0), width=2))
    fig.add_scatter(x=[rates[0], rates[-1]], y=[ann, ann], mode="lines", name="ANN",
                    line=dict(color=NEUTRAL, dash="dash"))
    lo, hi = snn[0], snn[-1]  # linear in the rate
    marks = [(rate_now, f"now {rate_now:g}", color(1))]
    lines = [ann, lo + (hi - lo) * rate_now]
    if even is not None:
        marks.insert(0, (even, f"break-even rate = {even:.3f}", color(3)))
    _mark_lines(fig, marks, lines, 1.1 * max(ann, *snn))
    return fig
