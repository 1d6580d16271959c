"""Train one run from the command line; one JSON object per epoch on stdout.

    python -m snn_core.train --beta 0.7 --T 50 --z 2 --v-th 1.5 --surrogate sigmoid --encoder bernoulli \
        --loss mse --epochs 1 --dataset mnist --data-dir DIR

Bad input exits with status 2 and a one-line message naming the field and the value.
"""

from __future__ import annotations

import argparse
import json
import sys

from .config import DatasetName, Device, Encoder, Loss, MembraneInit, RunConfig
from .surrogate_table import SURROGATES

DEFAULTS = RunConfig()


class OneLineParser(argparse.ArgumentParser):
    """A bad option prints one line (`error: argument --beta: invalid float value: 'x'`), exit 2."""

    def error(self, message: str):
        message = message if len(message) <= 300 else message[:280] + "... (cut short)"
        self.exit(2, f"error: {message} ({self.prog} --help shows the options)\n")


def build_parser() -> argparse.ArgumentParser:
    p = OneLineParser(prog="python -m snn_core.train", description="Train the lab's SNN.")
    d = DEFAULTS
    p.add_argument("--beta", type=float, default=d.beta, help="membrane leak in (0, 1]")
    p.add_argument("--T", type=int, default=d.T, help="timesteps")
    p.add_argument("--z", type=float, default=d.z, help="surrogate gradient slope")
    p.add_argument("--v-th", dest="v_th", type=float, default=d.v_th, help="firing threshold")
    p.add_argument("--surrogate", default=d.surrogate.value,
                   help="; ".join(f"{s.value}: {spec.formula}" for s, spec in SURROGATES.items())
                        + f" (x = m - V_th; default {d.surrogate.value}, the lab's)")
    p.add_argument("--encoder", default=d.encoder.value, help="|".join(e.value for e in Encoder))
    p.add_argument("--loss", default=d.loss.value, help="|".join(e.value for e in Loss))
    p.add_argument("--hidden", default=",".join(map(str, d.hidden)), help="hidden widths, e.g. 10 or 100,50")
    p.add_argument("--epochs", type=int, default=d.epochs)
    p.add_argument("--lr", type=float, default=d.lr)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--test-batch-size", type=int, default=d.test_batch_size)
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--dataset", default=d.dataset.value, help="|".join(e.value for e in DatasetName))
    p.add_argument("--membrane-init", default=d.membrane_init.value,
                   help=f"{'|'.join(e.value for e in MembraneInit)}; default {d.membrane_init.value}, the lab's start "
                        "(uniform in +-sqrt(6/width), drawn per batch)")
    p.add_argument("--train-limit", type=int, default=0, help="train on a fixed random subset of N samples")
    p.add_argument("--test-limit", type=int, default=0, help="test on a fixed random subset of N samples")
    p.add_argument("--data-dir", default="", help="dataset folder (default $SPIKEBOARD_DATA_DIR or ./data)")
    p.add_argument("--device", default=d.device.value, help="|".join(e.value for e in Device))
    p.add_argument("--save", default="", help="write the final checkpoint to this file")
    return p


def config_from_args(args: argparse.Namespace) -> RunConfig:
    try:
        hidden = tuple(int(w) for w in args.hidden.split(",")) if args.hidden else ()
    except ValueError:
        raise ValueError(f"hidden must be comma-separated integers, got {args.hidden[:100]!r}") from None
    fields = {k: v for k, v in vars(args).items() if k not in ("save", "hidden")}
    return RunConfig(hidden=hidden, **fields)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    from . import checkpoint  # torch is imported only once the input is known to be good
    from .data import DataNotFoundError
    from .training import Callbacks, fit

    emit = lambda m: print(json.dumps(m.to_dict()), flush=True)  # noqa: E731
    try:
        result = fit(config, Callbacks(on_epoch_end=emit))
    except (DataNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.save:
        checkpoint.save(result.checkpoint, args.save)
    return 0


if __name__ == "__main__":
    sys.exit(main())
