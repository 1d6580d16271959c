"""The fast engine against the plain per-timestep reference loop (tests/reference.py)."""

import pytest
import torch

from snn_core.config import RunConfig
from snn_core.encoders import encode
from snn_core.model import SNN, snn_loss
from tests.reference import reference_forward

from snn_core import kernels

ENGINES = ["torch"] + (["numba"] if kernels.numba is not None else [])


@pytest.fixture(autouse=True, params=ENGINES)
def engine(request, monkeypatch):
    """Every parity test runs once per engine: the plain PyTorch path and the fused kernels."""
    monkeypatch.setenv("SPIKEBOARD_ENGINE", request.param)
    assert kernels.engine() == request.param
    return request.param


PARAMS = [(0.7, 1.5, 2.0), (0.95, 0.5, 10.0), (0.5, 1.0, 0.5), (1.0, 0.75, 5.0)]


def _images(batch=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 784, generator=g) ** 2  # skewed towards dark, like MNIST


@pytest.mark.parametrize("encoder", ["image", "threshold", "bernoulli"])
@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("beta, v_th, z", PARAMS)
def test_engine_matches_reference(encoder, loss, beta, v_th, z):
    cfg = RunConfig(beta=beta, v_th=v_th, z=z, encoder=encoder, loss=loss, T=12, hidden=(16,), membrane_init="zero")
    model = SNN(cfg, torch.Generator().manual_seed(1))
    with torch.no_grad():  # larger weights so that every layer actually spikes
        for layer in model.layers:
            layer.weight.mul_(4.0)
    x = encode(_images(), cfg.encoder, cfg.T, torch.Generator().manual_seed(2))
    labels = torch.arange(8) % 10

    out = model(x)
    loss_fast = snn_loss(out.counts, labels, cfg.loss, cfg.T)
    grads_fast = torch.autograd.grad(loss_fast, list(model.parameters()))

    ref_spikes, ref_membranes = reference_forward(model, x)
    loss_ref = snn_loss(ref_spikes[-1].sum(0), labels, cfg.loss, cfg.T)
    grads_ref = torch.autograd.grad(loss_ref, list(model.parameters()))

    assert all(s.sum() > 0 for s in ref_spikes), "degenerate case: a layer never spiked"
    for fast, ref in zip(out.spikes, ref_spikes):
        assert torch.equal(fast, ref)
    for fast, ref in zip(out.membranes, ref_membranes):
        torch.testing.assert_close(fast, ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(loss_fast, loss_ref)
    for gf, gr in zip(grads_fast, grads_ref):
        torch.testing.assert_close(gf, gr, rtol=1e-5, atol=1e-5)
        assert gr.abs().sum() > 0


def test_parity_with_random_initial_membranes():
    cfg = RunConfig(T=8, membrane_init="kaiming", encoder="image")
    model = SNN(cfg, torch.Generator().manual_seed(0))
    x = encode(_images(4), cfg.encoder, cfg.T)
    out = model(x, torch.Generator().manual_seed(5))
    gen = torch.Generator().manual_seed(5)
    m0s = [model.initial_membrane(4, layer.out_features, x, gen) for layer in model.layers]
    assert m0s[0].abs().max() > 0
    ref_spikes, _ = reference_forward(model, x, m0s)
    for fast, ref in zip(out.spikes, ref_spikes):
        assert torch.equal(fast, ref)
