"""Report: a lab launch, study by study: the lab's plots, a results table, the lab's conclusion
beside a verdict computed from the stored runs; FLOPs and energy from measured firing rates."""

import streamlit as st

from webui import connection
from webui.lab_charts import claim_rows, curve_fig, flops_fig, flops_rows, table_rows
from webui.lab_export import lab_title, report_csv, report_html
from workers import labs
from workers.lab_report import CURVE_METRICS, ENERGY_45NM, build_report

st.title("Lab report")
store = connection.store_or_stop()
launches = store.list_labs()
if not launches:
    st.info("No lab launch yet. Launch the lab's studies on the Launch page (*Lab studies*), or with "
            "`python -m workers lab --study all`.")
    st.stop()
ids = [lab["id"] for lab in launches]
wanted = st.query_params.get("lab")
lab_id = st.selectbox("Lab launch", ids, ids.index(wanted) if wanted in ids else 0, key="rep_lab",
                      format_func=lambda i: next(f"{lab_title(l)}: {', '.join(l['studies'])}" for l in launches
                                                 if l["id"] == i))
data = labs.lab_data(store, lab_id)
progress = labs.lab_progress(data)
done = progress.get("finished", 0)
total = sum(progress.values())
st.caption(f"{done} of {total} runs finished" + (f" ({', '.join(f'{n} {s}' for s, n in progress.items() if s != 'finished')})"
                                                 if done < total else "") + ". Verdicts read finished runs only.")


@st.fragment(run_every=5.0)
def follow(seen: dict[str, int]) -> None:
    """While runs train, re-read the lab's statuses every 5 s; a change redraws the whole report."""
    if labs.lab_statuses(store, lab_id) != seen:
        st.rerun()


if done < total:
    st.caption("The report updates by itself as runs finish.")
    follow(progress)

with st.expander("Energy per operation (used by the FLOPs section and the export)"):
    a, b = st.columns(2)
    mac = a.number_input("pJ per 32-bit multiply-accumulate (ANN)", 0.001, 1000.0, ENERGY_45NM["mac_pj"], 0.1,
                         key="rep_mac_pj", help="45 nm CMOS: 4.6 pJ")
    ac = b.number_input("pJ per accumulate (SNN synaptic operation)", 0.001, 1000.0, ENERGY_45NM["ac_pj"], 0.1,
                        key="rep_ac_pj", help="45 nm CMOS: 0.9 pJ")
report = build_report(data, {"mac_pj": mac, "ac_pj": ac})

left, right = st.columns(2)
left.download_button("Download the report (one HTML file, opens offline)", report_html(report),
                     f"spikeboard-lab-{lab_id}.html", "text/html", key="rep_html", icon=":material/download:")
right.download_button("Download its data (CSV)", report_csv(report, data), f"spikeboard-lab-{lab_id}.csv",
                      "text/csv", key="rep_csv", icon=":material/table:")

st.subheader("The lab's conclusions against this data")
st.dataframe([{"study": s["title"], "the lab concluded": s["conclusion"], "verdict": s["verdict"]}
              for s in report["studies"]]
             + [{"study": "FLOPs", "the lab concluded": report["flops"]["claim"]["text"],
                 "verdict": report["flops"]["verdict"]}], hide_index=True, key="rep_summary")

for s in report["studies"]:
    st.header(f"{s['title']} ({s['field']}: {', '.join(map(str, s['values']))})", anchor=f"study-{s['key']}")
    st.markdown(f"> The lab: {s['conclusion']}")
    st.markdown(f"**Verdict: {s['verdict']}** (from {s['finished']} finished of {s['runs']} runs)")
    st.dataframe(claim_rows(s["claims"]), hide_index=True, key=f"rep_claims_{s['key']}")
    if s["explanations"]:
        st.markdown("What in this setup could explain a verdict other than the lab's:\n"
                    + "\n".join(f"- {x}" for x in s["explanations"]))
    cols = st.columns(3)
    for col, metric in zip(cols, CURVE_METRICS):
        col.plotly_chart(curve_fig(s, metric), key=f"rep_{s['key']}_{metric}")
    st.dataframe(table_rows(s), hide_index=True, key=f"rep_table_{s['key']}")
    st.caption("Mean over seeds at the last epoch. A packed run's seconds per epoch are its whole pack's "
               "(runs differing only in beta, V_th, z or loss train together).")

f = report["flops"]
st.header("FLOPs and energy per inference, from measured firing rates", anchor="flops")
st.markdown(f"> The lab: {f['claim']['text']} (with assumed firing rates)")
st.markdown(f"**Verdict: {f['verdict']}**")
st.dataframe(claim_rows([f["claim"]]), hide_index=True, key="rep_flops_claim")
if f["explanations"]:
    st.markdown("\n".join(f"- {x}" for x in f["explanations"]))
st.caption(f"ANN energy = multiply-accumulates x {f['energies']['mac_pj']:g} pJ; SNN energy = synaptic operations "
           f"x {f['energies']['ac_pj']:g} pJ (edit them above).")
if f["rows"]:
    st.plotly_chart(flops_fig(f), key="rep_flops_fig")
st.dataframe(flops_rows(f), hide_index=True, key="rep_flops_table")
