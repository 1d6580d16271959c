"""The FLOPs page under streamlit.testing.v1.AppTest, against a real Redis with real runs."""

from __future__ import annotations

import pytest

from snn_core.config import RunConfig
from tests.pagekit import stored_run, page, texts, figure, trace_points, widget


def test_flops_defaults_reproduce_the_labs_worked_example(store):
    at = page("pages/flops.py")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["ANN FLOPs"] == "15,900"
    assert metrics["SNN FLOPs per step"] == "15,750"
    assert metrics["SNN FLOPs total (T=5)"] == "78,750"
    table = at.dataframe[0].value
    assert list(table["ANN"]) == [15690, 210, 15900]
    assert list(table["SNN per step"]) == [15690, 60, 15750]
    assert "T = 1.01" in texts(at)  # 15,900 / 15,750
    assert trace_points(figure(at, "SNN FLOPs against T"), "SNN")[0] == 1
    assert len(figure(at, "SNN FLOPs against the firing rate of F1")["data"]) == 2

    widget(at, "number_input", "flops_T").set_value(10).run()
    assert {m.label: m.value for m in at.metric}["SNN FLOPs total (T=10)"] == "157,500"
    widget(at, "number_input", "flops_rate_1").set_value(0.5).run()
    assert {m.label: m.value for m in at.metric}["SNN FLOPs per step"] == f"{15690 + (2 * 10 * 0.5 - 1) * 10 + 20:,.0f}"


def test_flops_bad_layers_show_the_error(store):
    at = page("pages/flops.py")
    widget(at, "text_input", "flops_layers").set_value("784,ten,10").run()
    assert not at.exception
    assert "layers must be comma-separated integers" in at.error[0].value
    assert not at.metric


def test_flops_fills_a_runs_measured_rates(store):
    run_id = stored_run(store, RunConfig(T=7, hidden=(20,), epochs=2))
    at = page("pages/flops.py")
    widget(at, "selectbox", "flops_run").set_value(run_id)
    widget(at, "button", "flops_use").click().run()
    assert not at.exception
    assert widget(at, "text_input", "flops_layers").value == "784,20,10"
    assert widget(at, "number_input", "flops_T").value == 7
    assert widget(at, "number_input", "flops_rate_0").value == pytest.approx(0.3)
    assert widget(at, "number_input", "flops_rate_1").value == pytest.approx(0.12)
    per_step = (2 * 784 * 0.3 - 1) * 20 + 2 * 20 + (2 * 20 * 0.12 - 1) * 10 + 2 * 10
    assert {m.label: m.value for m in at.metric}["SNN FLOPs total (T=7)"] == f"{per_step * 7:,.0f}"


def test_flops_out_of_range_inputs_are_reported_not_replaced(store):
    # Streamlit's min/max would keep the old value silently; every typed value must count or be refused.
    at = page("pages/flops.py")
    widget(at, "number_input", "flops_T").set_value(0).run()
    assert [e.value for e in at.error] == ["T must be an integer >= 1, got 0"] and not at.metric
    widget(at, "number_input", "flops_T").set_value(100000).run()
    assert {m.label: m.value for m in at.metric}["SNN FLOPs total (T=100000)"] == f"{15750 * 100000:,.0f}"
    widget(at, "number_input", "flops_rate_1").set_value(1.5).run()
    assert [e.value for e in at.error] == ["F1 must be a firing rate in [0, 1], got 1.5"] and not at.metric


def test_flops_ratio_arrow_points_down_and_green_when_the_snn_is_cheaper(store):
    from streamlit.proto.Metric_pb2 import Metric

    at = page("pages/flops.py")
    total = next(m for m in at.metric if m.label.startswith("SNN FLOPs total"))
    assert (total.proto.delta, total.proto.direction, total.proto.color) == (
        "+395% vs the ANN (4.95x)", Metric.MetricDirection.UP, Metric.MetricColor.RED)
    widget(at, "number_input", "flops_T").set_value(1).run()  # 15,750 against 15,900
    total = next(m for m in at.metric if m.label.startswith("SNN FLOPs total"))
    assert (total.proto.delta, total.proto.direction, total.proto.color) == (
        "-1% vs the ANN (0.99x)", Metric.MetricDirection.DOWN, Metric.MetricColor.GREEN)


@pytest.mark.parametrize("title", ["SNN FLOPs against T", "SNN FLOPs against the firing rate of F1"])
def test_flops_chart_labels_stay_clear_of_the_ann_line(store, title):
    at = page("pages/flops.py")
    fig = figure(at, title)
    ann = next(t for t in fig["data"] if t["name"] == "ANN")["y"][0]
    top = fig["layout"]["yaxis"]["range"][1]
    labels = fig["layout"]["annotations"]
    assert labels and all(a["yref"] == "paper" for a in labels)
    for a in labels:  # a label's text spans ~0.06 of the height below its anchor (yanchor top)
        assert not a["y"] - 0.09 < ann / top < a["y"] + 0.02, (a["text"], a["y"], ann / top)


def test_label_heights_avoid_every_line():
    from webui.charts import label_heights

    assert label_heights([0.5]) == [1.0, 0.88]
    assert label_heights([0.99, 0.9]) == [0.8, 0.68]
    ys = label_heights([0.1, 0.45, 0.97], n=3)
    assert all(abs(y - line) >= 0.09 for y in ys for line in (0.1, 0.45, 0.97)), ys
