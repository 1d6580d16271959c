"""Measure the job system's latencies with a real redis-server and real worker processes.

    python bench/latency.py [--runs 3]

1. metric latency: a worker publishes batch points (each stamped with its publish time); a
   reader follows the stream from the last id it saw, polling every 5 ms, as the UI does with
   a longer interval. Latency = read time - publish time (same machine, same clock).
2. cancel latency: `cancel_run` on a running run until its work horse has stopped (lease gone,
   stream no longer growing).
3. resume after kill -9: from SIGKILL of the worker training a run until the run is training
   again on a second worker, with the default lease TTL and reap interval.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snn_core.config import RunConfig  # noqa: E402
from snn_core.data import make_synthetic  # noqa: E402
from bench.procs import wait_for  # noqa: E402
from workers import connection, submission  # noqa: E402
from workers.redis_server import start_redis  # noqa: E402
from workers.store import RunStatus, RunStore  # noqa: E402

SLOW = dict(T=100, hidden=(64,), epochs=3, batch_size=8, train_limit=1600, test_limit=100)


def start_worker(env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env,
                            stdout=open(log, "ab"), stderr=subprocess.STDOUT)


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def epochs_done(store: RunStore, run_id: str) -> int:
    return sum(k == "epoch" for _, k, _ in store.read_metrics(run_id))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="cancel measurements")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="spikeboard-bench-"))
    data = make_synthetic(tmp / "data", n_train=2000, n_test=500)
    redis_proc, url = start_redis(tmp / "redis")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": url, "SPIKEBOARD_DATA_DIR": str(data),
           "SPIKEBOARD_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1",
           "SPIKEBOARD_METRIC_INTERVAL": "0.05"}  # more points to measure than the default 4 a second
    conn = connection.connect(url)
    store = RunStore(conn)
    workers = [start_worker(env, tmp / "worker0.log")]
    try:
        # 1. metric latency
        run_id = submission.submit_run(conn, RunConfig(**{**SLOW, "epochs": 1})).record.id
        last, lat = "0-0", []
        deadline = time.monotonic() + 120
        while store.get_run(run_id).status is not RunStatus.FINISHED and time.monotonic() < deadline:
            for entry_id, kind, d in store.read_metrics(run_id, after=last):
                last = entry_id
                if kind == "batch":
                    lat.append((time.time() - d["time"]) * 1000)
            time.sleep(0.005)
        print(f"metric publish -> readable (5 ms polling, {len(lat)} points): "
              f"p50 {statistics.median(lat):.1f} ms, p95 {pct(lat, 0.95):.1f} ms, max {max(lat):.1f} ms")

        # 2. cancel latency
        took = []
        for i in range(args.runs):
            run_id = submission.submit_run(conn, RunConfig(**{**SLOW, "seed": 100 + i})).record.id
            wait_for(lambda: len(store.read_metrics(run_id)) >= 3, 60, interval=0.005)
            t0 = time.monotonic()
            submission.cancel_run(conn, run_id)
            wait_for(lambda: store.lease_holder(run_id) is None, 30, interval=0.005)
            took.append(time.monotonic() - t0)
        print(f"cancel -> work horse stopped ({args.runs} runs): "
              f"mean {statistics.mean(took) * 1000:.0f} ms, max {max(took) * 1000:.0f} ms")

        # 3. resume after kill -9, default lease TTL and reap interval
        # Many epochs, so the run is still training when the kill comes however fast the engine is.
        run_id = submission.submit_run(conn, RunConfig(**{**SLOW, "seed": 999, "epochs": 40})).record.id
        wait_for(lambda: 1 in [d["epoch"] for _, k, d in store.read_metrics(run_id) if k == "epoch"], 120, interval=0.05)
        first = store.get_run(run_id).worker
        workers.append(start_worker(env, tmp / "worker1.log"))
        time.sleep(5)  # let the second worker start (torch import) before the kill
        t0 = time.monotonic()
        os.kill(workers[0].pid, signal.SIGKILL)
        wait_for(lambda: (r := store.get_run(run_id)).status is RunStatus.RUNNING and r.worker != first, 120, interval=0.05)
        resumed = time.monotonic() - t0
        killed_at = epochs_done(store, run_id)
        wait_for(lambda: epochs_done(store, run_id) > killed_at, 120, interval=0.1)  # an epoch after the resume
        submission.cancel_run(conn, run_id)  # enough seen: no need to train the remaining epochs
        epochs = [d["epoch"] for _, k, d in store.read_metrics(run_id) if k == "epoch"]
        assert epochs == list(range(1, len(epochs) + 1)), f"epochs repeated or skipped: {epochs}"
        print(f"kill -9 -> run training again on another worker: {resumed:.1f} s "
              f"(lease TTL 15 s, reap every 5 s); killed during epoch {killed_at + 1}, epoch entries in the "
              f"stream: {epochs} (each once, none repeated: resumed, not restarted)")
    finally:
        for w in workers:
            if w.poll() is None:
                w.send_signal(signal.SIGKILL)
                w.wait()
        redis_proc.kill()
        redis_proc.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
