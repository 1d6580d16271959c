"""The FLOPs page's pure helpers (webui.flops_tools): input checks, the ratio's arrow, the T axis."""

from __future__ import annotations

from snn_core import flops
from webui.flops_tools import check_inputs, ratio_delta, t_axis


def test_every_bad_input_is_named_with_the_value_typed():
    layers, errors = check_inputs("784,10,,x", 0, [1.5, 0.25, -0.1])
    assert layers is None
    assert errors == {"layers": "layers must be comma-separated integers such as 784,10,10, got '784,10,,x'",
                      "T": "T must be an integer >= 1, got 0",
                      "F0": "F0 must be a firing rate in [0, 1], got 1.5",
                      "F2": "F2 must be a firing rate in [0, 1], got -0.1"}
    assert check_inputs("784, 10, 10", 100000, [1.0, 0.25]) == ([784, 10, 10], {})
    # An empty entry is a lost width, never a smaller network (784,,10 is not 784 -> 10).
    assert check_inputs("784,,10", 5, [1.0])[1] == {
        "layers": "layers must be comma-separated integers such as 784,10,10, got '784,,10' (an empty entry "
                  "between two commas)"}


def test_the_ratio_reads_as_a_change_against_the_ann():
    assert ratio_delta(flops.count([784, 10, 10], 5, [1, 0.25])) == ("+395% vs the ANN (4.95x)", "inverse")
    cheaper = flops.count([784, 10, 10], 5, [0.1, 0.25])  # 0.52x: cheaper, which the issue saw with an up arrow
    assert ratio_delta(cheaper) == (f"-{1 - cheaper.snn_over_ann:.0%} vs the ANN ({cheaper.snn_over_ann:.2f}x)",
                                    "inverse")
    assert ratio_delta(cheaper)[0].startswith("-")  # st.metric: a leading minus is a down arrow


def test_t_axis_spans_T_and_the_break_even_point_in_a_few_hundred_points():
    assert t_axis(1.01, 5) == list(range(1, 11))
    wide = t_axis(3.0, 100000)
    assert wide[0] == 1 and wide[-1] == 200000 and len(wide) <= 402
