"""Resource limits on a run's config, and an estimate of the memory a run needs.

The limits are the operator's, read from the environment of the process that validates a
config (the web app and the CLI when a run is submitted, the worker again before it trains),
never from the config or the submit call. Defaults leave room for real research on one GPU:

    SPIKEBOARD_MAX_WIDTH          16384   neurons in one hidden layer
    SPIKEBOARD_MAX_LAYERS         8       hidden layers
    SPIKEBOARD_MAX_BATCH          4096    batch_size
    SPIKEBOARD_MAX_TEST_BATCH     10000   test_batch_size (the whole MNIST test set)
    SPIKEBOARD_MAX_EPOCHS         1000    epochs
    SPIKEBOARD_MAX_T              1000    timesteps
    SPIKEBOARD_MAX_WEIGHTS        32e6    weights and biases of one run; its checkpoint (12 bytes a
                                          weight: weights and two Adam moments) must fit in one Redis
                                          string (512 MB)
    SPIKEBOARD_MAX_SWEEP          500     runs in one sweep
    SPIKEBOARD_MAX_RUN_MEMORY_GB  32      `estimate_peak_bytes` of one run (or one packed job), GiB

A worker also compares the estimate with the memory its own device has free (`check_fits`).
Seeds are 0..SEED_MAX = 2**31 - 1, so any per-stream seed derived as seed * 10**9 + epoch * 10**6 + k
stays inside int64 (what torch.Generator.manual_seed takes).

No torch at import time: the web side validates configs with this module.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from typing import Any, Mapping

from .encoder_table import encoder_spec

SEED_MAX = 2**31 - 1
SAMPLE_LIMIT_MAX = 10**9  # train_limit / test_limit: more than any dataset holds
GIB = 2**30


@dataclass(frozen=True)
class Limits:
    """The operator's bounds on one run (see the module docstring for the variables)."""

    max_width: int = 16384
    max_layers: int = 8
    max_batch: int = 4096
    max_test_batch: int = 10000
    max_epochs: int = 1000
    max_T: int = 1000
    max_weights: int = 32_000_000
    max_sweep: int = 500
    max_run_memory_gb: float = 32.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "Limits":
        """Limits with each default replaced by its SPIKEBOARD_* variable when that is set."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            name = ENV_NAMES[f.name]
            raw = environ.get(name, "").strip()
            if not raw:
                continue
            try:
                value = float(raw) if f.type == "float" else int(float(raw))
            except (ValueError, OverflowError):
                raise ValueError(f"{name} must be a number, got {raw!r}") from None
            if not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a number > 0, got {raw!r}")
            values[f.name] = value
        return cls(**values)

    @property
    def max_run_memory_bytes(self) -> int:
        return int(self.max_run_memory_gb * GIB)


ENV_NAMES = {
    "max_width": "SPIKEBOARD_MAX_WIDTH",
    "max_layers": "SPIKEBOARD_MAX_LAYERS",
    "max_batch": "SPIKEBOARD_MAX_BATCH",
    "max_test_batch": "SPIKEBOARD_MAX_TEST_BATCH",
    "max_epochs": "SPIKEBOARD_MAX_EPOCHS",
    "max_T": "SPIKEBOARD_MAX_T",
    "max_weights": "SPIKEBOARD_MAX_WEIGHTS",
    "max_sweep": "SPIKEBOARD_MAX_SWEEP",
    "max_run_memory_gb": "SPIKEBOARD_MAX_RUN_MEMORY_GB",
}


def current_limits() -> Limits:
    return Limits.from_env()


# -- memory estimate -----------------------------------------------------------------

PIXELS = 784
OUTPUTS = 10
DATASET_SIZES = (60_000, 10_000)  # MNIST and Fashion-MNIST: train, test samples
PROCESS_BYTES = 700 * 2**20  # a process that imported torch and numba (measured ~580 MiB) and its slack
BYTES_PER_WEIGHT = 32  # weight, gradient, two Adam moments (16 B); a checkpoint's copy (12 B); a member copy (4 B)
ACTIVATION_COPIES = 8  # float32 [T, B, N] tensors alive per neuron at the peak (current, spikes, membranes, grads)


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes a run needs at its peak, by part (see `estimate_peak_bytes`)."""

    process: int
    data: int
    weights: int
    train_activations: int  # one training batch
    eval_activations: int  # one test batch

    @property
    def activations(self) -> int:
        return max(self.train_activations, self.eval_activations)  # training and evaluation do not overlap

    @property
    def training(self) -> int:
        """What training adds to a process that has imported torch."""
        return self.data + self.weights + self.activations

    @property
    def total(self) -> int:
        return self.process + self.training


def weight_count(hidden: tuple[int, ...] | list[int]) -> int:
    """Weights and biases of the 784-hidden-10 network."""
    sizes = (PIXELS, *hidden, OUTPUTS)
    return sum(a * b + b for a, b in zip(sizes, sizes[1:]))


def estimate_memory(config: Any, members: int = 1) -> MemoryEstimate:
    """Peak memory of training `config` (a RunConfig, or a packed job of `members` such runs).

        activations(B) = 4 B * T * B * (c_in * 784 + 8 * K * N)     N = sum(hidden) + 10
        peak           = process + data + 32 B * K * weights + max(activations(batch_size),
                                                                  activations(test_batch_size))

    c_in = 1 for an encoder whose steps differ (a [T, B, 784] float input train), 0 for one that
    repeats its frame (a view: `encoder_table.EncoderSpec.repeated`). The 8 copies per neuron and step are what the
    engine keeps for the backward pass plus the gradients and workspaces (measured: 7.1-7.7 on the
    fused CPU engine, 4.4-4.8 on the autograd engine, in training and in evaluation alike).
    Training and evaluation do not overlap. data: the dataset's uint8 images and int64 labels
    (limited by train_limit / test_limit). Measured (growth of resident anonymous memory over
    training, fused CPU engine, 2026-12; tests/test_limits.py checks one): 0.91-0.96 x weights +
    activations for T=50 x 512 x [500] and T=100 x 256 x [2000], Bernoulli and image (0.4-1.6 GiB).
    """
    k = max(1, int(members))
    neurons = sum(config.hidden) + OUTPUTS
    c_in = 0 if encoder_spec(config.encoder).repeated else 1

    def activations(batch: int) -> int:
        return 4 * config.T * batch * (c_in * PIXELS + ACTIVATION_COPIES * k * neurons)

    n_train = min(config.train_limit or DATASET_SIZES[0], DATASET_SIZES[0])
    n_test = min(config.test_limit or DATASET_SIZES[1], DATASET_SIZES[1])
    return MemoryEstimate(
        process=PROCESS_BYTES,
        data=(n_train + n_test) * (PIXELS + 8),
        weights=BYTES_PER_WEIGHT * k * weight_count(config.hidden),
        train_activations=activations(min(config.batch_size, n_train)),
        eval_activations=activations(min(config.test_batch_size, n_test)),
    )


def estimate_peak_bytes(config: Any, members: int = 1) -> int:
    """`estimate_memory(config, members).total`: the bytes checked against SPIKEBOARD_MAX_RUN_MEMORY_GB."""
    return estimate_memory(config, members).total


def gib(n: float) -> str:
    return f"{n / GIB:.1f} GiB"


def check_memory(config: Any, limits: Limits, members: int = 1) -> None:
    """ValueError when the estimate of `config` (x `members` packed) exceeds the operator's limit."""
    need = estimate_peak_bytes(config, members)
    if need > limits.max_run_memory_bytes:
        what = f"a packed job of {members} runs" if members > 1 else "this run"
        raise ValueError(
            f"{_blame(config, members)}: {what} needs about {gib(need)} of memory (T={config.T}, "
            f"batch_size={config.batch_size}, test_batch_size={config.test_batch_size}, hidden={list(config.hidden)}), "
            f"more than the limit of {gib(limits.max_run_memory_bytes)} ({ENV_NAMES['max_run_memory_gb']}); "
            f"lower T, batch_size, test_batch_size or hidden")


def _blame(config: Any, members: int) -> str:
    """The field that drives the estimate most, with its value (error messages start with a field)."""
    est = estimate_memory(config, members)
    if est.weights > est.activations:
        return f"hidden {list(config.hidden)}"
    if est.train_activations >= est.eval_activations:
        return f"batch_size {config.batch_size}"
    return f"test_batch_size {config.test_batch_size}"


def largest_pack(config: Any, limits: Limits, wanted: int) -> int:
    """How many runs like `config` (at most `wanted`, at least 1) fit in one packed job under the limit."""
    k = max(1, wanted)
    while k > 1 and estimate_peak_bytes(config, k) > limits.max_run_memory_bytes:
        k -= 1
    return k


# -- what the worker's machine has -------------------------------------------------------

def available_bytes(device: Any) -> int | None:
    """Memory free for a new allocation on `device` (a torch.device), None when unknown.

    CUDA: the device's free memory. CPU: MemAvailable, or less when a cgroup (a container)
    caps this process.
    """
    kind = getattr(device, "type", str(device))
    if kind == "cuda":
        import torch  # only a worker on a GPU gets here

        free, _ = torch.cuda.mem_get_info(device)
        return int(free)
    if kind != "cpu":
        return None
    free = _meminfo_available()
    capped = _cgroup_free()
    if capped is not None:
        free = capped if free is None else min(free, capped)
    return free


def _meminfo_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _cgroup_free() -> int | None:
    try:
        with open("/sys/fs/cgroup/memory.max", encoding="ascii") as fh:
            limit = fh.read().strip()
        with open("/sys/fs/cgroup/memory.current", encoding="ascii") as fh:
            used = int(fh.read().strip())
    except (OSError, ValueError):
        return None
    return None if limit == "max" else max(0, int(limit) - used)


def check_fits(config: Any, device: Any, members: int = 1, available: int | None = None) -> None:
    """ValueError (a run's failure reason) when training would not fit in the memory `device` has free.

    The process has imported torch already, so only `MemoryEstimate.training` is compared.
    """
    need = estimate_memory(config, members).training
    free = available_bytes(device) if available is None else available
    if free is not None and need > free:
        what = f"a packed job of {members} runs" if members > 1 else "this run"
        raise ValueError(
            f"{_blame(config, members)}: {what} needs about {gib(need)} of memory on {getattr(device, 'type', device)} (T={config.T}, "
            f"batch_size={config.batch_size}, test_batch_size={config.test_batch_size}, "
            f"hidden={list(config.hidden)}) but this worker has {gib(free)} free; lower T, batch_size, "
            f"test_batch_size or hidden, or run it on a worker with more memory")


# -- data directories ------------------------------------------------------------------

DATA_ROOTS_ENV = "SPIKEBOARD_DATA_ROOTS"


def data_roots(environ: Mapping[str, str] | None = None) -> list[str]:
    """The folders (absolute, resolved) under which a submitted data_dir may point: $SPIKEBOARD_DATA_ROOTS,
    separated by os.pathsep. None by default: a submitted run uses its worker's SPIKEBOARD_DATA_DIR."""
    environ = os.environ if environ is None else environ
    raw = environ.get(DATA_ROOTS_ENV, "")
    return [os.path.realpath(p) for p in raw.split(os.pathsep) if p.strip() and os.path.isabs(p.strip())]


def check_data_dir(data_dir: str, roots: list[str] | None = None) -> None:
    """ValueError unless `data_dir` is "" (the worker's own) or inside one of the operator's `roots`."""
    if data_dir == "":
        return
    roots = data_roots() if roots is None else roots
    allowed = ", ".join(roots) if roots else "none set"
    hint = (f"data_dir must be empty (workers read their own SPIKEBOARD_DATA_DIR) or a folder inside "
            f"{DATA_ROOTS_ENV} ({allowed})")
    if not isinstance(data_dir, str) or not os.path.isabs(data_dir) or "\0" in data_dir:
        raise ValueError(f"{hint}, got {data_dir!r}")
    real = os.path.realpath(data_dir)
    for root in roots:
        if os.path.commonpath([root, real]) == root:
            return
    raise ValueError(f"{hint}, got {data_dir!r}")
