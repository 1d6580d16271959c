"""Plotly figures and display rows of a lab report (`workers.lab_report.build_report`).

Plotly and plain Python only, no Streamlit: the Report page shows these figures and the HTML
export (`webui.lab_export`, also run by `python -m workers report`) embeds the same ones.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go

from webui.charts import NEUTRAL, Series, base_fig, color, overlay_fig
from workers.lab_report import CURVE_METRICS

_PERCENT = {"test_acc"}
_Y = {"train_loss": "loss", "test_loss": "loss", "test_acc": "accuracy"}


def fmt_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def curve_fig(study: dict[str, Any], metric: str) -> go.Figure:
    """One line per value of the study: the mean over seeds, with a min-max band."""
    series = []
    curves = study["curves"][metric]
    for c in curves:
        band = c["seeds"] > 1
        series.append(Series(fmt_value(c["value"]), c["x"], c["mean"], c["lo"] if band else None,
                             c["hi"] if band else None))
    fig = overlay_fig(series, f"{study['title']}: {CURVE_METRICS[metric].lower()}", _Y[metric], metric in _PERCENT)
    seeds = max((c["seeds"] for c in curves), default=0)
    legend = study["field"] + (f" (mean of {seeds} seeds, min-max band)" if seeds > 1 else "")
    # Legend under the plot: three plots share a row, and a legend beside each would squeeze it.
    fig.update_layout(height=400, legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0,
                                              title_text=legend, title_side="top"))
    return fig


def flops_fig(flops: dict[str, Any]) -> go.Figure:
    """SNN FLOPs per inference of every run (measured rates) against the ANN's."""
    rows = flops["rows"]
    fig = base_fig("SNN FLOPs per inference from measured firing rates, every run", "run (study: value, seed)",
                   "FLOPs per inference", height=380)
    studies = list(dict.fromkeys(r["study"] for r in rows))
    for i, study in enumerate(studies):
        mine = [r for r in rows if r["study"] == study]
        fig.add_bar(x=[f"{r['study']}: {fmt_value(r['value'])}, s{r['seed']}" for r in mine],
                    y=[r["snn_flops"] for r in mine], name=study, marker_color=color(i))
    if rows:
        ann = rows[0]["ann_flops"]
        fig.add_hline(y=ann, line=dict(color=NEUTRAL, dash="dash"), annotation_text=f"ANN {ann:,.0f}")
    fig.add_hline(y=flops["lab"]["snn"], line=dict(color=color(3), dash="dot"),
                  annotation_text=f"the lab's SNN at T={flops['lab']['T']}: {flops['lab']['snn']:,}",
                  annotation_position="bottom right")
    fig.update_yaxes(type="log")
    fig.update_xaxes(showticklabels=len(rows) <= 40)
    return fig


def _pm(mean: float | None, sd: float | None, scale: float = 100.0, unit: str = " %") -> str:
    if mean is None:
        return "-"
    return f"{mean * scale:.2f} +- {sd * scale:.2f}{unit}" if sd is not None else f"{mean * scale:.2f}{unit}"


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def table_rows(study: dict[str, Any]) -> list[dict[str, str]]:
    """The study's results table as display strings, one row per value."""
    rows = []
    for r in study["table"]:
        rows.append({
            study["field"]: fmt_value(r[study["field"]]), "seeds": str(r["seeds"]),
            "final test acc (mean +- sd)": _pm(r["final_test_acc"], r["final_test_acc_sd"]),
            "best test acc (mean +- sd)": _pm(r["best_test_acc"], r["best_test_acc_sd"]),
            "train loss": _num(r["train_loss"]), "test loss": _num(r["test_loss"]),
            "s / epoch": _num(r["epoch_seconds"], 3) + (" (packed)" if r.get("packed") else ""),
            "firing rates (input, hidden..., output)": ", ".join(f"{x:.3f}" for x in r["firing_rates"]) or "-",
        })
    return rows


def claim_rows(claims: list[dict[str, Any]]) -> list[dict[str, str]]:
    from workers.lab_report import describe

    return [{"the lab's claim": c["text"], "verdict": c["verdict"], "numbers": describe(c),
             "measured": c["measure"], "per seed": ", ".join(f"s{s}: {v:+.4g}" for s, v in c["per_seed"].items()) or "-",
             "why": c["reason"]} for c in claims]


def flops_rows(flops: dict[str, Any]) -> list[dict[str, str]]:
    return [{"study": r["study"], "value": fmt_value(r["value"]), "seed": str(r["seed"]), "run": r["run_id"],
             "T": str(r["T"]), "measured input rates": ", ".join(f"{x:.3f}" for x in r["rates"]),
             "ANN FLOPs": f"{r['ann_flops']:,.0f}", "SNN FLOPs": f"{r['snn_flops']:,.0f}",
             "SNN / ANN": f"{r['snn_over_ann']:.3f}", "synaptic ops": f"{r['synaptic_ops']:,.0f}",
             "ANN energy nJ": f"{r['ann_energy_nj']:.2f}", "SNN energy nJ": f"{r['snn_energy_nj']:.2f}"}
            for r in flops["rows"]]
