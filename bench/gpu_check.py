"""`python -m bench.gpu_check`: the issue's GPU targets, in one short script for a lent GPU machine.

Prints one JSON object:
- `epoch_s`: one 60,000-sample epoch of the baseline config (bernoulli, T=50, MSE, batch 64)
  trained by `snn_core.training.fit` on CUDA (target < 0.5 s). Timed from the end of the
  epoch's first batch to the end of its last, with `torch.cuda.synchronize()` at both ends,
  and scaled by batches / (batches - 1); fit's own `epoch_seconds` (not synchronised) is
  reported beside it.
- `packed`: when snn_core has `fit_packed` (in `packed` or `training`), the wall time of one epoch over
  `--packed-batches` batches for 1 and for `--packed-size` (100) configs, and their ratio
  (target < 2).

Without CUDA it prints {"cuda": false, ...} with the reason and exits 0, so it can sit in a
script that also runs where there is no GPU.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import torch

from snn_core.config import RunConfig
from snn_core.data import DataBundle, Split
from snn_core.training import BatchInfo, Callbacks, fit

from .data import FASHION_DIR, SOURCES, load_bench_data, subset
from .timing import packed_fit


def to_device(split: Split, device: torch.device) -> Split:
    return Split(split.images.to(device), split.labels.to(device))


def epoch_seconds(config: RunConfig, data: DataBundle) -> dict:
    """A synchronised time of fit's second epoch over all of data.train (the first warms up)."""
    marks: dict[str, float] = {}

    def on_batch_end(info: BatchInfo) -> None:
        if info.epoch == 2 and info.batch in (1, info.batches):
            torch.cuda.synchronize()
            marks["start" if info.batch == 1 else "end"] = time.perf_counter()

    result = fit(config.replace(epochs=2), Callbacks(on_batch_end=on_batch_end), data=data)
    batches = -(-len(data.train) // config.batch_size)
    synced = (marks["end"] - marks["start"]) * batches / (batches - 1)
    last = result.history[-1]
    return {"epoch_s": synced, "fit_epoch_seconds": last.epoch_seconds, "batches": batches,
            "test_acc": last.test_acc}


def packed_ratio(base: RunConfig, data: DataBundle, size: int, batches: int) -> dict:
    fit_packed = packed_fit()
    part = DataBundle(train=subset(data.train, batches * base.batch_size), test=subset(data.test, 1000))
    configs = [c.replace(epochs=1) for c in _many(base, size)]

    def wall(members: list[RunConfig]) -> float:
        fit_packed(members, data=part)  # warmup: compilation, allocator, cuDNN/cuBLAS handles
        torch.cuda.synchronize()
        started = time.perf_counter()
        fit_packed(members, data=part)
        torch.cuda.synchronize()
        return time.perf_counter() - started

    one, many = wall(configs[:1]), wall(configs)
    return {"configs": size, "batches": batches, "one_s": one, "packed_s": many, "ratio": many / one}


def _many(base: RunConfig, size: int) -> list[RunConfig]:
    """`size` distinct configs around `base`: beta, V_th, z, loss and lr varied (same T, encoder, batch)."""
    betas, v_ths, zs = (0.5, 0.7, 0.8, 0.9, 0.95), (0.5, 0.75, 1.0, 1.25, 1.5), (1.0, 2.0, 5.0, 10.0)
    grid = [dict(beta=b, v_th=v, z=z, loss=loss) for loss in ("mse", "ce") for b in betas for v in v_ths for z in zs]
    return [base.replace(**grid[i % len(grid)], lr=1e-3 * (1 + i // len(grid))) for i in range(size)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.gpu_check", description=__doc__.splitlines()[0])
    parser.add_argument("--packed-size", type=int, default=100)
    parser.add_argument("--packed-batches", type=int, default=200, help="training batches per packed epoch")
    parser.add_argument("--data", choices=SOURCES, default="auto")
    parser.add_argument("--data-dir", default=FASHION_DIR)
    args = parser.parse_args(argv)

    if not torch.cuda.is_available():
        reason = f"no CUDA device visible to torch {torch.__version__} (torch.cuda.is_available() is False)"
        print(json.dumps({"cuda": False, "skipped": reason}))
        print(f"gpu_check: skipped, {reason}; run it on a machine with an NVIDIA GPU.", file=sys.stderr)
        return 0

    device = torch.device("cuda")
    data = load_bench_data(args.data, args.data_dir)
    bundle = DataBundle(train=to_device(data.bundle.train, device), test=to_device(subset(data.bundle.test, 1000), device))
    base = RunConfig(encoder="bernoulli", T=50, loss="mse", batch_size=64, device="cuda")
    out: dict = {"cuda": True, "gpu": torch.cuda.get_device_name(device), "torch": torch.__version__,
                 "data": data.source}
    out["baseline"] = epoch_seconds(base, bundle)
    out["baseline"]["target_met"] = out["baseline"]["epoch_s"] < 0.5
    print(json.dumps(out), file=sys.stderr, flush=True)  # partial result, in case the packed part fails
    if packed_fit() is None:
        out["packed"] = {"skipped": "snn_core has no fit_packed"}
    else:
        out["packed"] = packed_ratio(base, bundle, args.packed_size, args.packed_batches)
        out["packed"]["target_met"] = out["packed"]["ratio"] < 2
    out["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
