"""A lab report (`workers.report_types.LabReport`) drawn once: as a list of blocks (headings, quotes,
verdicts, tables, figures, notes) that the Report page lays out with Streamlit and `report_html` writes
as one self-contained HTML file (plotly.js inlined: it opens offline, fetching nothing); and its data
as CSV. Plotly and the standard library only, no Streamlit, no torch: the page, its download buttons
and `python -m webui report` all draw from `report_blocks`, so they cannot drift apart.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import math
from dataclasses import dataclass, field
from typing import Any, Union

import plotly.graph_objects as go
import plotly.offline

from webui.charts import NEUTRAL, Series, base_fig, color, overlay_fig
from workers.lab_report import CURVE_METRICS, HOLDS, csv_rows
from workers.report_text import describe, per_seed_text, plural
from workers.report_types import ClaimResult, FlopsReport, LabReport, StudyReport

_PERCENT = {"test_acc"}
_Y = {"train_loss": "loss", "test_loss": "loss", "test_acc": "accuracy"}


def fmt_value(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


# -- figures ---------------------------------------------------------------------------------

def curve_fig(study: StudyReport, metric: str) -> go.Figure:
    """One line per value of the study: the mean over seeds, with a min-max band."""
    curves = study.curves[metric]
    series = [Series(fmt_value(c.value), c.x, c.mean, c.lo if c.seeds > 1 else None, c.hi if c.seeds > 1 else None)
              for c in curves]
    fig = overlay_fig(series, f"{study.title}: {CURVE_METRICS[metric].lower()}", _Y[metric], metric in _PERCENT)
    seeds = max((c.seeds for c in curves), default=0)
    legend = study.field + (f" (mean of {plural(seeds, 'seed')}, min-max band)" if seeds > 1 else "")
    # Legend under the plot: three plots share a row, and a legend beside each would squeeze it.
    fig.update_layout(height=400, legend=dict(orientation="h", yanchor="top", y=-0.22, xanchor="left", x=0,
                                              title_text=legend, title_side="top"))
    return fig


def flops_fig(flops: FlopsReport) -> go.Figure:
    """SNN FLOPs per inference of every run (measured rates) against the ANN's."""
    rows = flops.rows
    fig = base_fig("SNN FLOPs per inference from measured firing rates, every run", "run (study: value, seed)",
                   "FLOPs per inference", height=380)
    for i, study in enumerate(dict.fromkeys(r.study for r in rows)):
        mine = [r for r in rows if r.study == study]
        fig.add_bar(x=[f"{r.study}: {fmt_value(r.value)}, s{r.seed}" for r in mine], y=[r.snn_flops for r in mine],
                    name=study, marker_color=color(i))
    lines = [(flops.lab["snn"], f"the lab's SNN at T={flops.lab['T']}: {flops.lab['snn']:,}", color(3), "dot")]
    if rows:
        lines.insert(0, (rows[0].ann_flops, f"ANN {rows[0].ann_flops:,.0f}", NEUTRAL, "dash"))
    heights = [y for y, *_ in lines] + [r.snn_flops for r in rows]
    # Room below the lowest line so it clears the axis; ticks at 1, 2, 5 x 10^k, labelled whole ("20k").
    low, high = min(heights) / 1.5, max(heights) * 1.5
    ticks = [m * 10 ** k for k in range(int(math.log10(low)), int(math.log10(high)) + 1) for m in (1, 2, 5)]
    fig.update_yaxes(type="log", range=[math.log10(low), math.log10(high)],
                     tickvals=[t for t in ticks if low <= t <= high], tickformat="~s")
    for y, text, c, dash in lines:
        fig.add_hline(y=y, line=dict(color=c, dash=dash))
        # Named in the legend, not labelled on the plot: the bars fill its width, a label would sit on one.
        fig.add_scatter(x=[None], y=[None], mode="lines", name=text, line=dict(color=c, dash=dash))
    fig.update_xaxes(showticklabels=len(rows) <= 40)
    return fig


# -- display rows ----------------------------------------------------------------------------

def _pm(mean: float | None, sd: float | None, scale: float = 100.0, unit: str = " %") -> str:
    if mean is None:
        return "-"
    return f"{mean * scale:.2f} +- {sd * scale:.2f}{unit}" if sd is not None else f"{mean * scale:.2f}{unit}"


def _num(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:.{digits}g}"


def table_rows(study: StudyReport) -> list[dict[str, str]]:
    """The study's results table as display strings, one row per value."""
    return [{
        study.field: fmt_value(r.value), "seeds": str(r.seeds),
        "final test acc (mean +- sd)": _pm(r.final_test_acc, r.final_test_acc_sd),
        "best test acc (mean +- sd)": _pm(r.best_test_acc, r.best_test_acc_sd),
        "train loss": _num(r.train_loss), "test loss": _num(r.test_loss),
        "s / epoch": _num(r.epoch_seconds, 3) + (" (packed)" if r.packed else ""),
        "firing rates (input, hidden..., output)": ", ".join(f"{x:.3f}" for x in r.firing_rates) or "-",
    } for r in study.table]


def claim_rows(claims: list[ClaimResult]) -> list[dict[str, str]]:
    return [{"the lab's claim": c.text, "verdict": c.verdict, "numbers": describe(c), "measured": c.measure,
             "per seed": per_seed_text(c), "why": c.reason}
            for c in claims]


def flops_rows(flops: FlopsReport) -> list[dict[str, str]]:
    return [{"study": r.study, "value": fmt_value(r.value), "seed": str(r.seed), "run": r.run_id, "T": str(r.T),
             "measured input rates": ", ".join(f"{x:.3f}" for x in r.rates),
             "ANN FLOPs": f"{r.ann_flops:,.0f}", "SNN FLOPs": f"{r.snn_flops:,.0f}",
             "SNN / ANN": f"{r.snn_over_ann:.3f}", "synaptic ops": f"{r.synaptic_ops:,.0f}",
             "ANN energy nJ": f"{r.ann_energy_nj:.2f}", "SNN energy nJ": f"{r.snn_energy_nj:.2f}"}
            for r in flops.rows]


def summary_rows(report: LabReport) -> list[dict[str, str]]:
    return ([{"study": s.title, "the lab concluded": s.conclusion, "verdict": s.verdict} for s in report.studies]
            + [{"study": "FLOPs", "the lab concluded": report.flops.claim.text, "verdict": report.flops.verdict}])


def lab_line(lab: dict[str, Any]) -> str:
    """How the lab was launched: "3 seeds per setting; the lab's settings, except dataset fashion_mnist"."""
    settings = lab.get("settings") or {}
    changed = ", except " + ", ".join(f"{k} {v}" for k, v in sorted(settings.items())) if settings else ""
    return f"{plural(int(lab.get('seeds') or 0), 'seed')} per setting; the lab's settings{changed}"


def why_unshown(report: LabReport) -> list[str]:
    """Why verdicts are missing, one line per distinct reason, naming the studies it holds for."""
    by_why: dict[str, list[str]] = {}
    for title, why in [(s.title, s.why) for s in report.studies] + [("FLOPs", report.flops.why)]:
        if why:
            by_why.setdefault(why, []).append(title)
    return [f"{', '.join(titles)}: {why}" for why, titles in by_why.items()]


def lab_title(lab: dict[str, Any]) -> str:
    when = dt.datetime.fromtimestamp(lab["created_at"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") \
        if lab.get("created_at") else ""
    return f"Lab {lab.get('id', '')}" + (f", launched {when}" if when else "")


# -- the report as blocks ----------------------------------------------------------------------

@dataclass(frozen=True)
class Heading:
    text: str
    anchor: str


@dataclass(frozen=True)
class Quote:
    text: str


@dataclass(frozen=True)
class Verdict:
    verdict: str
    note: str = ""  # after the verdict, e.g. " (from 4 finished of 4 runs)"
    why: str = ""  # under it: why there is none, and what to do


@dataclass(frozen=True)
class Table:
    rows: list[dict[str, str]]
    key: str  # the page's widget key


@dataclass(frozen=True)
class Bullets:
    items: list[str]
    intro: str = ""


@dataclass(frozen=True)
class Figures:
    """Figures side by side (one per column on the page, a grid in the HTML file)."""

    figs: list[go.Figure]
    keys: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Note:
    text: str


Block = Union[Heading, Quote, Verdict, Table, Bullets, Figures, Note]


def report_blocks(report: LabReport) -> list[Block]:
    """Everything the report shows, in order: the summary, each study, then FLOPs and energy."""
    blocks: list[Block] = [Heading("The lab's conclusions against this data", "summary"),
                           Table(summary_rows(report), "rep_summary")]
    if why_unshown(report):
        blocks.append(Bullets(why_unshown(report), "Why some verdicts are not shown:"))
    for s in report.studies:
        blocks += [Heading(f"{s.title} ({s.field}: {', '.join(map(str, s.values))})", f"study-{s.key}"),
                   Quote(f"The lab: {s.conclusion}"),
                   Verdict(s.verdict, f" (from {s.finished} finished of {plural(s.runs, 'run')})", s.why),
                   Table(claim_rows(s.claims), f"rep_claims_{s.key}")]
        if s.explanations:
            blocks.append(Bullets(s.explanations, "What in this setup could explain a verdict other than the lab's:"))
        blocks += [Figures([curve_fig(s, m) for m in CURVE_METRICS], [f"rep_{s.key}_{m}" for m in CURVE_METRICS]),
                   Table(table_rows(s), f"rep_table_{s.key}"),
                   Note("Mean over seeds at the last epoch. A packed run's seconds per epoch are its whole pack's "
                        "(runs differing only in beta, V_th, z or loss train together).")]
    f = report.flops
    blocks += [Heading("FLOPs and energy per inference, from measured firing rates", "flops"),
               Quote(f"The lab: {f.claim.text} (with assumed firing rates)"),
               Verdict(f.verdict, why=f.why),
               Table(claim_rows([f.claim]), "rep_flops_claim")]
    if f.explanations:
        blocks.append(Bullets(f.explanations))
    blocks.append(Note(f"Energy per operation: {f.energies['mac_pj']:g} pJ per 32-bit multiply-accumulate (ANN), "
                       f"{f.energies['ac_pj']:g} pJ per accumulate (SNN synaptic operation) (45 nm defaults: 4.6 "
                       "and 0.9). ANN energy = multiply-accumulates x the MAC energy; SNN energy = synaptic "
                       "operations x the accumulate energy."))
    if f.rows:
        blocks.append(Figures([flops_fig(f)], ["rep_flops_fig"]))
    blocks.append(Table(flops_rows(f), "rep_flops_table"))
    return blocks


# -- the blocks as HTML, and the data as CSV ---------------------------------------------------------

_STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; margin: 2rem auto;
       max-width: 1300px; padding: 0 1rem; color: #1d1d1f; line-height: 1.45; }
h1 { margin-bottom: .2rem; } h2 { margin-top: 2.5rem; border-bottom: 1px solid #ddd; padding-bottom: .3rem; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .9rem; }
th, td { border: 1px solid #d0d0d0; padding: .3rem .55rem; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
blockquote { margin: .6rem 0; padding: .4rem .9rem; border-left: 4px solid #999; background: #fafafa; }
.verdict { font-weight: 600; padding: .1rem .5rem; border-radius: .3rem; }
.holds { background: #d8f3dc; } .fails { background: #fde2e1; } .unshown { background: #eee; }
.plots { display: grid; gap: .5rem; } .plots > div { min-width: 0; }
@media (max-width: 1000px) { .plots { grid-template-columns: minmax(0, 1fr) !important; } }
.muted { color: #666; font-size: .9rem; }
.why { margin-top: -.5rem; padding: .3rem .6rem; border-left: 3px solid #c9a227; background: #fdf8e4; }
"""
_CLASS = {"holds": "holds", "does not hold": "fails"}


def _e(text: Any) -> str:
    return html.escape(str(text))


def verdict_badge(verdict: str) -> str:
    return f'<span class="verdict {_CLASS.get(verdict, "unshown")}">{_e(verdict)}</span>'


def _table(rows: list[dict[str, str]]) -> str:
    if not rows:
        return '<p class="muted">No finished runs yet.</p>'
    head = "".join(f"<th>{_e(k)}</th>" for k in rows[0])
    body = "".join("<tr>" + "".join(f"<td>{verdict_badge(v) if k == 'verdict' else _e(v)}</td>"
                                    for k, v in r.items()) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _fig(fig: go.Figure) -> str:
    # Not the Streamlit template the page's figures carry: its placeholder colours are resolved by the
    # app's front end, which the exported file has not got.
    fig = go.Figure(fig).update_layout(template="plotly_white")
    return fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                       config={"displaylogo": False, "responsive": True})


def block_html(block: Block) -> str:
    if isinstance(block, Heading):
        return f'<h2 id="{_e(block.anchor)}">{_e(block.text)}</h2>'
    if isinstance(block, Quote):
        return f"<blockquote>{_e(block.text)}</blockquote>"
    if isinstance(block, Verdict):
        why = f'<p class="why">{_e(block.why)}</p>' if block.why else ""
        return f"<p>Verdict: {verdict_badge(block.verdict)}{_e(block.note)}</p>{why}"
    if isinstance(block, Table):
        return _table(block.rows)
    if isinstance(block, Bullets):
        intro = f"<p>{_e(block.intro)}</p>" if block.intro else ""
        return intro + "<ul>" + "".join(f"<li>{_e(x)}</li>" for x in block.items) + "</ul>"
    if isinstance(block, Figures):
        # As many columns as figures from the start: plotly sizes each figure to its cell when its inline
        # script runs, before the later figures exist, so an auto-fit grid would draw the first one too wide.
        columns = f"repeat({len(block.figs)}, minmax(0, 1fr))"
        return f'<div class="plots" style="grid-template-columns: {columns}">' + "".join(map(_fig, block.figs)) + "</div>"
    if isinstance(block, Note):
        return f'<p class="muted">{_e(block.text)}</p>'
    raise TypeError(f"block must be one of {Block}, got {type(block).__name__}")


def report_html(report: LabReport) -> str:
    """The whole report (every study, verdicts, FLOPs) as one HTML document with plotly.js inlined."""
    lab = report.lab
    parts = ["<h1>Spikeboard: the course lab, reproduced</h1>",
             f'<p class="muted">{_e(lab_title(lab))}; {_e(lab_line(lab))}; {report.finished} of '
             f'{_e(plural(report.runs, "run"))} finished.</p>',
             *map(block_html, report_blocks(report))]
    holding = sum(s.verdict == HOLDS for s in report.studies)
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(lab_title(lab))}: lab report ({holding} of {len(report.studies)} hold)</title>"
            f"<style>{_STYLE}</style>\n<script>{plotly.offline.get_plotlyjs()}</script>\n</head>"
            "<body>\n" + "\n".join(parts) + "\n</body></html>\n")


def report_csv(report: LabReport, data: dict[str, Any]) -> str:
    """One row per run and epoch: study, value, seed, metrics, firing rates, the run's FLOPs and energy."""
    rows = csv_rows(report, data)
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
