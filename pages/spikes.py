"""Spikes: what the network does with one probe digit, layer by layer, and across epochs."""

import streamlit as st

from webui import connection, spike_charts
from webui.charts import layer_names
from webui.run_labels import labeller
from workers.store import RunStore

st.title("Spikes")
store = connection.store_or_stop()


@st.cache_data(max_entries=256, show_spinner=False)
def probes(url: str, run_id: str, epoch: int) -> dict | None:
    # A recording never changes once written, so (Redis, run, epoch) names it for good.
    return RunStore(connection.client(url)).load_probes(run_id, epoch)


run_id = st.query_params.get("run")
recent = store.list_runs(limit=200)
ids = [r.id for r in recent] + ([run_id] if run_id and run_id not in {r.id for r in recent} else [])
if not ids:
    st.info("No runs yet. Launch one from the Launch page.")
    st.stop()
run_id = st.selectbox("Run", ids, ids.index(run_id) if run_id in ids else 0, key="spk_run", format_func=labeller(recent))
st.query_params["run"] = run_id
epochs = store.probe_epochs(run_id)
if not epochs:
    st.info(f"Run `{run_id}` has no spike recordings yet; one is saved after every epoch.")
    st.stop()

url = connection.redis_url()
left, right = st.columns([2, 3])
epoch = left.select_slider("Epoch", epochs, value=epochs[-1], key="spk_epoch") if len(epochs) > 1 else epochs[0]
data = probes(url, run_id, epoch)
digits = [p["label"] for p in data["probes"]]
digit = right.segmented_control("Probe digit", digits, default=digits[0], key="spk_digit") or digits[0]
probe = data["probes"][digits.index(digit)]
T, sizes = data["T"], data["layer_sizes"]
names = layer_names(len(sizes))
st.caption(f"Epoch {epoch} · T = {T} · encoder {data['encoder']} · layers {' - '.join(map(str, sizes))} · "
           f"label {probe['label']}, predicted {probe['prediction']}")

a, b = st.columns(2)
if probe["input"]["kind"] == "spikes":
    a.plotly_chart(spike_charts.raster_fig(probe["input"]["events"], sizes[0], T, "Input spikes"), key="spk_input")
else:
    a.plotly_chart(spike_charts.image_fig(probe["input"]["frame"], "Input (analog, same every step)"), key="spk_input")
for i, events in enumerate(probe["spikes"]):
    (b if i % 2 == 0 else a).plotly_chart(
        spike_charts.raster_fig(events, sizes[i + 1], T, f"{names[i + 1].capitalize()} spikes"), key=f"spk_layer_{i}")
c, d = st.columns(2)
c.plotly_chart(spike_charts.membrane_fig(probe["membranes"][-1], data["v_th"], probe["prediction"]), key="spk_mem")
d.plotly_chart(spike_charts.counts_fig(probe["counts"], probe["label"], probe["prediction"]), key="spk_counts")

if len(epochs) > 1:
    st.subheader("Across epochs")
    history = [p for p in (probes(url, run_id, e) for e in epochs)]
    mine = [next(p for p in h["probes"] if p["label"] == digit) for h in history]
    e, f = st.columns(2)
    e.plotly_chart(spike_charts.counts_over_epochs_fig(epochs, [p["counts"] for p in mine], digit), key="spk_hist")
    counts = [[len(p["input"]["events"]) if p["input"]["kind"] == "spikes" else None] + [len(s) for s in p["spikes"]]
              for p in mine]
    f.plotly_chart(spike_charts.layer_activity_fig(
        epochs, [spike_charts.layer_rates(c, sizes, T) for c in counts], names), key="spk_layers_hist")
