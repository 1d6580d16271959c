"""A sweep trained as one packed model equals its members trained alone."""

import pytest
import torch

from snn_core import kernels
from snn_core.config import RunConfig
from snn_core.encoders import encode
from snn_core.model import snn_loss
from snn_core.packed import PackedSNN, check_packable, pack_groups, packed_loss
from snn_core.training import Callbacks, fit, fit_packed
from tests.bernoulli_paths import use_bernoulli_path
from tests.reference import reference_forward


ENGINES = ["torch"] + (["numba"] if kernels.numba is not None else [])


def base(data_dir, **kw):
    cfg = dict(T=8, epochs=2, data_dir=str(data_dir), train_limit=600, test_limit=200, device="cpu")
    return RunConfig(**{**cfg, **kw})


def sweep(data_dir, **kw):
    b = base(data_dir, **kw)
    return [b, b.replace(beta=0.9, lr=2e-3), b.replace(v_th=1.0, loss="ce"), b.replace(z=5.0, beta=0.5)]


def _metrics(history):
    return [(h.train_loss, h.train_acc, h.test_loss, h.test_acc, *h.firing_rates) for h in history]


def assert_close_histories(a, b):
    a, b = _metrics(a), _metrics(b)
    assert len(a) == len(b) > 0
    for row_a, row_b in zip(a, b):
        assert row_a == pytest.approx(row_b, rel=1e-4, abs=1e-5)


def test_unpackable_fields_are_named():
    with pytest.raises(ValueError, match="T must be equal across a packed sweep, got 50 and 10"):
        check_packable([RunConfig(), RunConfig(T=10)])
    with pytest.raises(ValueError, match="encoder must be equal"):
        check_packable([RunConfig(), RunConfig(encoder="image")])
    check_packable([RunConfig(), RunConfig(beta=0.9, v_th=1.0, z=5.0, loss="ce", lr=0.01)])


def test_pack_groups_split_incompatible_configs():
    configs = [RunConfig(beta=0.5), RunConfig(T=10), RunConfig(beta=0.9), RunConfig(T=10, loss="ce")]
    assert pack_groups(configs) == [[0, 2], [1, 3]]


@pytest.mark.parametrize("encoder", ["bernoulli", "image"])
def test_each_member_matches_the_reference_loop(encoder):
    configs = [RunConfig(T=10, encoder=encoder, beta=b, v_th=v, z=z, membrane_init="zero") for b, v, z in [(0.7, 1.5, 2), (0.95, 0.5, 10), (0.5, 1.0, 0.5)]]
    pack = PackedSNN(configs)
    with torch.no_grad():
        for w in pack.weights:
            w.mul_(4.0)
    x = encode(torch.rand(6, 784) ** 2, encoder, 10, torch.Generator().manual_seed(0))
    out = pack(x)
    for k in range(len(configs)):
        ref_spikes, _ = reference_forward(pack.member(k), x)
        for layer, ref in enumerate(ref_spikes):
            assert torch.equal(out.spikes[layer][:, :, k], ref)
        assert ref_spikes[-1].sum() > 0


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("encoder", ["image", "threshold", "bernoulli", "latency"])
@pytest.mark.parametrize("K", [1, 3])
def test_member_gradients_match_the_reference_loop(engine, encoder, K, monkeypatch):
    """On the numba engine the pack runs as one fused autograd node (snn_core/fused.py)."""
    monkeypatch.setenv("SPIKEBOARD_ENGINE", engine)
    params = [(0.7, 1.5, 2.0, "mse"), (0.95, 0.5, 10.0, "ce"), (0.5, 1.0, 0.5, "mse")][:K]
    configs = [RunConfig(T=10, encoder=encoder, beta=b, v_th=v, z=z, loss=l, hidden=(16, 12), membrane_init="zero")
               for b, v, z, l in params]
    pack = PackedSNN(configs)
    with torch.no_grad():
        for w in pack.weights:
            w.mul_(4.0)
    images = torch.rand(6, 784, generator=torch.Generator().manual_seed(3)) ** 2
    x = encode(images, encoder, 10, torch.Generator().manual_seed(0))
    labels = torch.arange(6) % 10
    out = pack(x)
    packed_loss(out.counts, labels, [c.loss for c in configs], 10).sum().backward()
    for k, config in enumerate(configs):
        member = pack.member(k)
        ref_spikes, _ = reference_forward(member, x)
        for layer, ref in enumerate(ref_spikes):
            assert torch.equal(out.spikes[layer][:, :, k], ref), (k, layer)
        snn_loss(ref_spikes[-1].sum(0), labels, config.loss, 10).backward()
        for l, layer in enumerate(member.layers):
            # Within 1e-5 of the gradient's scale: with 4x weights and two hidden layers the
            # gradients reach ~1 and float32 sums in another order differ by a few 1e-6 of that.
            scale = max(1.0, layer.weight.grad.abs().max().item())
            assert layer.weight.grad.abs().sum() > 0
            torch.testing.assert_close(pack.weights[l].grad[k], layer.weight.grad, rtol=1e-5, atol=1e-5 * scale)
            torch.testing.assert_close(pack.biases[l].grad[k], layer.bias.grad, rtol=1e-5, atol=1e-5 * scale)


@pytest.fixture
def one_thread():
    """torch on one thread, as workers run (SPIKEBOARD_TORCH_THREADS=1): with more, MKL splits a matrix
    product by its shape, so a pack's first-layer product rounds differently from a solo run's."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _exactly_equal(result, solo):
    assert _metrics(result.history) == _metrics(solo.history)
    assert result.history[-1].neuron_counts == solo.history[-1].neuron_counts
    for p, q in zip(result.model.parameters(), solo.model.parameters()):
        assert torch.equal(p, q)


@pytest.mark.skipif(kernels.numba is None, reason="the fused engine needs numba")
# Bernoulli input on the native kernels (spike lists kept, or drawn again), or on BLAS: drawn whole, or a
# few steps at a time
@pytest.mark.parametrize("path", ["native", "native-redrawn", "whole", "chunked"])
def test_packed_history_equals_solo_runs_exactly(synthetic_data_dir, one_thread, monkeypatch, path):
    """The fused engine: each member's history and weights are its solo run's, bit for bit."""
    from snn_core import fused, training

    monkeypatch.setenv("SPIKEBOARD_ENGINE", "auto")
    use_bernoulli_path(monkeypatch, path)
    if path == "native-redrawn":
        monkeypatch.setattr(fused.FusedStep, "KEEP_BYTES", 0)
    if path == "chunked":
        monkeypatch.setattr(training, "LAZY_INPUT_BYTES", 0)
        monkeypatch.setattr(fused.FusedStep, "CHUNK_BYTES", 3 * 64 * 784 * 4)
    configs = sweep(synthetic_data_dir)
    packed = fit_packed(configs)
    for config, result in zip(configs, packed):
        solo = fit(config)
        assert len(solo.history) == 2
        _exactly_equal(result, solo)


@pytest.mark.parametrize("engine", ENGINES)
def test_packed_history_equals_solo_runs_within_rounding(synthetic_data_dir, engine, monkeypatch):
    """The autograd engine packs the first layer as one product whose rounding differs from a solo
    run's in the last bit, so a member matches its solo run within float tolerance (README)."""
    monkeypatch.setenv("SPIKEBOARD_ENGINE", engine)
    configs = sweep(synthetic_data_dir)
    packed = fit_packed(configs)
    for config, result in zip(configs, packed):
        solo = fit(config)
        assert_close_histories(result.history, solo.history)
        for p, q in zip(result.model.parameters(), solo.model.parameters()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-6)


def seed_sweep(data_dir):
    """Three seeds, one of them with two hyperparameter members (two input streams of one member)."""
    b = base(data_dir)
    return [b, b.replace(seed=1), b.replace(seed=1, beta=0.9, loss="ce"), b.replace(seed=2, v_th=1.0)]


def test_seeds_are_packable():
    check_packable([RunConfig(seed=0), RunConfig(seed=1, beta=0.9)])
    configs = [RunConfig(seed=s, T=t) for t in (5, 10) for s in range(3)]
    assert pack_groups(configs) == [[0, 1, 2], [3, 4, 5]]


@pytest.mark.skipif(kernels.numba is None, reason="the fused engine needs numba")
@pytest.mark.parametrize("encoder, path", [("bernoulli", "native"), ("bernoulli", "whole"), ("image", "native")])
def test_seed_members_train_exactly_as_their_solo_runs(synthetic_data_dir, one_thread, encoder, path, monkeypatch):
    """Members of other seeds have their own data order, Bernoulli draws and initial membranes."""
    monkeypatch.setenv("SPIKEBOARD_ENGINE", "auto")
    use_bernoulli_path(monkeypatch, path)
    configs = [c.replace(encoder=encoder, membrane_init="kaiming") for c in seed_sweep(synthetic_data_dir)]
    packed = fit_packed(configs)
    solos = [fit(c) for c in configs]
    for result, solo in zip(packed, solos):
        _exactly_equal(result, solo)
    assert _metrics(solos[0].history) != _metrics(solos[1].history)  # the seeds did differ


def test_seed_members_on_the_autograd_engine(synthetic_data_dir, monkeypatch):
    monkeypatch.setenv("SPIKEBOARD_ENGINE", ENGINES[-1])
    configs = seed_sweep(synthetic_data_dir)
    for result, config in zip(fit_packed(configs), configs):
        assert_close_histories(result.history, fit(config).history)


def test_seed_pack_resumes_and_members_resume_alone(synthetic_data_dir):
    configs = seed_sweep(synthetic_data_dir)[:3]
    full = fit_packed(configs)
    n = {"batches": 0}

    def count(_):
        n["batches"] += 1

    stop = lambda: n["batches"] >= 7  # noqa: E731
    first = fit_packed(configs, [Callbacks(on_batch_end=count, should_stop=stop)] + [Callbacks(should_stop=stop)] * 2)
    assert all(r.stopped for r in first)
    resumed = fit_packed(configs, resumes=[r.checkpoint for r in first])
    for r, f in zip(resumed, full):
        assert_close_histories(r.history, f.history)
    alone = fit(configs[2], resume=first[2].checkpoint)  # a seed-1 member's checkpoint is a solo checkpoint
    assert_close_histories(alone.history, full[2].history)


def test_stopping_one_member_leaves_the_others_running(synthetic_data_dir):
    configs = sweep(synthetic_data_dir)
    full = fit_packed(configs)
    calls = {"n": 0}

    def stop_after_five():
        calls["n"] += 1
        return calls["n"] >= 5

    cbs = [Callbacks(), Callbacks(should_stop=stop_after_five), Callbacks(), Callbacks()]
    results = fit_packed(configs, cbs)
    assert results[1].stopped and results[1].history == [] and results[1].checkpoint["batch"] == 5
    for k in (0, 2, 3):
        assert not results[k].stopped
        assert _metrics(results[k].history) == _metrics(full[k].history)
    # the stopped member resumes alone and ends where its uninterrupted run would
    resumed = fit(configs[1], resume=results[1].checkpoint)
    assert_close_histories(resumed.history, full[1].history)


def test_pack_resume_equals_uninterrupted(synthetic_data_dir):
    configs = sweep(synthetic_data_dir)[:2]
    full = fit_packed(configs)
    n = {"batches": 0}

    def count(_):
        n["batches"] += 1

    stop = lambda: n["batches"] >= 7  # noqa: E731
    first = fit_packed(configs, [Callbacks(on_batch_end=count, should_stop=stop), Callbacks(should_stop=stop)])
    assert all(r.stopped for r in first)
    resumed = fit_packed(configs, resumes=[r.checkpoint for r in first])
    for r, f in zip(resumed, full):
        assert _metrics(r.history) == _metrics(f.history)
