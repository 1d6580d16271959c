"""The training loop: `fit(config, callbacks)`.

`fit_packed(configs, callbacks)` trains a compatible sweep as one packed model (`packed.py`); `fit` is a
pack of one, so solo and packed runs share one engine. The loop knows nothing about Redis or Streamlit:
it reports through `Callbacks` (batch end, test pass start, epoch end, checkpoint) and asks
`should_stop` after every batch. All randomness flows from `config.seed` through explicit generators:

- `init`: the initial weights; `shuffle`: the order of training samples (CPU generator, its
  state carried across epochs); `train`: Bernoulli input draws and random initial membranes
  during training; `eval/{epoch}`: each evaluation's, so it never disturbs training
- each stream's seed is a hash of (stream, seed, epoch) (`streams.stream_seed`): no two coincide

A checkpoint taken at any batch boundary holds everything needed to continue as if
never interrupted: model, optimizer, generator states, the partial epoch's sums, history.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import torch
from torch import Tensor

from .config import RunConfig
from .data import DataBundle, Split, load_data
from .devices import device_name, flush_denormals, resolve_device  # noqa: F401  (workers.jobs imports them here)
from . import fused
from .encoders import UNDRAWN, BernoulliTrain, encode, undrawn
from .latency import step_correct
from .model import SNN
from .packed import PackedAdam, PackedOutput, PackedSNN, check_packable, packed_loss
from .streams import stream_seed


@dataclass
class EpochMetrics:
    epoch: int  # 1-based
    train_loss: float  # mean over training samples
    train_acc: float
    test_loss: float  # true mean over the test set
    test_acc: float
    firing_rates: list[float]  # spikes per neuron per step on the test set: input, hidden..., output
    epoch_seconds: float  # wall time of the epoch's training (evaluation excluded; a pack's, if packed)
    samples_per_s: float
    # Test accuracy reading the output after the first t of T steps, t = 1..T (`latency.py`).
    latency_acc: list[float] = field(default_factory=list)
    # Spikes of each neuron over the test set, per layer hidden..., output (`health.py`).
    neuron_counts: list[list[int]] = field(default_factory=list)
    test_samples: int = 0

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
    on_eval_start: Callable[[int], None] | None = None  # the epoch's test pass begins (epoch, 1-based)
    should_stop: Callable[[], bool] | None = None


@dataclass
class FitResult:
    history: list[EpochMetrics]
    stopped: bool  # True when should_stop ended training early
    model: SNN
    checkpoint: dict[str, Any]  # the state at the end (or at the stop)


def _generator(device: torch.device, seed: int) -> torch.Generator:
    gen = torch.Generator(device=device)
    gen.manual_seed(seed)
    return gen


@torch.no_grad()
def evaluate_pack(pack: PackedSNN, split: Split, seed: int) -> list[tuple]:
    """Per member: (mean loss, accuracy, firing rates input..output, accuracy after each of the
    T steps, spikes per neuron of each layer hidden..., output) on `split`."""
    config = pack.configs[0]
    device = split.images.device
    gen = _generator(device, seed)
    K, n_layers = pack.size, len(config.layer_sizes)
    loss_sum = torch.zeros(K, device=device, dtype=torch.float64)
    correct = torch.zeros(K, device=device, dtype=torch.long)
    rate_sums = torch.zeros(n_layers, K, device=device, dtype=torch.float64)
    losses = [c.loss for c in pack.configs]
    step_hits = torch.zeros(config.T, K, device=device, dtype=torch.long)
    neuron_sums = [torch.zeros(K, w, device=device, dtype=torch.float64) for w in config.layer_sizes[1:]]
    fused_pass = fused.FusedStep(pack).forward if fused.enabled(device) else None
    for images, labels in split.batches(config.test_batch_size):
        x = _lazy_input(images, config, gen) if fused_pass else None
        x = x or encode(images, config.encoder, config.T, gen)
        out = PackedOutput(fused_pass(x, gen), []) if fused_pass else pack(x, gen)
        counts = out.counts
        loss_sum += packed_loss(counts, labels, losses, config.T) * labels.shape[0]
        correct += (counts.argmax(-1) == labels.unsqueeze(1)).sum(0)
        rate_sums[0] += x.ones / (config.T * x.shape[2]) if isinstance(x, BernoulliTrain) else x.mean(dim=(0, 2)).sum()
        for l, s in enumerate(out.spikes, start=1):
            # spike counts summed as whole numbers, then scaled: exact in any order, so a packed
            # member's rates equal its solo run's to the last bit
            rate_sums[l] += s.sum(dim=(0, 1, 3), dtype=torch.float64) / (s.shape[0] * s.shape[3])
            neuron_sums[l - 1] += s.sum(dim=(0, 1), dtype=torch.float64)
        step_hits += step_correct(out.spikes[-1], labels)
    n = len(split)
    loss_sum, correct, rate_sums = loss_sum.tolist(), correct.tolist(), (rate_sums / n).T.tolist()
    latency = (step_hits.T.double() / n).tolist()
    neurons = [s.long().tolist() for s in neuron_sums]
    return [(loss_sum[k] / n, correct[k] / n, rate_sums[k], latency[k], [c[k] for c in neurons]) for k in range(K)]


def evaluate(model: SNN, split: Split, config: RunConfig, seed: int) -> tuple[float, float, list[float]]:
    """(mean loss, accuracy, firing rates input..output) of one `model` on `split`."""
    return evaluate_pack(PackedSNN([config], [model]).to(split.images.device), split, seed)[0][:3]


def fit(
    config: RunConfig,
    callbacks: Callbacks | None = None,
    *,
    data: DataBundle | None = None,
    resume: dict[str, Any] | None = None,
) -> FitResult:
    """Train `config` from scratch, or continue from a `resume` checkpoint, to config.epochs."""
    return fit_packed([config], [callbacks or Callbacks()], data=data, resumes=[resume])[0]


# A Bernoulli train at least this large goes to the fused step undrawn, to be drawn a few steps at
# a time (twice: forward and backward). Measured per training step (batch 64, one thread): 13 %
# faster at T = 50 (10 MB of input), 30 % at T = 100; at T = 20 (4 MB, within the cache) drawing
# twice costs more than it saves. It depends on the train's size only, never on the pack, so a
# pack member still computes exactly what its solo run does.
LAZY_INPUT_BYTES = 8 << 20


def _lazy_input(images: Tensor, config: RunConfig, generator: torch.Generator) -> BernoulliTrain | None:
    """For the fused step: an input left undrawn (`encoders.undrawn`, Bernoulli) where the native kernels
    take it (any size), or where it is large (see LAZY_INPUT_BYTES); else None."""
    if config.encoder not in UNDRAWN:
        return None
    if not fused.native_bernoulli(images.shape[1]) and config.T * images.numel() * 4 < LAZY_INPUT_BYTES:
        return None
    return undrawn(images, config.encoder, config.T, generator)


class _InputBuffer:
    """One reusable [T, B, 784] input buffer: a fresh 10 MB tensor per batch costs page faults."""

    def __init__(self, T: int, pixels: int, device: torch.device):
        self.T, self.pixels, self.device = T, pixels, device
        self.flat: Tensor | None = None

    def get(self, batch: int) -> Tensor | None:
        if self.device.type != "cpu":
            return None  # the device's caching allocator already reuses memory
        n = self.T * batch * self.pixels
        if self.flat is None or self.flat.numel() < n:
            self.flat = torch.empty(n)
        return self.flat[:n].view(self.T, batch, self.pixels)


@dataclass
class _Member:
    """One run's bookkeeping inside a pack."""

    config: RunConfig
    callbacks: Callbacks
    history: list[EpochMetrics]
    partial: dict[str, float] | None = None  # sums of an interrupted epoch
    stopped: bool = False
    checkpoint: dict[str, Any] | None = None  # taken when the member stopped


def fit_packed(
    configs: list[RunConfig],
    callbacks: list[Callbacks] | None = None,
    *,
    data: DataBundle | None = None,
    resumes: list[dict[str, Any] | None] | None = None,
) -> list[FitResult]:
    """Train K compatible runs (see `packed.check_packable`) as one packed model.

    Each member gets its own callbacks, metrics, checkpoints and stop; its history is
    the one its solo `fit` would produce. Members stopped early freeze while the rest
    go on. Returns one `FitResult` per member, in order.
    """
    check_packable(configs)
    lead = configs[0]
    epochs = max(c.epochs for c in configs)
    if any(c.epochs != epochs for c in configs):
        raise ValueError(f"epochs must be equal across a packed sweep, got {sorted({c.epochs for c in configs})}")
    callbacks = callbacks or [Callbacks() for _ in configs]
    resumes = resumes or [None] * len(configs)
    device = resolve_device(lead.device)
    if data is None:
        data = load_data(lead.dataset, lead.data_dir, device, lead.train_limit, lead.test_limit)
    with flush_denormals(device):
        return _PackRun(configs, callbacks, data, resumes, device).run(epochs)


class _PackRun:
    """One pack's training: its model, optimizer, input streams and members, and the point reached
    (`epoch_done`, `batch_done`). `run` trains epoch by epoch (`epoch`), an epoch batch by batch
    (`batch`), then evaluates it (`end_epoch`)."""

    def __init__(self, configs: list[RunConfig], callbacks: list[Callbacks], data: DataBundle,
                 resumes: list[dict[str, Any] | None], device: torch.device):
        self.configs, self.data, self.device, self.lead = configs, data, device, configs[0]
        init = [SNN(c, torch.Generator().manual_seed(stream_seed("init", c.seed))) for c in configs]
        self.pack = pack = PackedSNN(configs, init).to(device)
        self.optimizer = PackedAdam(list(pack.parameters()), [c.lr for c in configs])
        # One input stream per seed (`PackedSNN.streams`): its own data order, input draws and membranes.
        self.seeds = [configs[s[0]].seed for s in pack.streams]
        self.stream_of = {k: i for i, s in enumerate(pack.streams) for k in s}
        self.encode_gens = [_generator(device, stream_seed("train", seed)) for seed in self.seeds]
        self.members = [_Member(c, cb, []) for c, cb in zip(configs, callbacks)]
        self.shuffle_states = [torch.Generator().manual_seed(stream_seed("shuffle", seed)).get_state()
                               for seed in self.seeds]
        self.epoch_done, self.batch_done = 0, 0
        if any(r is not None for r in resumes):
            self._restore(resumes)
        self.fused_step = fused.FusedStep(pack) if fused.enabled(device) else None
        self.workspaces = [_InputBuffer(self.lead.T, self.lead.layer_sizes[0], device) for _ in pack.streams]
        self.batches_per_epoch = -(-len(data.train) // self.lead.batch_size)

    def run(self, epochs: int) -> list[FitResult]:
        while self.epoch_done < epochs and not all(m.stopped for m in self.members):
            self.epoch(self.epoch_done + 1, epochs)
        return [FitResult(m.history, m.stopped, self.pack.member(k), m.checkpoint if m.stopped else self.checkpoint(k))
                for k, m in enumerate(self.members)]

    def epoch(self, epoch: int, epochs: int) -> None:
        """Train the epoch's batches from `batch_done` on (all of them unless resumed mid-epoch); if no
        member stopped them all, evaluate it."""
        shuffles = [torch.Generator() for _ in self.seeds]
        for shuffle, state in zip(shuffles, self.shuffle_states):
            shuffle.set_state(state)
        sums = [m.partial or {"loss_sum": 0.0, "correct": 0, "seen": 0, "seconds": 0.0} for m in self.members]
        totals = _EpochSums(torch.tensor([s["loss_sum"] for s in sums], device=self.device, dtype=torch.float64),
                            torch.tensor([s["correct"] for s in sums], device=self.device), sums[0]["seen"],
                            [s["seconds"] for s in sums], time.perf_counter())
        batches = zip(*(self.data.train.batches(self.lead.batch_size, g) for g in shuffles))
        for index, batch in enumerate(batches, start=1):
            if index <= self.batch_done:
                continue  # trained before the checkpoint we resumed from
            self.batch(batch, totals)
            self.batch_done = index
            self._after_batch(epoch, index, totals)
            if all(m.stopped for m in self.members):
                return
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)  # once per epoch: kernels still queued belong to it
        self.end_epoch(epoch, epochs, totals, time.perf_counter() - totals.started, shuffles)

    def batch(self, batch: tuple, totals: "_EpochSums") -> None:
        """One training step of every member on its stream's (images, labels), added into `totals`."""
        lead, streams, members = self.lead, self.pack.streams, self.members
        xs = [(self.fused_step and _lazy_input(images, lead, gen))
              or encode(images, lead.encoder, lead.T, gen, out=space.get(images.shape[0]))
              for (images, _), gen, space in zip(batch, self.encode_gens, self.workspaces)]
        stream_labels = [y for _, y in batch]
        # targets per member [B, K] (or [B] when all members share one stream)
        labels = stream_labels[0] if len(streams) == 1 else torch.stack(
            [stream_labels[self.stream_of[k]] for k in range(len(members))], dim=1)
        if self.fused_step is not None:  # forward, loss and gradients in a few kernels, no graph
            loss, counts = self.fused_step(xs, stream_labels, self.encode_gens)
        else:  # the autograd engine (SPIKEBOARD_ENGINE=torch or numba, or not on the CPU)
            out = self.pack(xs, self.encode_gens)
            counts = out.counts
            loss = packed_loss(counts, labels, [c.loss for c in self.configs], lead.T)
            self.optimizer.zero_grad()
            loss.sum().backward()
        self.optimizer.step()
        totals.loss = loss.detach()
        totals.loss_sum += totals.loss * labels.shape[0]
        totals.correct += (counts.detach().argmax(-1) == (labels.unsqueeze(1) if labels.dim() == 1 else labels)).sum(0)
        totals.seen += labels.shape[0]

    def _after_batch(self, epoch: int, index: int, totals: "_EpochSums") -> None:
        elapsed = time.perf_counter() - totals.started
        for k, m in enumerate(self.members):
            if m.stopped:
                continue
            if m.callbacks.on_batch_end:
                m.callbacks.on_batch_end(BatchInfo(epoch, index, self.batches_per_epoch, totals.loss[k]))
            if m.callbacks.should_stop and index < self.batches_per_epoch and m.callbacks.should_stop():
                m.partial = {"loss_sum": float(totals.loss_sum[k]), "correct": int(totals.correct[k]),
                             "seen": totals.seen, "seconds": totals.seconds[k] + elapsed}
                self.stop_member(k)

    def end_epoch(self, epoch: int, epochs: int, totals: "_EpochSums", seconds: float, shuffles: list) -> None:
        """Evaluate the epoch, record each running member's metrics, checkpoint it and ask whether to stop."""
        for m in (m for m in self.members if not m.stopped and m.callbacks.on_eval_start):
            m.callbacks.on_eval_start(epoch)
        results = _evaluate_streams(self.pack, self.data.test, self.seeds, epoch)
        self.epoch_done, self.batch_done, self.shuffle_states = epoch, 0, [g.get_state() for g in shuffles]
        seen = totals.seen
        for k, m in enumerate(self.members):
            if m.stopped:
                continue
            test_loss, test_acc, rates, latency, neuron_counts = results[k]
            total = totals.seconds[k] + seconds
            metrics = EpochMetrics(
                epoch=epoch, train_loss=float(totals.loss_sum[k]) / seen, train_acc=float(totals.correct[k]) / seen,
                test_loss=test_loss, test_acc=test_acc, firing_rates=rates,
                epoch_seconds=total, samples_per_s=seen / total if total > 0 else 0.0,
                latency_acc=latency, neuron_counts=neuron_counts, test_samples=len(self.data.test),
            )
            m.history.append(metrics)
            m.partial = None
            if m.callbacks.on_checkpoint:
                m.callbacks.on_checkpoint(self.checkpoint(k))
            if m.callbacks.on_epoch_end:
                m.callbacks.on_epoch_end(metrics)
            if m.callbacks.should_stop and epoch < epochs and m.callbacks.should_stop():
                self.stop_member(k)

    def checkpoint(self, k: int) -> dict[str, Any]:
        m, stream = self.members[k], self.stream_of[k]
        return {
            "config": m.config.to_dict(),
            "model": self.pack.member_state(k),
            "optimizer": self.optimizer.member_state(k),
            "encode_rng": self.encode_gens[stream].get_state(),
            "epoch": self.epoch_done, "batch": self.batch_done, "epoch_shuffle_rng": self.shuffle_states[stream],
            "partial": m.partial,
            "history": [h.to_dict() for h in m.history],
        }

    def stop_member(self, k: int) -> None:
        member = self.members[k]
        member.stopped = True
        self.optimizer.active[k] = False
        member.checkpoint = self.checkpoint(k)
        if member.callbacks.on_checkpoint:
            member.callbacks.on_checkpoint(member.checkpoint)

    def _restore(self, resumes: list[dict[str, Any] | None]) -> None:
        """Load each member's checkpoint into the pack; all must be at the same point of training."""
        if any(r is None for r in resumes):
            raise ValueError("resumes must give a checkpoint for every member of the pack, or none")
        points = {(r["epoch"], r["batch"]) for r in resumes}
        if len(points) != 1:
            raise ValueError(f"checkpoints must all be at the same (epoch, batch) to resume as one pack, "
                             f"got {sorted(points)}")
        for k, (ckpt, member) in enumerate(zip(resumes, self.members)):
            saved = RunConfig.from_stored(ckpt["config"])
            if saved.config_hash() != member.config.config_hash():
                diff = ", ".join(f"{f}: {a!r} -> {b!r}" for f, (a, b) in saved.diff(member.config).items())
                raise ValueError(f"checkpoint was written for another config ({diff})")
            self.pack.load_member_state(k, ckpt["model"])
            self.optimizer.load_member_state(k, ckpt["optimizer"])
            member.history = [EpochMetrics(**h) for h in ckpt["history"]]
            member.partial = ckpt["partial"]
        streams = self.pack.streams
        for stream, gen in zip(streams, self.encode_gens):  # a stream's members hold the same states
            gen.set_state(resumes[stream[0]]["encode_rng"])
        self.epoch_done, self.batch_done = resumes[0]["epoch"], resumes[0]["batch"]
        self.shuffle_states = [resumes[stream[0]]["epoch_shuffle_rng"] for stream in streams]


@dataclass
class _EpochSums:
    """The running sums of an epoch, per member [K]: loss, correct predictions; and what they cover."""

    loss_sum: Tensor
    correct: Tensor
    seen: int  # samples so far (every member sees a batch of the same size)
    seconds: list[float]  # each member's training time before this session of the epoch (a resumed partial)
    started: float  # perf_counter when this session of the epoch began
    loss: Tensor | None = None  # the last batch's loss [K]


def _evaluate_streams(pack: PackedSNN, split: Split, seeds: list[int], epoch: int) -> list[tuple]:
    """`evaluate_pack` per input stream, each with its seed's evaluation stream (as its solo runs)."""
    if len(pack.streams) == 1:
        return evaluate_pack(pack, split, seed=stream_seed("eval", seeds[0], epoch))
    results: list[tuple] = [()] * pack.size
    for members, seed in zip(pack.streams, seeds):
        sub = PackedSNN([pack.configs[k] for k in members], [pack.member(k) for k in members])
        for k, r in zip(members, evaluate_pack(sub.to(split.images.device), split, seed=stream_seed("eval", seed, epoch))):
            results[k] = r
    return results
