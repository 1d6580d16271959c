"""The fused training step (snn_core/fused.py) against the autograd engine and the reference loop."""

import pytest
import torch

from snn_core import fused, kernels
from snn_core.config import RunConfig
from snn_core.encoders import encode
from snn_core.model import snn_loss
from snn_core.packed import PackedSNN, packed_loss
from snn_core.training import fit_packed
from tests.bernoulli_paths import use_bernoulli_path
from tests.reference import reference_forward

pytestmark = pytest.mark.skipif(kernels.numba is None, reason="the fused step needs numba")

PARAMS = [(0.7, 1.5, 2.0, "mse"), (0.95, 0.5, 10.0, "ce"), (0.5, 1.0, 0.5, "mse")]


def _pack(encoder, K, membrane_init="zero", hidden=(16, 12)):
    configs = [RunConfig(T=10, encoder=encoder, beta=b, v_th=v, z=z, loss=l, hidden=hidden, membrane_init=membrane_init)
               for b, v, z, l in PARAMS[:K]]
    pack = PackedSNN(configs)
    with torch.no_grad():  # larger weights so that every layer spikes
        for w in pack.weights:
            w.mul_(4.0)
    return configs, pack


@pytest.mark.parametrize("encoder", ["image", "threshold", "bernoulli", "bernoulli-native", "latency"])
@pytest.mark.parametrize("K, membrane_init", [(1, "zero"), (3, "kaiming")])
def test_fused_step_equals_the_autograd_engine_and_the_reference(encoder, K, membrane_init, monkeypatch):
    """bernoulli: the dense train on BLAS; bernoulli-native: the undrawn train on the native kernels,
    whose sums round differently from BLAS's in the last bits (spikes still equal here; see README)."""
    from snn_core.encoders import bernoulli_train

    native_input = encoder == "bernoulli-native"
    encoder = encoder.split("-")[0]
    if native_input:
        use_bernoulli_path(monkeypatch, "native")
    configs, pack = _pack(encoder, K, membrane_init)
    images = torch.rand(6, 784, generator=torch.Generator().manual_seed(3)) ** 2
    x = encode(images, encoder, 10, torch.Generator().manual_seed(0))
    x_fused = bernoulli_train(images, 10, torch.Generator().manual_seed(0)) if native_input else x
    monkeypatch.setenv("SPIKEBOARD_ENGINE", "numba")  # the autograd engine, for the comparison
    labels = torch.arange(6) % 10

    out = pack(x, torch.Generator().manual_seed(7))
    loss = packed_loss(out.counts, labels, [c.loss for c in configs], 10)
    loss.sum().backward()
    autograd = [p.grad.clone() for p in pack.parameters()]
    for p in pack.parameters():
        p.grad = None

    step = fused.FusedStep(pack)
    fused_loss, counts = step(x_fused, labels, torch.Generator().manual_seed(7))  # same membrane draws
    assert bool(step._native_spaces) == native_input
    spikes = step.spikes()
    for layer, (a, f) in enumerate(zip(out.spikes, spikes)):
        assert torch.equal(a, f), layer
        assert f.sum() > 0, "degenerate: a layer never spiked"
    assert torch.equal(counts, out.counts)
    torch.testing.assert_close(fused_loss, loss.detach(), rtol=1e-5, atol=1e-7)
    for p, g in zip(pack.parameters(), autograd):
        scale = max(1.0, g.abs().max().item())
        assert g.abs().sum() > 0
        torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-5 * scale)

    if membrane_init == "zero":  # and each member against the plain per-timestep loop
        for k, config in enumerate(configs):
            member = pack.member(k)
            ref_spikes, _ = reference_forward(member, x)
            for layer, ref in enumerate(ref_spikes):
                assert torch.equal(spikes[layer][:, :, k], ref)
            snn_loss(ref_spikes[-1].sum(0), labels, config.loss, 10).backward()
            for l, lin in enumerate(member.layers):
                scale = max(1.0, lin.weight.grad.abs().max().item())
                torch.testing.assert_close(pack.weights[l].grad[k], lin.weight.grad, rtol=1e-5, atol=1e-5 * scale)
                torch.testing.assert_close(pack.biases[l].grad[k], lin.bias.grad, rtol=1e-5, atol=1e-5 * scale)


@pytest.mark.parametrize("path", ["native", "native-redrawn", "chunked"])
@pytest.mark.parametrize("streams", [1, 2])
def test_undrawn_bernoulli_input_equals_the_whole_train(streams, path, monkeypatch):
    """The training loop hands the fused step an undrawn `BernoulliTrain`: on the native kernels (the
    spike lists kept for the backward, or drawn again), or on BLAS drawn in chunks of 3 steps (the last
    one short), the spikes and losses are those of the dense train on BLAS, the gradients within rounding."""
    from snn_core.encoders import bernoulli_train

    use_bernoulli_path(monkeypatch, path)

    configs, _ = _pack("bernoulli", 3, "kaiming")
    if streams == 2:
        configs = [configs[0], configs[1].replace(seed=1), configs[2].replace(seed=1)]
    images = torch.rand(6, 784, generator=torch.Generator().manual_seed(3)) ** 2
    labels = [torch.arange(6) % 10, (torch.arange(6) + 3) % 10][:streams]
    results = []
    for lazy in (False, True):
        pack = PackedSNN(configs)
        with torch.no_grad():
            for w in pack.weights:
                w.mul_(4.0)
        step = fused.FusedStep(pack)
        step.CHUNK_BYTES = 3 * 6 * 784 * 4
        if path == "native-redrawn":
            step.KEEP_BYTES = 0
        gens = [torch.Generator().manual_seed(s) for s in range(streams)]
        xs = [bernoulli_train(images, 10, g) if lazy else encode(images, "bernoulli", 10, g) for g in gens]
        membranes = [torch.Generator().manual_seed(7 + s) for s in range(streams)]
        loss, counts = step(xs, labels, membranes)
        assert bool(step._native_spaces) == (lazy and path.startswith("native"))
        results.append((loss, counts, step.spikes(), [p.grad.clone() for p in pack.parameters()]))
    (loss_d, counts_d, spikes_d, grads_d), (loss_l, counts_l, spikes_l, grads_l) = results
    assert torch.equal(loss_d, loss_l) and torch.equal(counts_d, counts_l)
    assert all(torch.equal(a, b) for a, b in zip(spikes_d, spikes_l)) and spikes_l[0].sum() > 0
    for a, b in zip(grads_d, grads_l):
        assert b.abs().sum() > 0
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5 * max(1.0, a.abs().max().item()))


@pytest.mark.parametrize("path", ["native", "chunked"])
def test_evaluating_a_seed_pack_on_undrawn_input_counts_each_input_spike_once(monkeypatch, path):
    """Every input stream (and so every chunk) of an evaluated pack draws the same undrawn test train:
    the input rate is still the train's, as with the dense train."""
    from snn_core import training
    from snn_core.data import Split

    images = (torch.rand(40, 784, generator=torch.Generator().manual_seed(0)) ** 2 * 255).to(torch.uint8)
    split = Split(images, torch.arange(40) % 10)
    pack = PackedSNN([RunConfig(T=8), RunConfig(T=8, seed=3)])
    monkeypatch.setenv("SPIKEBOARD_NATIVE", "0")  # the dense train (1.6 MB: under LAZY_INPUT_BYTES)
    dense = training.evaluate_pack(pack, split, 0)
    use_bernoulli_path(monkeypatch, path)
    monkeypatch.setattr(training, "LAZY_INPUT_BYTES", 0)
    monkeypatch.setattr(fused.FusedStep, "CHUNK_BYTES", 3 * 40 * 784 * 4)
    lazy = training.evaluate_pack(pack, split, 0)
    for d, l in zip(dense, lazy):
        assert l[2][0] == pytest.approx(d[2][0], rel=1e-6) and 0.1 < d[2][0] < 0.6  # the input rate
        assert l[:2] == pytest.approx(d[:2]) and l[2][1:] == pytest.approx(d[2][1:])


def test_one_hidden_layer_and_wide_layers():
    """Any widths: one wide hidden layer, and no hidden layer other than the output's input."""
    for hidden in ((40,), (10, 10, 10)):
        configs, pack = _pack("bernoulli", 2, hidden=hidden)
        x = encode(torch.rand(5, 784) ** 2, "bernoulli", 10, torch.Generator().manual_seed(1))
        labels = torch.arange(5)
        out = pack(x)
        packed_loss(out.counts, labels, [c.loss for c in configs], 10).sum().backward()
        autograd = [p.grad.clone() for p in pack.parameters()]
        step = fused.FusedStep(pack)
        step(x, labels)
        assert all(torch.equal(a, f) for a, f in zip(out.spikes, step.spikes()))
        for p, g in zip(pack.parameters(), autograd):
            torch.testing.assert_close(p.grad, g, rtol=1e-5, atol=1e-5 * max(1.0, g.abs().max().item()))


def _metrics(history):
    return [(h.train_loss, h.train_acc, h.test_loss, h.test_acc, *h.firing_rates) for h in history]


# Bernoulli on the native kernels; on BLAS, the whole train drawn at once, and drawn in chunks
@pytest.mark.parametrize("path, lazy_bytes", [("native", None), ("whole", None), ("chunked", 0)])
def test_training_fused_equals_training_on_the_autograd_engine(synthetic_data_dir, monkeypatch, path, lazy_bytes):
    """Histories and weights after 2 epochs of a sweep (MSE and CE members, Bernoulli, random start)."""
    from snn_core import training

    use_bernoulli_path(monkeypatch, path)
    if lazy_bytes is not None:
        monkeypatch.setattr(training, "LAZY_INPUT_BYTES", lazy_bytes)
        monkeypatch.setattr(fused.FusedStep, "CHUNK_BYTES", 3 * 64 * 784 * 4)
    base = RunConfig(T=8, epochs=2, data_dir=str(synthetic_data_dir), train_limit=640, test_limit=200, device="cpu",
                     membrane_init="kaiming")
    configs = [base, base.replace(beta=0.9, loss="ce", lr=2e-3), base.replace(seed=3)]  # two input streams
    monkeypatch.setenv("SPIKEBOARD_ENGINE", "auto")
    assert fused.enabled(torch.device("cpu"))
    fast = fit_packed(configs)
    monkeypatch.setenv("SPIKEBOARD_ENGINE", "numba")
    assert not fused.enabled(torch.device("cpu"))
    slow = fit_packed(configs)
    for f, s in zip(fast, slow):
        for row_f, row_s in zip(_metrics(f.history), _metrics(s.history)):
            assert row_f == pytest.approx(row_s, rel=1e-4, abs=1e-5)
        for p, q in zip(f.model.parameters(), s.model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)
        assert f.history[-1].train_loss < f.history[0].train_loss  # it learned


def test_engine_switch(monkeypatch):
    monkeypatch.setenv("SPIKEBOARD_ENGINE", "torch")
    assert not fused.enabled(torch.device("cpu"))
    monkeypatch.delenv("SPIKEBOARD_ENGINE")
    assert fused.enabled(torch.device("cpu"))
    assert not fused.enabled(torch.device("meta"))


def _splitmix64(x: int) -> int:
    mask = (1 << 64) - 1
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & mask
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & mask
    return x ^ (x >> 31)


@pytest.mark.parametrize("P", [8, 7])  # whole groups of four pixels (the vectorised loops), and a partial one
def test_bernoulli_draws_follow_their_definition(P):
    """Draw (t, b, p) is 16-bit quarter p % 4 of splitmix64(key + c * golden), c counting the hashes."""
    import numpy as np

    T, B, key = 3, 2, 12345
    thresholds = np.random.default_rng(0).integers(0, 65537, size=(B, P)).astype(np.int32)
    out = np.empty((T, B, P), np.float32)
    assert kernels.bernoulli_u16(thresholds, np.uint64(key), 0, T, out) == int(out.sum())
    part = np.empty((2, B, P), np.float32)  # steps 1 and 2 alone are those steps of the whole train
    assert kernels.bernoulli_u16(thresholds, np.uint64(key), 1, 2, part) == int(part.sum())
    assert (part == out[1:]).all()
    groups = -(-P // 4)
    for t in range(T):
        for b in range(B):
            for p in range(P):
                c = (t * B + b) * groups + p // 4
                h = _splitmix64((key + c * 0x9E3779B97F4A7C15) & ((1 << 64) - 1))
                draw = (h >> (16 * (p % 4))) & 0xFFFF
                assert out[t, b, p] == float(draw < thresholds[b, p]), (t, b, p)
