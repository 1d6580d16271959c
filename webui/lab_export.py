"""A lab report as one self-contained HTML file (plotly.js inlined: it opens offline, fetching
nothing) and its data as CSV. Plotly and the standard library only, no Streamlit: the Report
page's download buttons and `python -m workers report` both call these."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
from typing import Any

import plotly.offline

from webui.lab_charts import claim_rows, curve_fig, flops_fig, flops_rows, table_rows
from workers.lab_report import CURVE_METRICS, HOLDS, csv_rows

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
.plots { display: grid; grid-template-columns: repeat(auto-fit, minmax(380px, 1fr)); gap: .5rem; }
.muted { color: #666; font-size: .9rem; }
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


def _fig(fig) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False,
                       config={"displaylogo": False, "responsive": True})


def lab_title(lab: dict[str, Any]) -> str:
    when = dt.datetime.fromtimestamp(lab["created_at"], dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC") \
        if lab.get("created_at") else ""
    return f"Lab {lab.get('id', '')}" + (f", launched {when}" if when else "")


def report_html(report: dict[str, Any]) -> str:
    """The whole report (every study, verdicts, FLOPs) as one HTML document with plotly.js inlined."""
    lab = report["lab"]
    parts = [f"<h1>Spikeboard: the course lab, reproduced</h1>",
             f'<p class="muted">{_e(lab_title(lab))}; {lab.get("seeds")} seeds per setting; settings '
             f'{_e(lab.get("settings") or "the lab&#x27;s")}; {report["finished"]} of {report["runs"]} runs finished.</p>',
             '<h2 id="summary">Summary: the lab\'s conclusions against this data</h2>',
             _table([{"study": s["title"], "the lab concluded": s["conclusion"], "verdict": s["verdict"]}
                     for s in report["studies"]]
                    + [{"study": "FLOPs", "the lab concluded": report["flops"]["claim"]["text"],
                        "verdict": report["flops"]["verdict"]}])]
    for s in report["studies"]:
        parts += [f'<h2 id="study-{_e(s["key"])}">{_e(s["title"])} ({_e(s["field"])}: '
                  f'{_e(", ".join(map(str, s["values"])))})</h2>',
                  f"<blockquote>The lab: {_e(s['conclusion'])}</blockquote>",
                  f"<p>Verdict from {s['finished']} finished runs: {verdict_badge(s['verdict'])}</p>",
                  _table(claim_rows(s["claims"]))]
        if s["explanations"]:
            parts.append("<p>What in this setup could explain a verdict other than the lab's:</p><ul>"
                         + "".join(f"<li>{_e(x)}</li>" for x in s["explanations"]) + "</ul>")
        parts.append('<div class="plots">' + "".join(_fig(curve_fig(s, m)) for m in CURVE_METRICS) + "</div>")
        parts.append(_table(table_rows(s)))
    f = report["flops"]
    en = f["energies"]
    parts += ['<h2 id="flops">FLOPs and energy per inference, from measured firing rates</h2>',
              f"<blockquote>The lab: {_e(f['claim']['text'])} (with assumed firing rates).</blockquote>",
              f"<p>Verdict: {verdict_badge(f['verdict'])}</p>", _table(claim_rows([f["claim"]]))]
    if f["explanations"]:
        parts.append("<ul>" + "".join(f"<li>{_e(x)}</li>" for x in f["explanations"]) + "</ul>")
    parts += [f"<p>Energy per operation: {en['mac_pj']:g} pJ per 32-bit multiply-accumulate (ANN), "
              f"{en['ac_pj']:g} pJ per accumulate (SNN synaptic operation) (45 nm defaults: 4.6 and 0.9). "
              "ANN energy = multiply-accumulates x the MAC energy; SNN energy = synaptic operations x the "
              "accumulate energy.</p>", _fig(flops_fig(f)) if f["rows"] else "", _table(flops_rows(f))]
    body = "\n".join(parts)
    verdicts = sum(s["verdict"] == HOLDS for s in report["studies"])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f"<title>{_e(lab_title(lab))}: lab report ({verdicts} of {len(report['studies'])} hold)</title>"
            f"<style>{_STYLE}</style>\n<script>{plotly.offline.get_plotlyjs()}</script>\n</head>"
            f"<body>\n{body}\n</body></html>\n")


def report_csv(report: dict[str, Any], data: dict[str, Any]) -> str:
    """One row per run and epoch: study, value, seed, metrics, firing rates, the run's FLOPs and energy."""
    rows = csv_rows(report, data)
    out = io.StringIO()
    if rows:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return out.getvalue()
