"""`python -m bench.job_overhead`: what a short job costs beyond its training, and what a second torch
thread buys one process (round 6's figures for warm workers, the settler, and issue 18's Optuna arm).

(1) --jobs one-epoch runs (T=5, image, hidden 100) queued as separate jobs into a fresh redis-server
    with the stack's persistence (AOF, appendfsync everysec) and one `python -m workers`: the wall from
    queueing to the last one finished, and each job's training seconds (`epoch_seconds`).
(2) One epoch of `fit` in this process at 1 and 2 torch threads, per (T, encoder).

Run it on a quiet machine; compare code versions with `git stash` around it. Writes --out (markdown).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def jobs_through_a_worker(n: int, data_dir: str) -> tuple[float, list[float]]:
    import redis

    from snn_core.config import RunConfig
    from workers import submission
    from workers.redis_server import start_redis
    from workers.store import DONE_STATUSES, RunStore

    from bench.procs import wait_for

    log = Path(tempfile.mkdtemp(prefix="job_overhead-"))
    server, url = start_redis(log / "redis", appendonly=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": url, "SPIKEBOARD_DATA_DIR": data_dir,
           "SPIKEBOARD_TORCH_THREADS": "1", "SPIKEBOARD_NO_DOWNLOAD": "1"}
    worker = subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env, stdout=open(log / "worker.log", "wb"),
                              stderr=subprocess.STDOUT)
    try:
        store = RunStore(redis.Redis.from_url(url))
        wait_for(lambda: store.conn.keys("rq:worker:*"), 120, "the worker to listen")
        configs = [RunConfig(dataset="fashion-mnist", hidden=(100,), epochs=1, T=5, encoder="image", lr=1e-3 * (1 + 0.01 * i))
                   for i in range(n)]
        records = [store.create_or_reuse(c)[0] for c in configs]
        start = time.time()
        submission.enqueue_new(store.conn, records, packed=False)
        wait_for(lambda: all(store.get_run(r.id).status in DONE_STATUSES for r in records), 600, "the jobs")
        wall = time.time() - start
        return wall, [store.epoch_history(r.id)[-1]["epoch_seconds"] for r in records]
    finally:
        worker.terminate()
        worker.wait(60)
        server.terminate()


def epoch_seconds(threads: int, data_dir: str) -> dict[str, float]:
    """One epoch of `fit` per (T, encoder) at `threads` torch threads, after one warm-up pass each."""
    code = f"""
import json, time, torch
torch.set_num_threads({threads})
from snn_core.config import RunConfig
from snn_core.data import load_data
from snn_core.training import Callbacks, fit
data = load_data("fashion-mnist", {data_dir!r}, "cpu")
out = {{}}
for rep in range(2):
    for T, enc in ((5, "image"), (5, "bernoulli"), (25, "image"), (25, "bernoulli")):
        t = time.perf_counter()
        fit(RunConfig(dataset="fashion-mnist", hidden=(100,), epochs=1, T=T, encoder=enc), Callbacks(), data=data)
        out[f"T={{T}} {{enc}}"] = time.perf_counter() - t
print(json.dumps(out))
"""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": str(threads)}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    import json

    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.job_overhead", description=__doc__.split("\n\n")[0])
    p.add_argument("--jobs", type=int, default=5)
    p.add_argument("--data-dir", default=FASHION_DIR)
    p.add_argument("--out", default=str(ROOT / "bench" / "results" / "job_overhead.md"))
    args = p.parse_args(argv)
    wall, trained = jobs_through_a_worker(args.jobs, args.data_dir)
    one, two = epoch_seconds(1, args.data_dir), epoch_seconds(2, args.data_dir)
    lines = ["# Job overhead and torch threads", "", f"Command: `python -m bench.job_overhead --jobs {args.jobs}`; "
             f"load at the end {'/'.join(f'{x:.2f}' for x in os.getloadavg())}.", "",
             f"(1) {args.jobs} one-epoch jobs (T=5, image, hidden 100, Fashion-MNIST 60k) through one worker on an AOF "
             f"everysec Redis: **{wall:.1f} s** from queueing to the last finished; training "
             f"{', '.join(f'{s:.2f}' for s in trained)} s per job.", "",
             "(2) One epoch of `fit`, one process:", "", "| config | 1 thread | 2 threads |", "|---|---:|---:|"]
    lines += [f"| {k} | {one[k]:.2f} s | {two[k]:.2f} s |" for k in one]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    print(out.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())
