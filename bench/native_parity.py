"""`python -m bench.native_parity`: how often the native Bernoulli first layer's rounding moves a spike.

The native kernels (`snn_core/native`) sum the spiking pixels' weight rows where BLAS multiplies the
float train by W, so the two first-layer currents differ in their last bits, and a spike can differ
only where a membrane lands within that rounding of V_th. This measures how often that happens: a
pack of the lab's Bernoulli configurations (T = 50) is trained briefly on Fashion-MNIST, then, with
the same weights, the fused step's forward on the native path and the autograd engine's forward on
the dense train (the reference path) are run over test batches, and their spikes compared layer by
layer. Writes a markdown table to --out (default: print only).
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
import torch


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.native_parity", description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=40, help="test batches compared")
    parser.add_argument("--train-batches", type=int, default=200, help="batches trained first (weights that spike)")
    parser.add_argument("--T", type=int, default=50)
    parser.add_argument("--path", choices=("native", "blas"), default="native",
                        help="the fused step's first layer to hold against the reference (blas: the control)")
    parser.add_argument("--out", default="-")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)

    from bench.data import load_bench_data
    from snn_core import fused
    from snn_core.config import RunConfig
    from snn_core.encoders import bernoulli_train, encode
    from snn_core.packed import PackedSNN
    from snn_core.training import fit_packed

    if args.path == "blas":
        os.environ["SPIKEBOARD_NATIVE"] = "0"
    elif not fused.native_bernoulli(784):
        print("the native kernels are not built on this machine: nothing to compare", file=sys.stderr)
        return 2
    data = load_bench_data()
    limit = args.train_batches * 64
    base = RunConfig(T=args.T, epochs=1, encoder="bernoulli", beta=0.7, z=2.0, v_th=1.5, device="cpu",
                     train_limit=limit, test_limit=64, membrane_init="zero")
    configs = [base, base.replace(beta=0.9), base.replace(v_th=1.0), base.replace(z=5.0),
               base.replace(loss="ce"), base.replace(beta=0.5, v_th=0.5)]
    from bench.timing import cut

    results = fit_packed(configs, data=cut(data.bundle, args.train_batches, 64))
    pack = PackedSNN(configs, [r.model for r in results])
    step = fused.FusedStep(pack)
    layers = len(configs[0].layer_sizes) - 1
    differ, total, spikes = np.zeros(layers, np.int64), np.zeros(layers, np.int64), np.zeros(layers, np.int64)
    os.environ["SPIKEBOARD_ENGINE"] = "numba"  # pack(...) below: the autograd engine
    with torch.no_grad():
        for i, (images, _) in enumerate(data.bundle.test.batches(64)):
            if i >= args.batches:
                break
            native_spikes = step.forward(bernoulli_train(images, args.T, torch.Generator().manual_seed(i)))
            reference = pack(encode(images, "bernoulli", args.T, torch.Generator().manual_seed(i))).spikes
            for l, (a, b) in enumerate(zip(native_spikes, reference)):
                differ[l] += int((a != b).sum())
                total[l] += a.numel()
                spikes[l] += int(b.sum())
    lines = [f"# The fused step on its {args.path} first layer vs the autograd engine on the dense train: spikes that "
             f"differ (T = {args.T}, {len(configs)} configs, "
             f"{args.batches} test batches of 64, after {args.train_batches} training batches)", "",
             "| layer | neuron-steps | spikes (reference) | spikes that differ | share |", "|---|---:|---:|---:|---:|"]
    for l in range(layers):
        lines.append(f"| {l + 1} | {total[l]:,} | {spikes[l]:,} | {differ[l]:,} | {differ[l] / total[l]:.2e} |")
    lines += ["", "Command: `python -m bench.native_parity " + " ".join(argv if argv is not None else sys.argv[1:]) + "`"]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out != "-":
        with open(args.out, "w") as f:
            f.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
