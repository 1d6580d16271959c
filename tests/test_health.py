"""Spike health (`snn_core.health`) against hand-computed cases and planted networks."""

from __future__ import annotations

import pytest
import torch

from snn_core.config import RunConfig
from snn_core.data import Split
from snn_core.health import (StopRule, ceiling, check_stop, epoch_health, layer_health, probe_health,
                             rest_starts)
from snn_core.model import SNN
from snn_core.packed import PackedSNN
from snn_core.recording import record, recording_to_dict
from snn_core.training import evaluate_pack


def planted(hidden_bias: float, output_bias: float, T: int = 6, n: int = 20, **kw):
    """A 784-4-10 network whose neurons get only their bias as input: with V_th = 1, beta = 1,
    a bias of 2 fires at every step after the first, a bias of -1 never fires."""
    config = RunConfig(T=T, hidden=(4,), beta=1.0, v_th=1.0, encoder="image", device="cpu",
                       membrane_init="zero", **kw)
    model = SNN(config, torch.Generator().manual_seed(0))
    with torch.no_grad():
        for layer, bias in zip(model.layers, (hidden_bias, output_bias)):
            layer.weight.zero_()
            layer.bias.fill_(bias)
    images = torch.randint(0, 256, (n, 784), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    return config, model, Split(images, torch.arange(n) % 10)


def test_layer_health_by_hand():
    # 3 samples x 5 steps from rest: at most 4 spikes a sample, 12 in all.
    assert ceiling(5, rest_start=True) == 4 and ceiling(5, rest_start=False) == 5 and ceiling(1, True) == 1
    h = layer_health([0, 12, 11, 0, 13], samples=3, T=5)
    assert h == {"size": 5, "silent": 2, "saturated": 2, "silent_share": 0.4, "saturated_share": 0.4}
    assert layer_health([12, 14], samples=3, T=5, rest_start=False)["saturated"] == 0
    with pytest.raises(ValueError, match="samples and T must be >= 1"):
        layer_health([1], samples=0, T=5)


def test_rest_starts_follow_the_membrane_start():
    assert rest_starts({"hidden": [10], "membrane_init": "zero", "v_th": 0.1}) == [True, True]
    # Kaiming: uniform in +-sqrt(6/w): 0.77 for w = 10, 0.35 for w = 50
    assert rest_starts({"hidden": [50], "membrane_init": "kaiming", "v_th": 0.5}) == [True, False]
    assert rest_starts({"hidden": [10], "v_th": 0.5}) == [True, True]  # before membrane_init: zero


def test_flags_name_the_layer_and_the_share():
    h = epoch_health([[0, 0, 0, 5], [0] * 10], samples=2, T=3, epoch=4)
    assert [l["name"] for l in h["layers"]] == ["hidden 1", "output"]
    assert h["flags"] == ["hidden 1: 3/4 silent", "output silent"] and h["epoch"] == 4
    assert epoch_health([[1, 2], [3, 1]], samples=2, T=3)["flags"] == []


def test_a_planted_network_that_never_fires_is_all_silent():
    config, model, split = planted(hidden_bias=-1.0, output_bias=-1.0)
    loss, acc, rates, latency, counts = evaluate_pack(PackedSNN([config], [model]), split, seed=0)[0]
    assert counts == [[0] * 4, [0] * 10]
    h = epoch_health(counts, len(split), config.T)
    assert [(l["silent"], l["saturated"]) for l in h["layers"]] == [(4, 0), (10, 0)]
    assert h["flags"] == ["hidden 1 silent", "output silent"]


def test_a_planted_network_that_always_fires_is_all_saturated():
    config, model, split = planted(hidden_bias=2.0, output_bias=2.0)
    *_, counts = evaluate_pack(PackedSNN([config], [model]), split, seed=0)[0]
    assert counts == [[20 * 5] * 4, [20 * 5] * 10]  # 20 samples x (T - 1) steps: the first cannot fire
    h = epoch_health(counts, len(split), config.T)
    assert [l["saturated_share"] for l in h["layers"]] == [1.0, 1.0]
    assert h["flags"] == ["hidden 1 saturated", "output saturated"]


def test_probe_health_counts_the_recorded_spikes():
    config, model, split = planted(hidden_bias=2.0, output_bias=-1.0, n=10)
    rec = recording_to_dict(record(model, split.images.float() / 255, split.labels, config), 3, "image")
    h = probe_health(rec)
    assert h["source"] == "probes" and h["samples"] == 10 and h["epoch"] == 3
    assert h["flags"] == ["hidden 1 saturated", "output silent"]


def test_stop_rule_validates_and_round_trips():
    rule = StopRule.from_dict({"layer": "output", "condition": "silent", "epochs": 2})
    assert StopRule.from_dict(rule.to_dict()) == rule
    assert rule.describe() == "stop when the output layer has been silent for 2 epochs in a row"
    with pytest.raises(ValueError, match="stop rule layer must be one of output, hidden, any; got 'input'"):
        StopRule(layer="input")
    with pytest.raises(ValueError, match="stop rule epochs must be an integer >= 1, got 0"):
        StopRule(epochs=0)
    with pytest.raises(ValueError, match=r"stop rule share must be in \(0, 1\], got 1.5"):
        StopRule(share=1.5)
    with pytest.raises(ValueError, match="unknown field"):
        StopRule.from_dict({"layers": "output"})


def test_check_stop_needs_consecutive_epochs_on_one_watched_layer():
    silent_out = epoch_health([[1, 2], [0] * 10], samples=2, T=4)
    fine = epoch_health([[1, 2], [1] * 10], samples=2, T=4)
    silent_hidden = epoch_health([[0, 0], [1] * 10], samples=2, T=4)
    rule = StopRule(layer="output", condition="silent", epochs=2)
    hist = [dict(h, epoch=e) for e, h in enumerate((fine, silent_out, silent_out), start=1)]
    assert check_stop(rule, hist[:2]) is None
    reason = check_stop(rule, hist)
    assert reason.startswith("stopped by its stop rule after epoch 3: output layer silent (10/10 silent")
    assert "since epoch 2" in reason
    assert check_stop(rule, [dict(silent_out, epoch=1), dict(fine, epoch=2), dict(silent_out, epoch=3)]) is None
    assert check_stop(rule, [silent_hidden, silent_hidden]) is None  # not the watched layer
    assert check_stop(StopRule(layer="hidden", epochs=2), [silent_hidden, silent_hidden]) is not None
    assert check_stop(StopRule(condition="saturated", epochs=1), [silent_out]) is None
