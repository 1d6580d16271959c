import json
import subprocess
import sys

import pytest

from snn_core import flops
from snn_core.flops import ann_layer_flops, break_even_T, count, snn_layer_flops


def test_the_labs_worked_example():
    r = count([784, 10, 10], T=5, rates=[1.0, 0.25])
    assert r.ann_per_layer == [15690, 210] and r.ann_total == 15900
    assert r.snn_per_layer_per_step == [15690, 60] and r.snn_per_step == 15750
    assert r.snn_total == 78750
    assert r.synaptic_ops == (784 * 1.0 * 10 + 10 * 0.25 * 10) * 5


def test_formulas():
    assert ann_layer_flops(3, 2) == (2 * 3 - 1) * 2 + 4
    assert snn_layer_flops(100, 10, 0.1) == (2 * 100 * 0.1 - 1) * 10 + 20
    assert break_even_T([784, 10, 10], [0.1, 0.1]) == pytest.approx(15900 / count([784, 10, 10], 1, [0.1, 0.1]).snn_per_step)


@pytest.mark.parametrize("layers, T, rates, field", [([784], 5, [], "layers"), ([784, 10], 0, [1], "T"),
                                                     ([784, 10, 10], 5, [1], "rates"), ([784, 10], 5, [1.5], "rates")])
def test_bad_input_names_the_field(layers, T, rates, field):
    with pytest.raises(ValueError, match=field):
        count(layers, T, rates)


def test_flops_importable_without_torch_and_cli():
    code = "import sys, snn_core.flops, snn_core.config; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)
    out = subprocess.run([sys.executable, "-m", "snn_core.flops", "--layers", "784,10,10", "--T", "5",
                          "--rates", "1,0.25", "--json"], check=True, capture_output=True, text=True).stdout
    data = json.loads(out)
    assert data["ann_total"] == 15900 and data["snn_total"] == 78750
    bad = subprocess.run([sys.executable, "-m", "snn_core.flops", "--rates", "1,7"], capture_output=True, text=True)
    assert bad.returncode == 2 and "rates must be in [0, 1], got 7.0" in bad.stderr


def test_rate_sweep_is_linear_in_the_rate_and_finds_the_break_even_rate():
    layers, T, rates = [784, 10, 10], 5, [1.0, 0.25]
    xs, totals, even = flops.rate_sweep(layers, T, rates, which=0, steps=11)
    assert xs[0] == 0.0 and xs[-1] == 1.0 and len(totals) == 11
    assert totals[-1] == pytest.approx(flops.count(layers, T, rates).snn_total)
    ann = flops.count(layers, T, rates).ann_total
    assert flops.count(layers, T, [even, 0.25]).snn_total == pytest.approx(ann)
    assert flops.rate_sweep([784, 10, 10], 1000, rates, which=1)[2] is None  # the SNN costs more at any rate
