"""Search: one search's budget, trials, best so far, Pareto front and trial curves, live; stop,
extend the budget, resume. The numbers come from `workers.search_report`; this page lays them out."""

import pandas as pd
import streamlit as st

from webui import connection, search_charts
from webui.tables import MISSING
from webui.search_form import number
from workers import search
from workers import search_report as report

LIVE = ("running", "stopping")
STATES = {"running": "running", "held": "held at a rung", "finished": "finished", "stopped": "stopped early",
          "failed": "failed", "reused": "reused", "duplicate": "duplicate"}

st.title("Search")
store = connection.store_or_stop()
choices = dict(report.search_choices(store))
if not choices:
    st.info("No search yet. Start one from the Launch page's **Search** section, or from a shell: "
            "`python -m workers search --space 'beta=0.5:0.95' --space 'lr=1e-4:1e-2:log' --budget-epochs 60`.")
    st.stop()
ids = list(choices)
wanted = st.query_params.get("search")
# No key: the labels carry live numbers, and a keyed widget keeps showing the labels it was first
# drawn with; unkeyed, new labels make a new widget, whose pick the query parameter keeps.
sid = st.selectbox("Search (newest first)", ids, index=ids.index(wanted) if wanted in ids else 0,
                   format_func=choices.get)
st.query_params["search"] = sid
try:
    view = search.search_view(store, sid)
except ValueError as exc:
    st.error(f"Search {sid} cannot be shown: {exc}", icon=":material/error:")
    st.stop()

if view.driver is None:
    st.warning("**No search driver is running**: no trial starts, is promoted or stopped until one does. "
               "Start one with `python -m workers search-driver` (`python -m workers.stack` starts one too).",
               icon=":material/pause_circle:")
stop_col, resume_col, epochs_col, seconds_col, extend_col = st.columns([1, 1, 2, 2, 1.4], vertical_alignment="bottom")
if stop_col.button("Stop", key="search_stop", icon=":material/stop_circle:", disabled=view.status != "running",
                   help="running trials finish their rung; nothing new starts or is promoted until Resume"):
    search.stop_search(store.conn, sid)
    st.toast(f"Stop requested for {sid}.")
if resume_col.button("Resume", key="search_resume", icon=":material/play_circle:",
                     disabled=view.status not in ("stopping", "stopped", "done")):
    search.resume_search(store.conn, sid)
    st.toast(f"Resume requested for {sid}.")
more_epochs = epochs_col.text_input("Extend by epochs", "0", key="search_more_epochs")
more_seconds = seconds_col.text_input("Extend by seconds", "0", key="search_more_seconds")
if extend_col.button("Extend budget", key="search_extend", icon=":material/add_circle:"):
    try:
        search.extend_search(store.conn, sid, epochs=number("extend epochs", more_epochs, integer=True),
                             seconds=number("extend seconds", more_seconds))
        st.toast(f"Budget extension requested for {sid}.")
    except ValueError as exc:
        st.error(str(exc), icon=":material/error:")


def trials_style(rows: list[dict]):
    """The trial table with a dash where a trial has no result yet (st.dataframe would print "None")."""
    frame = pd.DataFrame(rows)
    formats = {"test acc": "{:.1%}", **{unit: "{:,.0f}" for unit in report.COST_UNITS.values()}}
    shown = [c for c in formats if c in frame.columns]
    for c in shown:
        frame[c] = frame[c].astype(float).fillna(MISSING)
    return frame.style.format({c: dash(formats[c]) for c in shown})


def dash(fmt: str):
    return lambda v: "–" if v == MISSING else fmt.format(v)


def draw_charts(view: search.SearchView) -> dict:
    """The figures and the table, rebuilt only when the view changed (the curves read every trial's run)."""
    sig = (view.id, report.view_signature(view))
    cached = st.session_state.get("search_drawn")
    if cached is not None and cached["sig"] == sig:
        return cached
    last_rung = view.spec["rungs"][-1]
    drawn = {"sig": sig, "best": search_charts.best_so_far_fig(view.best_curve),
             "curves": search_charts.curves_fig(report.trial_curves(store, view), last_rung),
             "rows": report.trial_rows(view)}
    unit = report.COST_UNITS.get(view.objective)
    if unit:
        drawn["front"] = search_charts.pareto_fig(report.pareto_points(view), unit)
    st.session_state.search_drawn = drawn
    return drawn


# A search that is not running still polls, more slowly: Resume and Extend take effect when the
# driver reads them, after the click's own rerun.
@st.fragment(run_every=3.0 if view.status in LIVE else 10.0)
@connection.guarded
def live_view() -> None:
    now = search.search_view(store, sid)
    if (view.status in LIVE) != (now.status in LIVE):
        st.rerun()  # a full rerun redraws the buttons for the new status and sets the timer
    a, b, c, d = st.columns(4)
    a.metric("Status", now.status)
    b.metric("Objective", now.objective)
    c.metric("Best test accuracy", f"{100 * now.best['acc']:.1f} %" if now.best else "-")
    d.metric("Trials", len(now.trials))
    if now.status == "failed" or store.get_search(sid)["error"]:
        st.error(f"**This search failed:** {store.get_search(sid)['error']}", icon=":material/error:")
    for line in report.budget_lines(now):
        if line["fraction"] is None:
            st.caption(line["text"])
        else:
            st.progress(line["fraction"], text=line["text"])
    cols = st.columns(len(STATES))
    for col, (state, text) in zip(cols, STATES.items()):
        col.metric(text, now.counts[state])
    if now.best:
        best = now.best
        st.markdown(f"**Best so far:** trial {best['number']}, {100 * best['acc']:.1f} % after {best['reached']} "
                    f"epochs ({report.fmt_params(best['params'])})")
        st.page_link("pages/run.py", label=f"Open its run {best['run_id']}", icon=":material/monitoring:",
                     query_params={"run": best["run_id"]})
    drawn = draw_charts(now)
    left, right = st.columns(2)
    left.plotly_chart(drawn["best"], key="search_best")
    if "front" in drawn:
        right.plotly_chart(drawn["front"], key="search_front")
        if now.hypervolume is not None:
            right.caption(f"Front: {len(now.front)} trial{'s' if len(now.front) != 1 else ''}; hypervolume "
                          f"{now.hypervolume:,.0f} (the area the front dominates, accuracy as a fraction x "
                          f"{report.COST_UNITS[now.objective]}, up to 1.1 x the largest cost).")
        st.plotly_chart(drawn["curves"], key="search_curves")
    else:
        right.plotly_chart(drawn["curves"], key="search_curves")
    greyed = "Grey dotted: trials stopped early at a rung. " if now.counts["stopped"] else ""
    st.caption(f"{greyed}Each row's run opens on the Run page.")
    rows = drawn["rows"]
    st.dataframe(trials_style(rows), hide_index=True, key="search_trials", height=min(35 * (len(rows) + 1) + 3, 900),
                 column_config={"run": st.column_config.LinkColumn("run", display_text=r"run=(\w+)")})


live_view()
