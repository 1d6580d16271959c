import json
import os
import subprocess
import sys

import pytest
import torch

from snn_core import checkpoint
from snn_core.config import RunConfig
from snn_core.data import DataNotFoundError, load_data
from snn_core.training import Callbacks, fit


def small(data_dir, **kw):
    base = dict(T=8, epochs=2, data_dir=str(data_dir), train_limit=1000, test_limit=300, device="cpu")
    return RunConfig(**{**base, **kw})


def _as_dicts(history):
    out = []
    for m in history:
        d = m.to_dict()
        d.pop("epoch_seconds"), d.pop("samples_per_s")  # wall-clock, not part of the result
        out.append(d)
    return out


def test_loader_reads_torchvision_layout(synthetic_data_dir):
    data = load_data("mnist", str(synthetic_data_dir))
    assert data.train.images.shape == (2000, 784) and data.train.images.dtype == torch.uint8
    assert len(data.test) == 500 and set(data.test.labels.tolist()) == set(range(10))


def test_missing_data_names_folder_and_files(tmp_path):
    with pytest.raises(DataNotFoundError) as err:
        load_data("fashion-mnist", str(tmp_path), download=False)
    msg = str(err.value)
    assert str(tmp_path / "FashionMNIST" / "raw") in msg and "train-images-idx3-ubyte" in msg


def test_short_training_learns_well_above_chance(synthetic_data_dir):
    cfg = small(synthetic_data_dir, epochs=3, train_limit=2000, test_limit=0)
    seen = []
    result = fit(cfg, Callbacks(on_batch_end=lambda b: seen.append((b.epoch, b.batch, b.loss))))
    last = result.history[-1]
    assert last.test_acc > 0.6, result.history
    assert len(seen) == 3 * 32 and all(l > 0 for *_, l in seen)
    assert len(last.firing_rates) == 3 and all(0 <= r <= 1 for r in last.firing_rates)
    assert last.samples_per_s > 0 and last.epoch_seconds > 0


@pytest.mark.parametrize("loss", ["ce"])
def test_ce_loss_trains(synthetic_data_dir, loss):
    result = fit(small(synthetic_data_dir, loss=loss, epochs=2, train_limit=2000))
    assert result.history[-1].test_acc > 0.5


def test_test_loss_is_the_true_mean(synthetic_data_dir):
    from snn_core.model import SNN, snn_loss
    from snn_core.training import evaluate
    from snn_core.encoders import encode

    cfg = small(synthetic_data_dir, encoder="image", test_batch_size=64)  # 300 = 4*64 + 44: uneven batches
    data = load_data(cfg.dataset, cfg.data_dir, "cpu", test_limit=300)
    model = SNN(cfg, torch.Generator().manual_seed(0))
    loss, acc, _ = evaluate(model, data.test, cfg, seed=0)
    images = data.test.images.float() / 255
    with torch.no_grad():
        counts = model(encode(images, cfg.encoder, cfg.T)).counts
    assert loss == pytest.approx(float(snn_loss(counts, data.test.labels, cfg.loss, cfg.T)), rel=1e-5)


def test_same_seed_same_history_other_seed_other(synthetic_data_dir):
    a = fit(small(synthetic_data_dir)).history
    b = fit(small(synthetic_data_dir)).history
    c = fit(small(synthetic_data_dir, seed=7)).history
    assert _as_dicts(a) == _as_dicts(b)
    assert _as_dicts(a) != _as_dicts(c)


@pytest.mark.parametrize("stop_at_batch", [16, 23])  # an epoch boundary (16 batches/epoch) and mid-epoch
def test_resume_equals_uninterrupted(synthetic_data_dir, stop_at_batch):
    cfg = small(synthetic_data_dir, epochs=3)
    full = fit(cfg)
    counter = {"n": 0}

    def on_batch(_):
        counter["n"] += 1

    interrupted = fit(cfg, Callbacks(on_batch_end=on_batch, should_stop=lambda: counter["n"] >= stop_at_batch))
    assert interrupted.stopped and len(interrupted.history) < 3
    blob = checkpoint.to_bytes(interrupted.checkpoint)
    assert len(blob) < 200_000
    resumed = fit(cfg, resume=checkpoint.from_bytes(blob))
    assert not resumed.stopped
    assert _as_dicts(resumed.history) == _as_dicts(full.history)
    for p, q in zip(resumed.model.parameters(), full.model.parameters()):
        assert torch.equal(p, q)


def test_resume_refuses_another_config(synthetic_data_dir):
    ckpt = fit(small(synthetic_data_dir, epochs=1)).checkpoint
    with pytest.raises(ValueError, match="beta: 0.7 -> 0.9"):
        fit(small(synthetic_data_dir, epochs=2, beta=0.9), resume=ckpt)


def test_cli_prints_one_json_object_per_epoch(synthetic_data_dir, tmp_path):
    out = subprocess.run(
        [sys.executable, "-m", "snn_core.train", "--beta", "0.7", "--T", "5", "--z", "2", "--v-th", "1.5",
         "--encoder", "bernoulli", "--loss", "mse", "--epochs", "2", "--dataset", "mnist",
         "--data-dir", str(synthetic_data_dir), "--train-limit", "500", "--save", str(tmp_path / "ck.pt")],
        capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    lines = [json.loads(line) for line in out.stdout.splitlines()]
    assert [line["epoch"] for line in lines] == [1, 2]
    keys = {"epoch", "train_loss", "train_acc", "test_loss", "test_acc", "firing_rates", "epoch_seconds", "samples_per_s"}
    assert keys <= set(lines[0])
    assert checkpoint.load(str(tmp_path / "ck.pt"))["epoch"] == 2


@pytest.mark.parametrize("args, message", [
    (["--beta", "1.7"], "error: beta must be in (0, 1], got 1.7"),
    (["--encoder", "poisson"], "error: encoder must be one of image, threshold, bernoulli, latency; got 'poisson'"),
    (["--surrogate", "relu"], "error: surrogate must be one of sigmoid, fast_sigmoid, arctan; got 'relu'"),
    (["--T", "0"], "error: T must be an integer in 1..1000, got 0"),
])
def test_cli_error_path(args, message):
    out = subprocess.run([sys.executable, "-m", "snn_core.train", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == message
    assert out.stdout == ""


def test_cli_missing_data_is_one_line(tmp_path):
    out = subprocess.run([sys.executable, "-m", "snn_core.train", "--data-dir", str(tmp_path), "--epochs", "1"],
                         capture_output=True, text=True, timeout=120, env={**os.environ, "SPIKEBOARD_NO_DOWNLOAD": "1"})
    assert out.returncode == 2
    assert len(out.stderr.strip().splitlines()) == 1 and "not found in" in out.stderr


@pytest.mark.parametrize("surrogate", ["fast_sigmoid", "arctan"])
def test_each_surrogate_trains_and_the_fused_step_follows_the_autograd_engine(synthetic_data_dir, surrogate,
                                                                              monkeypatch):
    cfg = small(synthetic_data_dir, surrogate=surrogate, epochs=2, train_limit=2000)
    fused = fit(cfg).history
    assert fused[-1].test_acc > 0.5, fused
    assert _as_dicts(fused) != _as_dicts(fit(cfg.replace(surrogate="sigmoid")).history)
    monkeypatch.setenv("SPIKEBOARD_ENGINE", "numba")  # the autograd path (numba scans): same run, within rounding
    autograd = fit(cfg.replace(epochs=1)).history
    assert autograd[0].train_loss == pytest.approx(fused[0].train_loss, rel=1e-3)
    assert autograd[0].test_acc == pytest.approx(fused[0].test_acc, abs=0.02)


def test_each_epochs_test_pass_is_announced_before_it_runs(synthetic_data_dir):
    events = []
    callbacks = Callbacks(on_batch_end=lambda b: events.append(("batch", b.epoch)),
                          on_eval_start=lambda epoch: events.append(("eval", epoch)),
                          on_epoch_end=lambda m: events.append(("epoch", m.epoch)))
    fit(small(synthetic_data_dir), callbacks)
    marks = [e for e in events if e[0] != "batch"]
    assert marks == [("eval", 1), ("epoch", 1), ("eval", 2), ("epoch", 2)]
    last_batch_of_1 = max(i for i, e in enumerate(events) if e == ("batch", 1))
    assert events.index(("eval", 1)) == last_batch_of_1 + 1  # after training, before the epoch's metrics
