"""`python -m bench.speed`: one run, same data, the lab loop and the peers vs Spikeboard on the CPU.

For each encoder and T (baseline config otherwise: beta 0.7, z 2, V_th 1.5, MSE, batch 64,
Adam lr 1e-3, 784-10-10) it times training batches of

- the lab's per-timestep loop (torchvision DataLoader + ToTensor, stacked encoder),
- the peers, each skipped with a note when not installed (requirements-bench.txt): snnTorch 1.x
  in the tutorial style, SpikingJelly 2.0 in multi-step mode, Norse 1.1's `LIF`,
- Spikeboard: `snn_core.training.fit` (a single run), and `snn_core.packed.fit_packed` over
  sweeps of 6 and 32 configs when that module exists,

and prints a markdown table: ms per batch, seconds per 60,000-sample epoch (ms/batch x 938),
speedups against SpikingJelly, snnTorch, the lab loop and the fastest peer of the row group. The table, the machine and the peak memory of a
Spikeboard run are written to --out (default bench/results/speed.md) and, as JSON, beside it.
See bench/timing.py for how each number is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from snn_core.config import Encoder, Loss, RunConfig

from . import baselines
from .data import FASHION_DIR, SOURCES, load_bench_data
from .machine import load_average, machine
from .timing import CLOCK, Runner, Timing, fit_runner, packed_fit, set_clock, steps_runner, time_interleaved, with_env

BATCHES_PER_EPOCH = 938  # ceil(60000 / 64)
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results" / "speed.md"
IMPLS = ("lab", "snntorch", "spikingjelly", "norse", "spikeboard", "blas-input", "autograd-engine", "packed",
         "torch-engine")
DEFAULT_IMPLS = ("lab", "snntorch", "spikingjelly", "norse", "spikeboard", "blas-input", "autograd-engine", "packed")
LABELS = {"lab": "lab loop", "snntorch": "snnTorch", "spikingjelly": "SpikingJelly", "norse": "Norse",
          "spikeboard": "Spikeboard"}
# The implementations Spikeboard is compared with; 'fastest peer' is the quickest of them in a row group.
PEERS = ("lab loop", "snnTorch", "SpikingJelly", "Norse")
_PEER_STEPS = {"lab": (lambda: True, baselines.lab_step),
               "snntorch": (baselines.snntorch_available, baselines.snntorch_step),
               "spikingjelly": (baselines.spikingjelly_available, baselines.spikingjelly_step),
               "norse": (baselines.norse_available, baselines.norse_step)}


@dataclass
class Row:
    encoder: str
    T: int
    impl: str  # "lab loop", "snnTorch", "Spikeboard", "Spikeboard packed x6", ...
    configs: int = 1  # configs trained at once
    timing: Timing | None = None
    note: str = ""

    @property
    def ms(self) -> float | None:
        return self.timing.ms_per_batch if self.timing else None

    @property
    def epoch_s(self) -> float | None:
        return self.ms * BATCHES_PER_EPOCH / 1000 if self.timing else None


def baseline_config(encoder: str, T: int) -> RunConfig:
    return RunConfig(beta=0.7, z=2.0, v_th=1.5, loss="mse", encoder=encoder, T=T, batch_size=64, lr=1e-3,
                     seed=0, device="cpu")


def sweep(base: RunConfig, size: int) -> list[RunConfig]:
    """`size` configs that differ in beta, V_th, z, loss and learning rate (same T, encoder, batch, seed)."""
    grid = [
        {"beta": beta, "v_th": v_th, "z": z, "loss": loss, "lr": lr}
        for loss in (Loss.MSE, Loss.CE)
        for lr in (1e-3, 3e-3)
        for beta in (0.7, 0.9)
        for v_th in (1.5, 1.0)
        for z in (2.0, 5.0)
    ]  # 32 combinations, the baseline first
    if size > len(grid):
        raise ValueError(f"packed sweep size must be <= {len(grid)}, got {size}")
    picks = grid[:1] + grid[1:][:: max(1, (len(grid) - 1) // (size - 1))][: size - 1] if size > 1 else grid[:1]
    return [base.replace(**p) for p in picks]


def measure(args, data) -> list[Row]:
    fit_packed = packed_fit() if "packed" in args.impl else None
    from snn_core.training import fit

    rows: list[Row] = []
    for encoder in args.encoders:
        for T in args.T:
            config = baseline_config(encoder, T)
            started = time.perf_counter()
            cell: list[Row] = []
            runners: dict[str, Runner] = {}
            for impl, (available, make) in _PEER_STEPS.items():
                if impl not in args.impl:
                    continue
                cell.append(Row(encoder, T, LABELS[impl]))
                if not available():
                    cell[-1].note = "not installed (pip install -r requirements-bench.txt)"
                    continue
                runners[LABELS[impl]] = steps_runner(make(config, data.bundle.train))
            if "spikeboard" in args.impl:
                cell.append(Row(encoder, T, "Spikeboard"))
                runners["Spikeboard"] = fit_runner(fit, config, data.bundle)
            if "blas-input" in args.impl and encoder == "bernoulli":  # the fused step without the native kernels
                cell.append(Row(encoder, T, "Spikeboard, BLAS first layer"))
                runners[cell[-1].impl] = with_env(fit_runner(fit, config, data.bundle), SPIKEBOARD_NATIVE="0")
            if "autograd-engine" in args.impl:  # the autograd path with the numba scans (before the fused step)
                cell.append(Row(encoder, T, "Spikeboard, autograd engine"))
                runners[cell[-1].impl] = with_env(fit_runner(fit, config, data.bundle), SPIKEBOARD_ENGINE="numba")
            if "torch-engine" in args.impl:  # the plain PyTorch path, without the fused CPU kernels
                cell.append(Row(encoder, T, "Spikeboard, torch engine"))
                runners[cell[-1].impl] = with_env(fit_runner(fit, config, data.bundle), SPIKEBOARD_ENGINE="torch")
            for size in args.packed if "packed" in args.impl else ():
                cell.append(Row(encoder, T, f"Spikeboard packed x{size}", size))
                if fit_packed is None:
                    cell[-1].note = "not available (no snn_core fit_packed)"
                    continue
                runners[cell[-1].impl] = fit_runner(fit_packed, sweep(config, size), data.bundle)
            timings = time_interleaved(runners, round_s=args.round_s, rounds=args.rounds)
            for row in cell:
                row.timing = timings.get(row.impl)
            rows.extend(cell)
            summary = ", ".join(f"{r.impl} {r.ms:.1f}" for r in cell if r.timing)
            print(f"[{time.perf_counter() - started:5.1f}s] {encoder} T={T}: {summary} ms/batch; "
                  f"load {load_average(os.getloadavg())}", file=sys.stderr, flush=True)
    return rows


def _find(rows: list[Row], row: Row, impl: str) -> Row | None:
    return next((r for r in rows if r.encoder == row.encoder and r.T == row.T and r.impl == impl and r.timing), None)


def fastest_peer(rows: list[Row], row: Row) -> Row | None:
    """The quickest measured peer (PEERS) in `row`'s row group."""
    peers = [p for p in (_find(rows, row, name) for name in PEERS) if p is not None]
    return min(peers, key=lambda p: p.ms) if peers else None


def speedup(rows: list[Row], row: Row, impl: str) -> float | None:
    """How many times faster than `impl` per config trained (a pack of k does k runs' work).

    impl "fastest peer" compares with the quickest of PEERS in the row group.
    """
    other = fastest_peer(rows, row) if impl == "fastest peer" else _find(rows, row, impl)
    if other is None or row.timing is None:
        return None
    return other.ms * row.configs / row.ms


def markdown_table(rows: list[Row]) -> str:
    compared = ("fastest peer", "SpikingJelly", "snnTorch", "lab loop")
    head = ("| encoder | T | implementation | ms/batch | s/epoch (60k) | vs fastest peer | vs SpikingJelly "
            "| vs snnTorch | vs lab loop | vs 1 Spikeboard run | rounds spread | note |")
    lines = [head, "|" + "---|" * 12]
    fmt = lambda v, spec: "-" if v is None else format(v, spec)  # noqa: E731
    for r in rows:
        single = _find(rows, r, "Spikeboard")
        cost = r.ms / single.ms if r.configs > 1 and r.timing and single else None
        note = r.note or (f"{len(r.timing.rounds_ms)} rounds, last {r.timing.batches} batches" if r.timing else "")
        ratios = "".join(f"| {fmt(speedup(rows, r, c), '.1f')}{'x' if speedup(rows, r, c) else ''} " for c in compared)
        lines.append(
            f"| {r.encoder} | {r.T} | {r.impl} | {fmt(r.ms, '.2f')} | {fmt(r.epoch_s, '.2f')} "
            f"{ratios}"
            f"| {fmt(cost, '.2f')}{'x time' if cost else ''} "
            f"| {fmt(r.timing.spread * 100 if r.timing else None, '.0f')}{'%' if r.timing else ''} | {note} |"
        )
    return "\n".join(lines)


def targets(rows: list[Row], memory: dict | None) -> list[str]:
    """The speed issue's CPU targets (issue 12), each as a line: PASS, FAIL or n/a with the numbers."""
    def ratio(encoder, T, impl="Spikeboard", against="SpikingJelly"):
        row = next((r for r in rows if (r.encoder, r.T, r.impl) == (encoder, T, impl) and r.timing), None)
        return speedup(rows, row, against) if row else None

    def line(ok, text):
        return f"- {'n/a ' if ok is None else 'PASS' if ok else 'FAIL'} {text}"

    def fmt(r):
        return "not measured" if r is None else f"{r:.1f}x"

    out = []
    for enc, goal in (("image", 25), ("threshold", 25), ("bernoulli", 15)):
        r = ratio(enc, 50)
        out.append(line(None if r is None else r >= goal, f"{enc} T=50 one run >= {goal}x SpikingJelly: {fmt(r)}"))
    for enc in (e.value for e in Encoder):
        r = ratio(enc, 50, "Spikeboard packed x6")
        out.append(line(None if r is None else r >= 60,
                        f"{enc} T=50 packed x6, per config >= 60x SpikingJelly: {fmt(r)}"))
    for enc in (e.value for e in Encoder):
        r = ratio(enc, 50, against="fastest peer")
        peer = None
        row = next((x for x in rows if (x.encoder, x.T, x.impl) == (enc, 50, "Spikeboard") and x.timing), None)
        if row is not None:
            peer = fastest_peer(rows, row)
        out.append(line(None, f"{enc} T=50 one run vs the fastest peer ({peer.impl if peer else '-'}): {fmt(r)}"))
    if memory and "peak_rss_mib" in memory:
        mib = memory["peak_rss_mib"]
        out.append(line(mib < 2048, f"peak memory of a Spikeboard run < 2 GB: {mib:.0f} MiB"))
    else:
        out.append(line(None, f"peak memory < 2 GB: {memory and memory.get('error')}"))
    return out


def memory_probe(args) -> dict:
    """Peak RSS of a fresh process training the baseline config (bench/memory.py)."""
    cmd = [sys.executable, "-m", "bench.memory", "--encoder", args.memory_encoder, "--T", str(args.memory_T),
           "--batches", str(args.memory_batches), "--data", args.data, "--data-dir", args.data_dir]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        return {"error": f"bench.memory exited {proc.returncode}: {proc.stderr.strip()[-500:]}"}
    return json.loads(proc.stdout)


def report(args, info: dict, rows: list[Row], memory: dict | None, seconds: float) -> str:
    mem = "not measured" if memory is None else memory.get("error") or (
        f"{memory['peak_rss_mib']:.0f} MiB peak RSS (ru_maxrss) of a fresh process that loads the dataset and "
        f"trains {memory['batches']} batches of the baseline config ({memory['encoder']}, T={memory['T']}) "
        f"with snn_core.training.fit")
    return "\n".join([
        "# Spikeboard speed benchmark",
        "",
        f"`{' '.join(['python -m bench.speed', *args.argv])}` on {info['date']} (commit {info['commit'] or '?'}), "
        f"{seconds:.0f} s in all.",
        "",
        f"- Machine: {info['cpu']}, {info['cores']} cores ({info['cores_usable']} usable), "
        f"torch {info['torch']} with {info['torch_threads']} threads, snnTorch {info['snntorch']}, "
        f"SpikingJelly {info['spikingjelly']}, Norse {info['norse']}, "
        f"Python {info['python']}, Spikeboard CPU engine {info['engine']}; load average {load_average(info['load_average_start'])} at the start, "
        f"{load_average(info['load_average_end'])} at the end.",
        f"- Data: {info['data']}.",
        "- Config: 784-10-10, beta 0.7, z 2, V_th 1.5, MSE on rate vs one-hot, batch 64, Adam lr 1e-3, CPU.",
        f"- Timing (bench/timing.py): after a warmup that sizes them, {args.rounds} rounds of about {args.round_s:g} s "
        "per implementation, interleaved across the implementations of a row group; ms/batch is the best round; "
        "s/epoch = ms/batch x 938; 'rounds spread' = (max - min) / best of the rounds, a gauge of machine noise. "
        + ("Spikeboard rounds are one-epoch snn_core.training.fit calls timed by its EpochMetrics.epoch_seconds."
         if CLOCK["name"] == "wall" else
         "Clock: CPU time of the process (time.process_time), not wall time, because other processes loaded "
         "the machine; Spikeboard rounds are whole one-epoch snn_core.training.fit calls (setup and a "
         "200-sample evaluation included, which counts against it)."),
        "- Speedups are per config trained: a packed row of k configs counts k runs' work "
        "(k x the other's ms / its ms). 'vs 1 Spikeboard run' is the packed row's time over one run's. "
        "'fastest peer' is the quickest of the lab loop, snnTorch, SpikingJelly and Norse in the row group.",
        "- Peers: snnTorch `snn.Leaky` (subtract reset, sigmoid surrogate, tutorial loop); SpikingJelly "
        "`layer.Linear` + `neuron.LIFNode(step_mode='m')` (soft reset, detach_reset, sigmoid surrogate, "
        "tau = 1/(1 - beta), decay_input=False); Norse `LIF` (its current-based LIF, SuperSpike surrogate: "
        "Norse has no sigmoid one). All take the [T, B, 784] input the lab loop stacks.",
        f"- Peak memory: {mem}.",
        "",
        markdown_table(rows),
        "",
        "## Targets (issue 12, CPU)",
        "",
        *targets(rows, memory),
        "",
    ])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.speed", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: T=5 only, short rounds (explicit --T/--encoders still win)")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="markdown report (JSON beside it); '-' = none")
    parser.add_argument("--encoders", default="image,threshold,bernoulli", help="comma-separated")
    parser.add_argument("--T", default=None, help="comma-separated timesteps (default 5,50,100)")
    parser.add_argument("--impl", default=",".join(DEFAULT_IMPLS),
                        help=f"comma-separated subset of {','.join(IMPLS)} (default: all but torch-engine, "
                             "Spikeboard with SPIKEBOARD_ENGINE=torch)")
    parser.add_argument("--packed", default="6,32", help="packed sweep sizes, comma-separated")
    parser.add_argument("--round-s", type=float, default=None, help="seconds per timed round (default 1.0; 0.3 with --quick)")
    parser.add_argument("--rounds", type=int, default=None, help="timed rounds per measurement (default 5; 2 with --quick)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch's default)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="time rounds by wall clock, or by this process's CPU time (a loaded machine; "
                             "use with --threads 1)")
    parser.add_argument("--data", choices=SOURCES, default="auto")
    parser.add_argument("--data-dir", default=FASHION_DIR)
    parser.add_argument("--no-memory", action="store_true", help="skip the peak-memory probe")
    parser.add_argument("--memory-batches", type=int, default=None, help="batches the memory probe trains")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)

    def ints(text: str, name: str) -> list[int]:
        try:
            values = [int(v) for v in text.split(",") if v.strip()]
        except ValueError:
            parser.error(f"{name} must be comma-separated integers, got {text!r}")
        if not values or min(values) < 1:
            parser.error(f"{name} must be integers >= 1, got {text!r}")
        return values

    args.encoders = [e.strip() for e in args.encoders.split(",") if e.strip()]
    for e in args.encoders:
        if e not in {x.value for x in Encoder}:
            parser.error(f"--encoders must be from {', '.join(x.value for x in Encoder)}; got {e!r}")
    args.T = ints(args.T or ("5" if args.quick else "5,50,100"), "--T")
    args.impl = [i.strip() for i in args.impl.split(",") if i.strip()]
    if not args.impl or set(args.impl) - set(IMPLS):
        parser.error(f"--impl must be from {', '.join(IMPLS)}; got {','.join(args.impl)!r}")
    args.packed = ints(args.packed, "--packed")
    if args.round_s is None:
        args.round_s = 0.3 if args.quick else 1.0
    if args.rounds is None:
        args.rounds = 2 if args.quick else 5
    if args.round_s <= 0 or args.rounds < 1:
        parser.error("--round-s must be > 0 and --rounds >= 1")
    # The memory probe trains the baseline config (bernoulli, T=50), or the run's first cell in a quick run.
    quick_cell = not args.quick or "bernoulli" in args.encoders
    args.memory_encoder = "bernoulli" if quick_cell else args.encoders[0]
    args.memory_T = args.T[0] if args.quick else 50
    if args.memory_batches is None:
        args.memory_batches = 10 if args.quick else 100
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    set_clock(args.clock)
    started = time.perf_counter()
    data = load_bench_data(args.data, args.data_dir)
    info = machine(args, data)
    print(f"data: {data.source}; torch {info['torch']}, {info['torch_threads']} threads; "
          f"load average {load_average(info['load_average_start'])}", file=sys.stderr, flush=True)
    rows = measure(args, data)
    memory = None if args.no_memory else memory_probe(args)
    info["load_average_end"] = os.getloadavg()
    info["bench_peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    text = report(args, info, rows, memory, time.perf_counter() - started)
    print(text)
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps({
            "machine": info,
            "memory": memory,
            "rows": [{"encoder": r.encoder, "T": r.T, "implementation": r.impl, "configs": r.configs,
                      "ms_per_batch": r.ms, "seconds_per_epoch": r.epoch_s,
                      "rounds_ms": r.timing.rounds_ms if r.timing else None,
                      "batches_per_round": r.timing.batches if r.timing else None, "note": r.note}
                     for r in rows],
        }, indent=1) + "\n")
        print(f"wrote {out} and {out.with_suffix('.json')}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
