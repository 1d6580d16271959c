"""Report: a lab launch, study by study: the lab's plots, a results table, the lab's conclusion
beside a verdict computed from the stored runs; FLOPs and energy from measured firing rates."""

import streamlit as st

from webui import connection
from webui.report_render import (Bullets, Figures, Heading, Note, Quote, Table, Verdict, lab_line, lab_title,
                                 report_blocks, report_csv, report_html)
from workers import labs
from workers.lab_report import ENERGY_45NM, build_report
from workers.report_text import plural
from workers.report_types import LabReport

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
st.caption(f"{lab_line(data)}. {done} of {plural(total, 'run')} finished" + (f" ({', '.join(f'{n} {s}' for s, n in progress.items() if s != 'finished')})"
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



def show(report: LabReport) -> None:
    """Lay out the report's blocks (`webui.report_render`: the same ones the HTML export writes)."""
    for block in report_blocks(report):
        if isinstance(block, Heading):
            st.header(block.text, anchor=block.anchor)
        elif isinstance(block, Quote):
            st.markdown(f"> {block.text}")
        elif isinstance(block, Verdict):
            st.markdown(f"**Verdict: {block.verdict}**{block.note}")
            if block.why:
                st.warning(block.why, icon=":material/info:")
        elif isinstance(block, Table):
            st.dataframe(block.rows, hide_index=True, key=block.key)
        elif isinstance(block, Bullets):
            st.markdown("\n".join([block.intro] * bool(block.intro) + [f"- {x}" for x in block.items]))
        elif isinstance(block, Figures):
            for col, fig, key in zip(st.columns(len(block.figs)), block.figs, block.keys):
                col.plotly_chart(fig, key=key)
        elif isinstance(block, Note):
            st.caption(block.text)


show(report)
