"""Figures for probe recordings (format: snn_core.recording.recording_to_dict): rasters,
membrane traces with the threshold, the output spike counts, and their change across epochs."""

from __future__ import annotations

from typing import Sequence

import plotly.graph_objects as go

from webui.charts import NEUTRAL, base_fig, color


LABEL_EVERY_NEURON = 40  # up to this many neurons, each row is tall enough to carry its own label


def raster_height(n: int) -> int:
    """Figure height: at least 18 px per neuron for small layers, so each row reads on its own."""
    return 300 if n > LABEL_EVERY_NEURON else max(260, 130 + 18 * n)


def raster_fig(events: Sequence[Sequence[int]], n: int, T: int, title: str) -> go.Figure:
    """Spike raster of a [T, n] train: one cell per (t, neuron), filled where it spiked.

    Cells with a gap between them (not line markers, whose size would have to guess the pixel
    spacing), so neighbouring neurons' spikes never merge into one bar at any T or width."""
    fig = base_fig(f"{title}: {len(events):,} spikes", "timestep t", "neuron", height=raster_height(n))
    z = [[0] * T for _ in range(n)]
    for t, j in events:
        z[j][t] = 1
    gap = 3 if n <= LABEL_EVERY_NEURON and T <= 60 else 1 if n <= 200 and T <= 200 else 0
    fig.add_heatmap(z=z, x=list(range(T)), y=list(range(n)), zmin=0, zmax=1, showscale=False, xgap=gap, ygap=gap,
                    colorscale=[[0, "rgba(0,0,0,0)"], [1, color(0)]], name="spike",
                    hovertemplate="t=%{x}, neuron %{y}: %{z} spike<extra></extra>")
    fig.update_xaxes(range=[-0.5, T - 0.5], dtick=1 if T <= 30 else None, showgrid=False)
    fig.update_yaxes(range=[-0.5, n - 0.5], dtick=1 if n <= LABEL_EVERY_NEURON else None, showgrid=False)
    fig.update_layout(showlegend=False, hovermode="closest")
    return fig


def image_fig(frame: Sequence[float], title: str) -> go.Figure:
    """An analog input frame (784 values) as a 28x28 image."""
    side = int(len(frame) ** 0.5)
    rows = [list(frame[i * side:(i + 1) * side]) for i in range(side)]
    fig = go.Figure(go.Heatmap(z=rows, colorscale="Greys", reversescale=True, showscale=False))
    fig.update_layout(title=title, height=300, margin=dict(l=10, r=10, t=50, b=10))
    fig.update_yaxes(autorange="reversed", scaleanchor="x")
    return fig


def membrane_fig(membranes: Sequence[Sequence[float]], v_th: float, highlight: int) -> go.Figure:
    """Output membranes over time, one line per neuron, with the firing threshold."""
    fig = base_fig("Output membrane potentials", "timestep t", "membrane U", height=360)
    T = len(membranes)
    for j in range(len(membranes[0]) if T else 0):
        fig.add_scatter(x=list(range(T)), y=[row[j] for row in membranes], mode="lines", name=f"neuron {j}",
                        line=dict(color=color(j), width=3 if j == highlight else 1.2),
                        opacity=1.0 if j == highlight else 0.55)
    fig.add_hline(y=v_th, line=dict(color=NEUTRAL, dash="dash", width=2),
                  annotation_text=f"V_th = {v_th:g}", annotation_position="top left")
    # Ten neurons: a legend on the right, not the default row above the plot that would wrap onto the title.
    fig.update_layout(hovermode="closest", legend=dict(orientation="v", yanchor="top", y=1, xanchor="left", x=1.02))
    return fig


def counts_fig(counts: Sequence[int], label: int, prediction: int) -> go.Figure:
    """Spikes per output neuron: the network's vote; the tallest bar is the prediction."""
    verdict = "correct" if label == prediction else "wrong"
    fig = base_fig(f"Output spike counts: predicted {prediction} for a {label} ({verdict})", "output neuron",
                   "spikes", height=360)
    fig.add_bar(x=list(range(len(counts))), y=list(counts),
                marker_color=[color(2) if j == label else NEUTRAL for j in range(len(counts))],
                marker_line=dict(color=[color(3) if j == prediction else "rgba(0,0,0,0)" for j in range(len(counts))],
                                 width=3),
                hovertemplate="neuron %{x}: %{y} spikes<extra></extra>")
    fig.update_xaxes(dtick=1)
    fig.update_layout(showlegend=False)
    return fig


def counts_over_epochs_fig(epochs: Sequence[int], counts: Sequence[Sequence[int]], label: int) -> go.Figure:
    """Heatmap of output spike counts (epoch x neuron) for one probe digit."""
    fig = go.Figure(go.Heatmap(z=list(counts), x=list(range(len(counts[0]) if counts else 0)),
                               y=[str(e) for e in epochs], colorscale="Viridis",
                               colorbar=dict(title="spikes"),
                               hovertemplate="epoch %{y}, neuron %{x}: %{z} spikes<extra></extra>"))
    fig.update_layout(title=f"Output spike counts for the {label} across epochs", height=360,
                      margin=dict(l=10, r=10, t=50, b=10), xaxis_title="output neuron", yaxis_title="epoch")
    fig.update_xaxes(dtick=1)
    return fig


def layer_rates(counts: Sequence[int | None], sizes: Sequence[int], T: int) -> list[float | None]:
    """Spikes per neuron per step of each layer: its spike count / (neurons x T); None stays None
    (an analog input has no spikes to count)."""
    return [None if c is None else c / (n * T) for c, n in zip(counts, sizes)]


def layer_activity_fig(epochs: Sequence[int], per_layer: Sequence[Sequence[float | None]],
                       names: Sequence[str]) -> go.Figure:
    """Firing rate of each layer (spikes per neuron per step) for one probe digit, per recorded
    epoch: rates, not totals, so the 784-neuron input does not flatten the small layers."""
    fig = base_fig("Firing rate per layer across epochs", "epoch", "spikes / neuron / step", height=360)
    for i, name in enumerate(names):
        ys = [row[i] for row in per_layer]
        if all(y is None for y in ys):
            continue
        fig.add_scatter(x=list(epochs), y=ys, mode="lines+markers", name=name, line=dict(color=color(i)))
    fig.update_xaxes(dtick=1)
    fig.update_yaxes(rangemode="tozero")
    return fig
