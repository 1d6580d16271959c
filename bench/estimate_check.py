"""How good are the Launch page's time estimates? Estimate, then train, on real runs.

    python -m bench.estimate_check [--data-dir ../shared/data] [--out bench/results/estimate_check.md]
                                   [--train-limit N --test-limit N]   (a small-scale check)

Starts its own redis-server and one worker (SPIKEBOARD_DATA_DIR = --data-dir: MNIST-5k here),
then for each of a list of small, varied runs (encoders, T, widths, batch sizes, epochs, one
packed sweep): asks `capacity.estimate` what it will take, with only the runs finished so far to
learn from (the first one has nothing: the benchmark's guess), submits it, waits for it to
finish, and compares the estimate with the wall time from submit to finish. Writes a markdown
table and the median and worst ratio actual / estimate, and how many fell inside the range.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snn_core.config import RunConfig  # noqa: E402
from workers import capacity, connection, submission  # noqa: E402
from workers.redis_server import start_redis  # noqa: E402
from workers.store import DONE_STATUSES, RunStatus, RunStore  # noqa: E402

BASE = RunConfig(epochs=1, membrane_init="zero")
CASES: list[tuple[str, list[RunConfig] | dict]] = [
    ("baseline, 1 epoch (nothing measured yet)", [BASE]),
    ("T 20, 2 epochs", [BASE.replace(T=20, epochs=2)]),
    ("hidden 128, T 25", [BASE.replace(hidden=(128,), T=25)]),
    ("image, T 50 (no image run yet)", [BASE.replace(encoder="image")]),
    ("threshold, T 10, 2 epochs", [BASE.replace(encoder="threshold", T=10, epochs=2)]),
    ("hidden 512, T 10", [BASE.replace(hidden=(512,), T=10)]),
    ("image, hidden 64, batch 32", [BASE.replace(encoder="image", hidden=(64,), batch_size=32)]),
    ("baseline, 3 epochs, batch 32", [BASE.replace(epochs=3, batch_size=32)]),
    ("beta sweep x4, T 25 (one packed job)", {"base": BASE.replace(T=25), "axes": {"beta": [0.5, 0.7, 0.8, 0.9]}}),
    ("threshold, hidden 256, T 30", [BASE.replace(encoder="threshold", hidden=(256,), T=30)]),
    ("T 300 (issue 21: its test passes took most of the time)", [BASE.replace(T=300)]),
]


def fmt(s: float) -> str:
    return f"{s:.1f} s" if s < 120 else f"{s / 60:.1f} min"


def wait_done(store: RunStore, ids: list[str], timeout: float = 900) -> None:
    deadline = time.monotonic() + timeout
    while not all(store.get_run(i).status in DONE_STATUSES for i in ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"runs {ids} did not finish in {timeout} s")
        time.sleep(0.2)
    bad = [i for i in ids if store.get_run(i).status is not RunStatus.FINISHED]
    if bad:
        raise RuntimeError(f"runs {bad} ended {[store.get_run(i).status.value for i in bad]}: "
                           f"{[store.get_run(i).error for i in bad]}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "estimate_check.md"))
    parser.add_argument("--train-limit", type=int, default=0, help="train samples of every run (0: all)")
    parser.add_argument("--test-limit", type=int, default=0, help="test samples of every run (0: all)")
    args = parser.parse_args(argv)
    limits = {"train_limit": args.train_limit, "test_limit": args.test_limit}
    cases = [(name, {**case, "base": case["base"].replace(**limits)} if isinstance(case, dict)
              else [c.replace(**limits) for c in case]) for name, case in CASES]

    tmp = Path(tempfile.mkdtemp(prefix="estimate-check-"))
    proc, url = start_redis(tmp / "redis", appendonly=False)
    env = {**os.environ, "REDIS_URL": url, "SPIKEBOARD_DATA_DIR": args.data_dir, "SPIKEBOARD_NO_DOWNLOAD": "1",
           "PYTHONPATH": str(ROOT)}
    worker = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env,
                              stdout=open(tmp / "worker.log", "wb"), stderr=subprocess.STDOUT)
    rows = []
    try:
        conn = connection.connect(url)
        store = RunStore(conn)
        deadline = time.monotonic() + 60
        while not capacity.live_workers(conn):
            if time.monotonic() > deadline or worker.poll() is not None:
                raise RuntimeError("the worker did not start: " + (tmp / "worker.log").read_text()[-1000:])
            time.sleep(0.2)
        for name, case in cases:
            if isinstance(case, dict):
                configs = submission.sweep_configs(case["base"], case["axes"])
                est = capacity.estimate(conn, configs, packed=True)
                t0 = time.time()
                ids = [r.record.id for r in submission.submit_sweep(conn, case["base"], case["axes"]).results]
            else:
                est = capacity.estimate(conn, case)
                t0 = time.time()
                ids = [submission.submit_run(conn, c).record.id for c in case]
            wait_done(store, ids)
            actual = max(store.get_run(i).finished_at for i in ids) - t0
            rows.append((name, est, actual))
            print(f"{name}: estimated {fmt(est.seconds)} ({fmt(est.low)}-{fmt(est.high)}; {est.basis}), "
                  f"took {fmt(actual)}", flush=True)
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
        proc.terminate()
        proc.wait(timeout=10)

    ratios = [actual / est.seconds for _, est, actual in rows]
    measured = [(a / e.seconds) for _, e, a in rows if e.measured]
    inside = sum(e.low <= a <= e.high for _, e, a in rows)
    lines = [
        f"# Time estimates against real runs ({time.strftime('%Y-%m-%d')}, `python -m bench.estimate_check`)", "",
        f"One worker, MNIST-5k from `{args.data_dir}`"
        + (f" (train limit {args.train_limit}, test limit {args.test_limit})" if args.train_limit or args.test_limit
           else "") + ", runs in this order (each estimate learns only from the "
        "runs before it). Actual = submit to finish, wall clock.", "",
        "| run | estimate | range | actual | actual / estimate | basis |", "|---|---:|---|---:|---:|---|",
    ]
    for (name, est, actual), r in zip(rows, ratios):
        lines.append(f"| {name} | {fmt(est.seconds)} | {fmt(est.low)} - {fmt(est.high)} | {fmt(actual)} | "
                     f"{r:.2f} | {est.basis} |")
    worst = max(measured, key=lambda r: max(r, 1 / r)) if measured else float("nan")
    lines += ["", f"With at least one run measured ({len(measured)} of {len(rows)}): median actual/estimate "
                  f"{statistics.median(measured):.2f}, worst {worst:.2f}. Inside the stated range: {inside} of "
                  f"{len(rows)}. The first run (nothing measured): {ratios[0]:.2f}."]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(lines) + "\n")
    print("\n".join(lines[-1:]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
