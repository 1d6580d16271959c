"""The training loop: `fit(config, callbacks)`.

The loop knows nothing about Redis or Streamlit. It reports through `Callbacks`
(batch end, epoch end, checkpoint) and asks `should_stop` after every batch. All
randomness flows from `config.seed` through explicit generators:

- `shuffle`: the order of training samples (CPU generator, re-seeded per epoch from its state)
- `encode`:  Bernoulli input draws and random initial membranes during training
- evaluation uses its own generator seeded by (seed, epoch), so it never disturbs training

A checkpoint taken at any batch boundary holds everything needed to continue as if
never interrupted: model, optimizer, generator states, the partial epoch's sums, history.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from .config import Device, RunConfig
from .data import DataBundle, Split, load_data
from .encoders import encode
from .model import SNN, snn_loss


@dataclass
class EpochMetrics:
    epoch: int  # 1-based
    train_loss: float  # mean over training samples
    train_acc: float
    test_loss: float  # true mean over the test set
    test_acc: float
    firing_rates: list[float]  # spikes per neuron per step on the test set: input, hidden..., output
    epoch_seconds: float  # training time of the epoch (evaluation excluded)
    samples_per_s: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class BatchInfo:
    epoch: int  # 1-based
    batch: int  # 1-based within the epoch
    batches: int  # per epoch
    _loss: Tensor = field(repr=False)

    @property
    def loss(self) -> float:
        """The batch's mean loss (reading it synchronises with the device)."""
        return float(self._loss)


@dataclass
class Callbacks:
    on_batch_end: Callable[[BatchInfo], None] | None = None
    on_epoch_end: Callable[[EpochMetrics], None] | None = None
    on_checkpoint: Callable[[dict[str, Any]], None] | None = None  # after every epoch, and on stop
    should_stop: Callable[[], bool] | None = None


@dataclass
class FitResult:
    history: list[EpochMetrics]
    stopped: bool  # True when should_stop ended training early
    model: SNN
    checkpoint: dict[str, Any]  # the state at the end (or at the stop)


def resolve_device(device: Device | str) -> torch.device:
    device = Device(device)
    if device is Device.AUTO:
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device is Device.CUDA and not torch.cuda.is_available():
        raise ValueError("device must be available: got 'cuda' but torch sees no CUDA GPU")
    return torch.device(device.value)


def device_name(device: torch.device) -> str:
    """Human-readable name of a device, e.g. 'NVIDIA H200' or 'cpu'."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return device.type


def _generator(device: torch.device, seed: int) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


@torch.no_grad()
def evaluate(model: SNN, split: Split, config: RunConfig, seed: int) -> tuple[float, float, list[float]]:
    """(mean loss, accuracy, firing rates input..output) of `model` on `split`."""
    model.eval()
    gen = _generator(split.images.device, seed)
    n_layers = len(config.layer_sizes)
    loss_sum = torch.zeros((), device=split.images.device)
    correct = torch.zeros((), device=split.images.device, dtype=torch.long)
    rate_sums = torch.zeros(n_layers, device=split.images.device)
    for images, labels in split.batches(config.test_batch_size):
        x = encode(images, config.encoder, config.T, gen)
        out = model(x, gen)
        counts = out.counts
        loss_sum += snn_loss(counts, labels, config.loss, config.T) * labels.shape[0]
        correct += (counts.argmax(-1) == labels).sum()
        layer_means = [x.mean(dim=(0, 2)).sum()] + [s.mean(dim=(0, 2)).sum() for s in out.spikes]
        rate_sums += torch.stack(layer_means)
    n = len(split)
    model.train()
    return float(loss_sum) / n, float(correct) / n, [float(r) / n for r in rate_sums]


def _fresh_state(config: RunConfig) -> dict[str, Any]:
    shuffle = torch.Generator().manual_seed(config.seed)
    return {"epoch": 0, "batch": 0, "epoch_shuffle_rng": shuffle.get_state(), "partial": None, "history": []}


def fit(
    config: RunConfig,
    callbacks: Callbacks | None = None,
    *,
    data: DataBundle | None = None,
    resume: dict[str, Any] | None = None,
) -> FitResult:
    """Train `config` from scratch, or continue from a `resume` checkpoint, to config.epochs."""
    cb = callbacks or Callbacks()
    device = resolve_device(config.device)
    if data is None:
        data = load_data(config.dataset, config.data_dir, device, config.train_limit, config.test_limit)

    init_gen = torch.Generator().manual_seed(config.seed)
    model = SNN(config, init_gen).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    encode_gen = _generator(device, config.seed + 1)
    state = _fresh_state(config)
    if resume is not None:
        state = _restore(resume, config, model, optimizer, encode_gen)
    history = [EpochMetrics(**h) for h in state["history"]]

    def checkpoint() -> dict[str, Any]:
        return {
            "config": config.to_dict(),
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "encode_rng": encode_gen.get_state(),
            **{k: state[k] for k in ("epoch", "batch", "epoch_shuffle_rng", "partial")},
            "history": [m.to_dict() for m in history],
        }

    train = data.train
    batches_per_epoch = -(-len(train) // config.batch_size)
    model.train()
    while state["epoch"] < config.epochs:
        epoch = state["epoch"] + 1
        shuffle = torch.Generator()
        shuffle.set_state(state["epoch_shuffle_rng"])
        partial = state["partial"] or {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0}
        loss_sum = torch.tensor(partial["loss_sum"], device=device, dtype=torch.float64)
        correct = torch.tensor(partial["correct"], device=device)
        seen = partial["seen"]
        started = time.perf_counter()
        stopped = False
        for index, (images, labels) in enumerate(train.batches(config.batch_size, shuffle), start=1):
            if index <= state["batch"]:
                continue  # already trained before the checkpoint we resumed from
            x = encode(images, config.encoder, config.T, encode_gen)
            out = model(x, encode_gen)
            counts = out.counts
            loss = snn_loss(counts, labels, config.loss, config.T)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

            loss = loss.detach()
            loss_sum += loss * labels.shape[0]
            correct += (counts.detach().argmax(-1) == labels).sum()
            seen += labels.shape[0]
            state["batch"] = index
            if cb.on_batch_end:
                cb.on_batch_end(BatchInfo(epoch, index, batches_per_epoch, loss))
            if cb.should_stop and cb.should_stop() and index < batches_per_epoch:
                stopped = True
                break
        seconds = partial["seconds"] + time.perf_counter() - started
        if stopped:
            state["partial"] = {"loss_sum": float(loss_sum), "correct": int(correct), "seen": seen, "seconds": seconds}
            final = checkpoint()
            if cb.on_checkpoint:
                cb.on_checkpoint(final)
            return FitResult(history, True, model, final)

        test_loss, test_acc, rates = evaluate(model, data.test, config, seed=config.seed * 1000 + epoch)
        metrics = EpochMetrics(
            epoch=epoch,
            train_loss=float(loss_sum) / seen,
            train_acc=float(correct) / seen,
            test_loss=test_loss,
            test_acc=test_acc,
            firing_rates=rates,
            epoch_seconds=seconds,
            samples_per_s=seen / seconds if seconds > 0 else 0.0,
        )
        history.append(metrics)
        state.update(epoch=epoch, batch=0, epoch_shuffle_rng=shuffle.get_state(), partial=None)
        if cb.on_checkpoint:
            cb.on_checkpoint(checkpoint())
        if cb.on_epoch_end:
            cb.on_epoch_end(metrics)
        if cb.should_stop and cb.should_stop() and state["epoch"] < config.epochs:
            return FitResult(history, True, model, checkpoint())
    return FitResult(history, False, model, checkpoint())


def _restore(ckpt: dict[str, Any], config: RunConfig, model: SNN, optimizer, encode_gen) -> dict[str, Any]:
    saved = RunConfig.from_dict(ckpt["config"])
    if saved.config_hash() != config.config_hash():
        diff = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in saved.diff(config).items())
        raise ValueError(f"checkpoint was written for another config ({diff})")
    model.load_state_dict(ckpt["model"])
    optimizer.load_state_dict(ckpt["optimizer"])
    encode_gen.set_state(ckpt["encode_rng"].cpu() if hasattr(ckpt["encode_rng"], "cpu") else ckpt["encode_rng"])
    return {k: ckpt[k] for k in ("epoch", "batch", "epoch_shuffle_rng", "partial", "history")}
