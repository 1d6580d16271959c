"""FLOPs: the lab's ANN vs SNN calculator, per layer and in total, with the break-even point."""

import pandas as pd
import streamlit as st

from snn_core import flops
from webui import charts, connection
from webui.flops_tools import DEFAULT_LAYERS, DEFAULT_T, check_inputs, default_rate, parse_layers, per_layer_rows, \
    ratio_delta, t_axis
from webui.run_labels import labeller
from workers.insight_data import measured_rates
from workers.store import RunStore

st.title("FLOPs calculator")
st.caption("A dense layer with M inputs and N outputs costs (2M-1)N + 2N FLOPs in an ANN, and "
           "(2MF-1)N + 2N per timestep in the SNN, where F is the firing rate of the layer's input. "
           "Over T steps the SNN pays T times its per-step cost.")


for key, default in [("flops_layers", DEFAULT_LAYERS), ("flops_T", DEFAULT_T)]:
    st.session_state.setdefault(key, default)


def use_run(run_id: str) -> None:
    measured = measured_rates(RunStore(connection.connection()), run_id)
    if measured is None:
        st.session_state.flops_notice = f"Run {run_id} has no measured firing rates yet."
        return
    st.session_state.flops_layers = ",".join(map(str, measured.layers))
    st.session_state.flops_T = measured.T
    for i, r in enumerate(measured.rates):
        st.session_state[f"flops_rate_{i}"] = round(r, 4)
    st.session_state.flops_notice = f"Filled from run {run_id} (last epoch's measured rates)."


with st.expander("Use a run's measured firing rates"):
    if connection.reachable():
        runs = [r for r in connection.store_or_stop().list_runs(limit=500) if r.last_metrics]
        if runs:
            pick = st.selectbox("Run", [r.id for r in runs], key="flops_run", format_func=labeller(runs))
            st.button("Use its firing rates", on_click=use_run, args=(pick,), key="flops_use")
        else:
            st.info("No run has finished an epoch yet.")
if notice := st.session_state.pop("flops_notice", None):
    st.success(notice)

left, right = st.columns([1, 2])
with left:
    # No min/max on the boxes: Streamlit would silently keep the old value for one outside them.
    # check_inputs reports it instead, under its box, and nothing is computed from a stale number.
    layers_text = st.text_input("Layer sizes (input, hidden..., output)", key="flops_layers")
    layers_slot = st.empty()
    T = st.number_input("Timesteps T", step=1, key="flops_T")
    T_slot = st.empty()
    parsed, _ = check_inputs(layers_text, 1, [])
    if parsed is not None:
        st.session_state.flops_good_layers = parsed
    # While the layer list is being corrected, the rate boxes of the last good one stay (with
    # their values): they never vanish and come back reset.
    shown = parsed or st.session_state.get("flops_good_layers") or parse_layers(DEFAULT_LAYERS)
    rates, rate_slots = [], []
    for i, (m, n) in enumerate(zip(shown[:-1], shown[1:])):
        st.session_state.setdefault(f"flops_rate_{i}", default_rate(i))
        rates.append(st.number_input(f"F{i}: firing rate into layer {i + 1} ({m} -> {n})", step=0.05,
                                     format="%.4f", key=f"flops_rate_{i}", persist_state="page"))
        rate_slots.append(st.empty())
    layers, errors = check_inputs(layers_text, T, rates)
    slots = {"layers": layers_slot, "T": T_slot, **{f"F{i}": s for i, s in enumerate(rate_slots)}}
    for name, message in errors.items():
        slots[name].error(message, icon=":material/error:")
if errors:
    right.info("Fix the inputs on the left to see the counts.")
    st.stop()

report = flops.count(layers, int(T), rates)
t_even = flops.break_even_T(layers, rates)
with right:
    a, b, c = st.columns(3)
    a.metric("ANN FLOPs", f"{report.ann_total:,.0f}")
    b.metric("SNN FLOPs per step", f"{report.snn_per_step:,.0f}")
    delta, delta_color = ratio_delta(report)
    c.metric(f"SNN FLOPs total (T={report.T})", f"{report.snn_total:,.0f}", delta, delta_color=delta_color)
    cheaper = "cheaper" if report.snn_total < report.ann_total else "more expensive"
    st.markdown(f"At these rates the SNN is **{cheaper}** than the ANN; they break even at "
                f"**T = {t_even:.2f}**. Spike-triggered accumulates: {report.synaptic_ops:,.0f}.")
    st.dataframe(pd.DataFrame(per_layer_rows(report)), hide_index=True,
                 column_config={k: st.column_config.NumberColumn(format="%,.0f")
                                for k in ("ANN", "SNN per step", f"SNN total (T={report.T})")})

Ts = t_axis(t_even, report.T)
st.plotly_chart(charts.flops_vs_T_fig(Ts, [report.snn_per_step * t for t in Ts], report.ann_total,
                                      t_even, report.T))
which = st.selectbox("Vary the firing rate of", range(len(rates)), index=len(rates) - 1,
                     format_func=lambda i: f"F{i} (into layer {i + 1})", key="flops_vary")
xs, totals, even = flops.rate_sweep(layers, report.T, rates, which)
st.plotly_chart(charts.flops_vs_rate_fig(xs, totals, report.ann_total, even, f"F{which}", rates[which]))
