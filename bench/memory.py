"""Peak memory of one Spikeboard training run, measured in a fresh process.

`python -m bench.memory --encoder bernoulli --T 50 --batches 100` loads the whole dataset
(as a worker does), trains `batches` batches of that config with `snn_core.training.fit`
and prints JSON with the process's peak resident set (`ru_maxrss`) in MiB. A separate
process keeps the baselines' and the benchmark's own allocations out of the number.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time

from snn_core.config import RunConfig
from snn_core.data import DataBundle
from snn_core.training import fit

from .data import FASHION_DIR, SOURCES, load_bench_data, subset


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default="bernoulli")
    parser.add_argument("--T", type=int, default=50)
    parser.add_argument("--batches", type=int, default=100, help="training batches (0 = a full epoch)")
    parser.add_argument("--data", choices=SOURCES, default="auto")
    parser.add_argument("--data-dir", default=FASHION_DIR)
    args = parser.parse_args(argv)

    data = load_bench_data(args.data, args.data_dir)
    config = RunConfig(encoder=args.encoder, T=args.T, epochs=1, device="cpu")
    train = subset(data.bundle.train, args.batches * config.batch_size) if args.batches else data.bundle.train
    # The full test split stays resident (as in a worker) but only 1,000 samples are evaluated.
    started = time.perf_counter()
    result = fit(config, data=DataBundle(train=train, test=subset(data.bundle.test, 1000)))
    json.dump({
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "encoder": args.encoder,
        "T": args.T,
        "batches": -(-len(train) // config.batch_size),
        "epoch_seconds": result.history[-1].epoch_seconds,
        "wall_seconds": time.perf_counter() - started,
        "data": data.source,
    }, sys.stdout)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
