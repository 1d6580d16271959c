import math
import pytest
import torch

from snn_core import kernels
from snn_core.neurons import lif_scan, lif_step, spike, surrogate_grad


@pytest.fixture(autouse=True, params=["torch"] + (["numba"] if kernels.numba is not None else []))
def engine(request, monkeypatch):
    monkeypatch.setenv("SPIKEBOARD_ENGINE", request.param)
    return request.param


def test_hand_computed_lif_trace():
    # beta 0.5, V_th 1, constant input 0.8, from rest:
    # m: 0 -> 0.8 -> 1.2 (spike) -> 0.8*... computed by hand below
    beta, v_th = 0.5, 1.0
    current = torch.full((6, 1, 1), 0.8)
    spikes, membranes = lif_scan(current, torch.zeros(1, 1), beta, v_th, 2.0)
    # m0=0; m1=0.8; m2=0.4+0.8=1.2; s2=1 -> m3=0.6+0.8-1=0.4; m4=0.2+0.8=1.0 (not > 1); m5=0.5+0.8=1.3
    expected_m = torch.tensor([0.0, 0.8, 1.2, 0.4, 1.0, 1.3])
    expected_s = torch.tensor([0.0, 0.0, 1.0, 0.0, 0.0, 1.0])
    torch.testing.assert_close(membranes.flatten(), expected_m)
    assert torch.equal(spikes.flatten(), expected_s)


def test_step_and_scan_agree():
    torch.manual_seed(0)
    current = torch.randn(30, 4, 7)
    spikes, membranes = lif_scan(current, torch.zeros(4, 7), 0.9, 0.5, 5.0)
    m = torch.zeros(4, 7)
    for t in range(30):
        assert torch.equal(membranes[t], m)
        s, m = lif_step(m, current[t], 0.9, 0.5, 5.0)
        assert torch.equal(spikes[t], s)


def test_surrogate_formula_and_stability():
    x = torch.tensor([0.0, 1.0, -1.0])
    z = 2.0
    sig = torch.sigmoid(z * x)
    torch.testing.assert_close(surrogate_grad(x, z), z * sig * (1 - sig))
    extreme = torch.tensor([-1e30, -1e4, -100.0, 0.0, 100.0, 1e4, 1e30, -3.4e38, 3.4e38])
    for z in (0.5, 2.0, 10.0, 100.0):
        g = surrogate_grad(extreme, z)
        assert torch.isfinite(g).all(), (z, g)
        assert g[0] == 0 and g[-1] == 0


def test_spike_backward_uses_surrogate():
    m = torch.tensor([1.0, 1.5, 2.5], requires_grad=True)
    s = spike(m, 1.5, 2.0)
    assert s.tolist() == [0.0, 0.0, 1.0]
    s.sum().backward()
    torch.testing.assert_close(m.grad, surrogate_grad(m.detach() - 1.5, 2.0))
    assert abs(m.grad[1].item() - 0.5) < 1e-6  # z/4 at the threshold


def test_reset_carries_no_gradient():
    # One neuron, two steps: dL/dI_0 through m_1 only via beta-free path, no reset term.
    current = torch.tensor([[[2.0]], [[0.0]], [[0.0]]], requires_grad=True)
    spikes, _ = lif_scan(current, torch.zeros(1, 1), 1.0, 1.0, 1.0)
    # m0=0, m1=2 (s1=1), m2=2+0-1=1 (s2=0)
    spikes[2].sum().backward()
    # d s2/d I0 = sg(m2 - 1) * dm2/dI0 = sg(0) * 1 (beta=1, reset detached) = 0.25
    assert abs(current.grad[0].item() - 0.25) < 1e-6
    assert current.grad[2].item() == 0.0  # the last input never reaches a spike


@pytest.mark.parametrize("surrogate, at_0, at_1", [
    ("sigmoid", 0.5, 2 * math.exp(-2) / (1 + math.exp(-2)) ** 2),  # z sig(2)(1 - sig(2)), z = 2
    ("fast_sigmoid", 1.0, 1 / 9),  # 1 / (1 + 2)^2
    ("arctan", 1.0, 1 / (1 + math.pi ** 2)),  # (2 / 2) / (1 + (pi / 2 * 2)^2)
])
def test_each_surrogate_follows_its_formula_on_every_kernel(surrogate, at_0, at_1):
    from snn_core import kernels
    from snn_core.surrogate_table import SURROGATES

    x = torch.tensor([0.0, 1.0, -1.0, 1e30])
    expected = torch.tensor([at_0, at_1, at_1, 0.0])
    torch.testing.assert_close(surrogate_grad(x, 2.0, surrogate), expected, rtol=1e-6, atol=1e-30)
    if kernels.numba is None:
        return
    import numpy as np

    # two steps, beta 0: grad_current[0] = a_1 = the surrogate at step 1 (membranes x + V_th) times g = 1
    membranes = np.stack([np.zeros(4, np.float32), (x + 1.0).numpy().astype(np.float32)])
    out = np.empty_like(membranes)
    ones = lambda v: np.full(4, v, np.float32)  # noqa: E731
    kernels.lif_backward(np.ones_like(membranes), membranes, ones(0.0), ones(1.0), ones(2.0), out,
                         SURROGATES[surrogate].kernel)
    np.testing.assert_allclose(out[0], expected.numpy(), rtol=2e-6, atol=1e-30)
