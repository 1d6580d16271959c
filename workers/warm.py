"""A worker's parent process made ready before it forks work horses, so a job starts training at once.

RQ forks a new work horse for every job, and a horse starts with what its parent holds. Whatever
the parent has not imported, loaded or parsed, every horse does again: importing the training code
(~0.3 s), loading the numba kernels from their on-disk cache at the first batch (~0.5 s), and
parsing the dataset's IDX files (~0.3 s for Fashion-MNIST 60k). For a one-epoch job (a search's
first rung, a short sweep member) that is about as long as the training itself.

- `prepare()`, once when the worker starts: imports `workers.jobs` and trains a tiny network on
  made-up tensors for each encoder and loss (one thread, on the CPU, never CUDA: a parent that
  touched CUDA could not fork usable horses), so the kernels are in memory before any fork.
- `remember(...)`, after each job: parses that job's dataset in the parent (the parse is cached per
  file version, `snn_core.data`), so the worker's next horses find it parsed. Only files already
  on disk: the parent never downloads; a dataset it cannot read is left to the horse, which
  reports the error on the run as before.

Neither ever raises: a worker that could not warm up trains as before, only slower to start.
"""

from __future__ import annotations

import logging
import time

log = logging.getLogger(__name__)

__all__ = ["prepare", "remember"]


def prepare() -> float:
    """Import the training code and load its kernels in this (parent) process; seconds it took."""
    started = time.monotonic()
    try:
        import torch

        from snn_core.config import RunConfig
        from snn_core.data import DataBundle, Split
        from snn_core.training import Callbacks, fit

        from . import jobs  # noqa: F401  (the horse's imports, done once here)

        torch.set_num_threads(1)  # no OpenMP thread pool in a process that forks (a horse sets its own)
        gen = torch.Generator().manual_seed(0)

        def split(n: int) -> Split:
            return Split(torch.randint(0, 256, (n, 784), dtype=torch.uint8, generator=gen),
                         torch.randint(0, 10, (n,), generator=gen))

        data = DataBundle(split(32), split(16))
        for encoder in ("image", "bernoulli"):
            for loss in ("mse", "ce"):
                config = RunConfig(hidden=(4,), epochs=1, T=2, encoder=encoder, loss=loss, batch_size=16,
                                   test_batch_size=16, device="cpu")
                fit(config, Callbacks(), data=data)
    except Exception:
        log.exception("worker warm-up failed; horses will load the training code themselves")
    return time.monotonic() - started


def remember(dataset: str, data_dir: str) -> None:
    """Parse `dataset`'s files (as a run naming `data_dir` reads them) into this process's cache."""
    try:
        from snn_core.data import load_data, worker_data_dir

        load_data(dataset, worker_data_dir(data_dir), "cpu", download=False)
    except Exception as exc:  # missing files, a data dir this worker may not read: the horse says so on the run
        log.info("worker: dataset %s not kept in memory (%s)", dataset, exc)
