"""Search: one search's budget, trials by state, best so far against wall time, its Pareto front, and
each trial linked to its run; stop, extend and resume. The driver does the work (`workers.search`)."""

import pandas as pd
import streamlit as st

from webui import connection
from webui import search_charts as sc
from workers import search

st.title("Search")
st.caption("Optuna's TPE with asynchronous successive halving: runs stop early at a rung unless they are "
           "among its best. Start one with `python -m workers search ...`.")
store = connection.store_or_stop()
searches = store.list_searches()
if not searches:
    st.info("No search yet. Start one with `python -m workers search --space 'beta=0.5:0.95' ... "
            "--budget-epochs 100` (the driver, `python -m workers search-driver`, runs it).")
    st.stop()
ids = [s["id"] for s in searches]
wanted = st.query_params.get("search")
sid = st.selectbox("Search", ids, index=ids.index(wanted) if wanted in ids else 0, key="search_id")
view = search.search_view(store, sid)
if view.driver is None and view.status in ("running", "stopping"):
    st.warning("No search driver is running: start `python -m workers search-driver` for this search to go on.")

b = view.budget
cols = st.columns(5)
cols[0].metric("Status", view.status)
cols[1].metric("Epochs used", f"{b['epochs_used']}" + (f" / {b['epochs_limit']}" if b["epochs_limit"] else ""))
cols[2].metric("Wall time", f"{b['wall_used']:.0f} s" + (f" / {b['seconds_limit']:.0f} s" if b["seconds_limit"] else ""))
cols[3].metric("Running / done", f"{view.counts['running']} / {view.counts['finished'] + view.counts['reused']}")
cols[4].metric("Stopped early", view.counts["stopped"])
if view.best is not None:
    st.markdown(f"Best so far: **{view.best['acc']:.4f}** test accuracy, trial {view.best['number']} "
                f"([run {view.best['run_id']}](/run?run={view.best['run_id']}), {view.best['reached']} epochs)")

left, right, extend = st.columns([1, 1, 2])
if left.button("Stop", disabled=view.status != "running", key="search_stop"):
    search.stop_search(store.conn, sid)
    st.rerun()
if right.button("Resume", disabled=view.status not in ("stopping", "stopped", "done"), key="search_resume"):
    search.resume_search(store.conn, sid)
    st.rerun()
more = extend.number_input("Extend by epochs", min_value=0, value=0, step=10, key="search_more")
if extend.button("Extend", disabled=more == 0, key="search_extend"):
    search.extend_search(store.conn, sid, epochs=int(more))
    st.rerun()

if view.best_curve:
    st.plotly_chart(sc.best_curve(view), key="search_best")
if view.objective != "accuracy" and view.front:
    st.plotly_chart(sc.front(view), key="search_front")
    st.caption(f"Hypervolume of the front: {view.hypervolume:.4g}")
rows = [{"trial": r["number"], "state": r["state"], "epochs": r["reached"], "test acc": r["acc"],
         **({"cost": r["cost"]} if view.objective != "accuracy" else {}), **r["params"],
         "run": f"/run?run={r['run_id']}", "note": r["note"]} for r in view.trials]
if rows:
    st.dataframe(pd.DataFrame(rows), key="search_trials", hide_index=True,
                 column_config={"run": st.column_config.LinkColumn("run", display_text=r"run=(.*)")})
