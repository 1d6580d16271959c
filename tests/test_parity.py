"""The fast engine against the plain per-timestep reference loop (tests/reference.py)."""

import pytest
import torch

from snn_core.config import RunConfig
from snn_core.encoders import encode
from snn_core.model import SNN, snn_loss
from tests.reference import reference_forward

from snn_core import kernels

ENGINES = ["torch"] + (["numba"] if kernels.numba is not None else [])


@pytest.fixture(params=ENGINES)
def engine(request, monkeypatch):
    """A parity test that takes it runs once per engine: the plain PyTorch path and the fused kernels."""
    monkeypatch.setenv("SPIKEBOARD_ENGINE", request.param)
    assert kernels.engine() == request.param
    return request.param


PARAMS = [(0.7, 1.5, 2.0), (0.95, 0.5, 10.0), (0.5, 1.0, 0.5), (1.0, 0.75, 5.0)]


def _images(batch=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 784, generator=g) ** 2  # skewed towards dark, like MNIST


@pytest.mark.parametrize("encoder", ["image", "threshold", "bernoulli", "latency"])
@pytest.mark.parametrize("loss", ["mse", "ce"])
@pytest.mark.parametrize("beta, v_th, z", PARAMS)
def test_engine_matches_reference(encoder, loss, beta, v_th, z, engine):
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


def test_parity_with_random_initial_membranes(engine):
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


# -- each surrogate on each engine against the reference ------------------------------------------

SURROGATE_ENGINES = ["torch", "numba", "fused", "native"]


def surrogate_differences(surrogate: str, engine: str, beta=0.7, v_th=1.0, z=2.0, loss="mse") -> tuple[float, float]:
    """(max |grad - reference grad| over all parameters, max |reference grad|) of one training step of a
    784-16-12-10 net on a Bernoulli input, on `engine`: torch or numba (the autograd path, its scans in
    torch or numba), fused (`fused.FusedStep` on the dense train), native (the undrawn train on the
    native first layer). The caller sets SPIKEBOARD_ENGINE / SPIKEBOARD_NATIVE for the engine."""
    from snn_core import fused
    from snn_core.encoders import bernoulli_train
    from snn_core.packed import PackedSNN

    cfg = RunConfig(beta=beta, v_th=v_th, z=z, surrogate=surrogate, encoder="bernoulli", loss=loss, T=12,
                    hidden=(16, 12), membrane_init="zero")
    model = SNN(cfg, torch.Generator().manual_seed(1))
    with torch.no_grad():  # larger weights so that every layer actually spikes
        for layer in model.layers:
            layer.weight.mul_(4.0)
    images, labels = _images(), torch.arange(8) % 10
    x = encode(images, cfg.encoder, cfg.T, torch.Generator().manual_seed(2))
    if engine in ("torch", "numba"):
        out = model(x)
        grads = torch.autograd.grad(snn_loss(out.counts, labels, cfg.loss, cfg.T), list(model.parameters()))
        spikes = out.spikes
    else:
        pack = PackedSNN([cfg], [model])
        step = fused.FusedStep(pack)
        x_in = bernoulli_train(images, cfg.T, torch.Generator().manual_seed(2)) if engine == "native" else x
        step(x_in, labels)
        assert bool(step._native_spaces) == (engine == "native")
        spikes = [s[:, :, 0] for s in step.spikes()]
        grads = [g for pair in zip(pack.weights, pack.biases) for g in (pair[0].grad[0], pair[1].grad[0])]
    ref_spikes, _ = reference_forward(model, x)
    ref_grads = torch.autograd.grad(snn_loss(ref_spikes[-1].sum(0), labels, cfg.loss, cfg.T), list(model.parameters()))
    assert all(s.sum() > 0 for s in ref_spikes), "degenerate case: a layer never spiked"
    for fast, ref in zip(spikes, ref_spikes):
        assert torch.equal(fast, ref)
    assert all(g.abs().sum() > 0 for g in ref_grads)
    diff = max((g - r).abs().max().item() for g, r in zip(grads, ref_grads))
    return diff, max(r.abs().max().item() for r in ref_grads)


def _select(engine: str, monkeypatch) -> None:
    from tests.bernoulli_paths import use_bernoulli_path

    if engine != "torch" and kernels.numba is None:
        pytest.skip("needs numba")
    monkeypatch.setenv("SPIKEBOARD_ENGINE", engine if engine in ("torch", "numba") else "auto")
    use_bernoulli_path(monkeypatch, "native" if engine == "native" else "blas")


@pytest.mark.parametrize("surrogate", ["sigmoid", "fast_sigmoid", "arctan"])
@pytest.mark.parametrize("engine_name", SURROGATE_ENGINES)
@pytest.mark.parametrize("beta, v_th, z, loss", [(0.7, 1.0, 2.0, "mse"), (0.95, 0.5, 10.0, "ce")])
def test_each_surrogate_on_each_engine_matches_the_reference(surrogate, engine_name, beta, v_th, z, loss, monkeypatch):
    _select(engine_name, monkeypatch)
    diff, scale = surrogate_differences(surrogate, engine_name, beta, v_th, z, loss)
    assert diff <= 1e-5 * max(1.0, scale), (diff, scale)


def test_the_surrogates_give_different_gradients():
    """The surrogate reaches the gradient at all: the three differ on the same step."""
    grads = []
    for surrogate in ("sigmoid", "fast_sigmoid", "arctan"):
        cfg = RunConfig(v_th=1.0, surrogate=surrogate, encoder="image", T=8, hidden=(16,), membrane_init="zero")
        model = SNN(cfg, torch.Generator().manual_seed(1))
        out = model(encode(_images(), cfg.encoder, cfg.T))
        grads.append(torch.autograd.grad(snn_loss(out.counts, torch.arange(8) % 10, cfg.loss, cfg.T),
                                         model.layers[0].weight)[0])
    assert not torch.allclose(grads[0], grads[1]) and not torch.allclose(grads[1], grads[2])


if __name__ == "__main__":  # python -m tests.test_parity: the figures for the notes
    import os

    print("| surrogate | engine | max abs grad diff (beta 0.7, V_th 1, z 2, mse) | (beta 0.95, V_th 0.5, z 10, ce) |")
    print("|---|---|---|---|")
    for surrogate in ("sigmoid", "fast_sigmoid", "arctan"):
        for engine_name in SURROGATE_ENGINES:
            os.environ["SPIKEBOARD_ENGINE"] = engine_name if engine_name in ("torch", "numba") else "auto"
            os.environ["SPIKEBOARD_NATIVE"] = "1" if engine_name == "native" else "0"
            cells = []
            for params in ((0.7, 1.0, 2.0, "mse"), (0.95, 0.5, 10.0, "ce")):
                diff, scale = surrogate_differences(surrogate, engine_name, *params)
                cells.append(f"{diff:.2e} (max grad {scale:.2e})")
            print(f"| {surrogate} | {engine_name} | {' | '.join(cells)} |")
