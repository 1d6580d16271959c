"""Decision latency (`snn_core.latency`): hand-computed spikes and a network that decides at a known step."""

from __future__ import annotations

import pytest
import torch

from snn_core.config import RunConfig
from snn_core.data import Split
from snn_core.latency import decision_step, latest_curve, step_correct
from snn_core.model import SNN
from snn_core.packed import PackedSNN
from snn_core.training import evaluate_pack


def test_step_correct_by_hand():
    # T=4, 2 samples (labels 1, 2), 1 member, 3 classes.
    s = torch.zeros(4, 2, 1, 3)
    s[1, 0, 0, 1] = 1  # sample 0: class 1 fires at step 2 -> right from t=2 on
    s[0, 1, 0, 0] = 1  # sample 1: class 0 at step 1, class 2 at steps 3 and 4 -> tie at t=3 (class 0 wins), right at t=4
    s[2, 1, 0, 2] = s[3, 1, 0, 2] = 1
    assert step_correct(s, torch.tensor([1, 2]))[:, 0].tolist() == [0, 1, 1, 2]


def test_decision_step():
    assert decision_step([0.1, 0.5, 0.85, 0.9, 0.95]) == 4  # 0.9 * 0.95 = 0.855
    assert decision_step([0.1, 0.5, 0.85, 0.9, 0.95], fraction=0.5) == 2
    assert decision_step([]) is None
    with pytest.raises(ValueError, match="fraction must be in"):
        decision_step([1.0], fraction=0)
    assert latest_curve([{"epoch": 1, "latency_acc": [0.2]}, {"epoch": 2}]) == (1, [0.2])


def test_a_network_that_decides_at_step_four():
    """Class-0 images light pixel 0, class-1 images pixel 1. Hidden neuron k sees pixel k with weight 2
    (fires at every step from the second), output neuron k sees hidden k with weight 0.6: its membrane
    is 0, 0, 0.6, 1.2 at steps 1-4, so it first fires at step 4. Until then every count is 0 and the
    argmax says class 0: class-0 images are right from step 1, class-1 images from step 4."""
    T, n = 8, 10
    config = RunConfig(T=T, hidden=(2,), beta=1.0, v_th=1.0, encoder="image", device="cpu", membrane_init="zero")
    model = SNN(config, torch.Generator().manual_seed(0))
    with torch.no_grad():
        for layer in model.layers:
            layer.weight.zero_()
            layer.bias.zero_()
        model.layers[0].weight[0, 0] = model.layers[0].weight[1, 1] = 2.0
        model.layers[1].weight[0, 0] = model.layers[1].weight[1, 1] = 0.6
    labels = torch.arange(n) % 2
    images = torch.zeros(n, 784, dtype=torch.uint8)
    images[torch.arange(n), labels] = 255
    loss, acc, rates, curve, counts = evaluate_pack(PackedSNN([config], [model]), Split(images, labels), seed=0)[0]
    assert curve == [0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    assert curve[-1] == acc == 1.0 and decision_step(curve) == 4
