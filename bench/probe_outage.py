"""Probe the job system's runtime failures with a real redis-server and real worker processes.

    python -m bench.probe_outage                       # every scenario (about 6 minutes on 2 cores)
    python -m bench.probe_outage outage --down 20      # one scenario
    python -m bench.probe_outage load --runs 120

Scenarios (default lease TTL 15 s and reap interval 5 s, as an operator runs them; 2 workers):

- outage: while runs train, kill -9 the redis-server, keep it away `--down` seconds, then start
  it again on the same port with the same append-only directory (3 s, 20 s and 60 s in `all`).
- worker: kill -9 one of the two workers while it trains a run (its horse dies with it).
- horse: kill -9 the work horse only, as the OOM killer does (the worker lives on).
- load: `--runs` tiny runs through the two workers.

Each prints one line: runs lost (not finished nor failed when everything settled), runs trained
twice (an epoch repeated in a run's metrics stream), runs failed, whether every worker is still
alive, and how long it took. Traffic goes to 127.0.0.1 only; data is synthetic, made on the spot.
Results are also written to bench/results/probes.json.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snn_core.config import RunConfig  # noqa: E402
from snn_core.data import make_synthetic  # noqa: E402
from workers import connection, submission  # noqa: E402
from workers.redis_server import start_redis  # noqa: E402
from workers.store import RunStatus, RunStore  # noqa: E402

# About 1.5 s an epoch on an idle CPU thread; four such runs keep two workers busy for ~10 s.
TRAINING = dict(T=50, hidden=(64,), epochs=3, batch_size=8, train_limit=1200, test_limit=100)
TINY = dict(T=5, epochs=1, batch_size=64, train_limit=128, test_limit=50)
SETTLE_S = 600  # the most any scenario waits for its runs to end


class Lab:
    """A redis-server, two workers and a log folder; torn down on exit."""

    def __init__(self, folder: Path, workers: int = 2):
        self.folder = folder
        self.redis_dir = folder / "redis"
        self.redis, self.url = start_redis(self.redis_dir)
        self.port = int(self.url.rsplit(":", 1)[1].split("/")[0])
        data = make_synthetic(folder / "data", n_train=2000, n_test=500, seed=0)
        self.env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": self.url, "SPIKEBOARD_DATA_DIR": str(data),
                    "SPIKEBOARD_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1", "SPIKEBOARD_NO_DOWNLOAD": "1"}
        self.workers = [self.start_worker() for _ in range(workers)]
        self.conn = connection.connect(self.url, patient=True)
        self.store = RunStore(self.conn)

    def start_worker(self) -> subprocess.Popen:
        log = open(self.folder / f"worker{len(getattr(self, 'workers', []))}.log", "ab")
        return subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=self.env, stdout=log,
                                stderr=subprocess.STDOUT)

    def submit(self, n: int, fields: dict) -> list[str]:
        return [submission.submit_run(self.conn, RunConfig(**fields, seed=seed)).record.id for seed in range(n)]

    def crash_redis(self, down_s: float) -> None:
        self.redis.kill()
        self.redis.wait(timeout=10)
        time.sleep(down_s)
        self.redis, self.url = start_redis(self.redis_dir, port=self.port)

    def horse_of(self, worker: subprocess.Popen) -> int | None:
        try:
            children = Path(f"/proc/{worker.pid}/task/{worker.pid}/children").read_text().split()
        except FileNotFoundError:
            return None
        return int(children[0]) if children else None

    def busy_worker(self, timeout: float = 120) -> subprocess.Popen:
        """A worker whose horse has been training for a few batches."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            training = {r.worker for r in self.store.list_runs(status=RunStatus.RUNNING) if (r.progress or {}).get("batch")}
            for worker in self.workers:
                if self.horse_of(worker) and any(name.endswith(f".{worker.pid}") for name in training):
                    return worker
            time.sleep(0.2)
        raise TimeoutError("no worker started training")

    def settle(self, run_ids: list[str], timeout: float = SETTLE_S) -> float:
        started = time.monotonic()
        done = (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELLED)
        while time.monotonic() - started < timeout:
            records = [self.store.get_run(r) for r in run_ids]
            if all(r is not None and r.status in done for r in records):
                break
            time.sleep(0.5)
        return time.monotonic() - started

    def count(self, run_ids: list[str]) -> dict:
        lost = twice = failed = 0
        errors = []
        for run_id in run_ids:
            record = self.store.get_run(run_id)
            if record is None or record.status not in (RunStatus.FINISHED, RunStatus.FAILED):
                lost += 1
                continue
            if record.status is RunStatus.FAILED:
                failed += 1
                errors.append(record.error)
            epochs = [d["epoch"] for _, kind, d in self.store.read_metrics(run_id) if kind == "epoch"]
            if len(epochs) != len(set(epochs)):
                twice += 1
        logs = "".join(p.read_text(errors="replace") for p in self.folder.glob("worker*.log"))
        return {"runs": len(run_ids), "lost": lost, "trained_twice": twice, "failed": failed,
                "workers_alive": all(w.poll() is None for w in self.workers),
                "requeued": logs.count("requeueing it to resume") + logs.count("resuming it from its checkpoint"),
                "leases_lost": logs.count("lease lost"), "errors": errors[:3]}

    def close(self) -> None:
        for worker in self.workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait(timeout=10)
        if self.redis.poll() is None:
            self.redis.kill()
            self.redis.wait(timeout=10)


def outage(lab: Lab, down_s: float) -> list[str]:
    ids = lab.submit(4, TRAINING)
    lab.busy_worker()
    time.sleep(1.0)
    lab.crash_redis(down_s)
    return ids


def kill_worker(lab: Lab) -> list[str]:
    ids = lab.submit(4, TRAINING)
    worker = lab.busy_worker()
    time.sleep(1.0)
    worker.kill()
    worker.wait(timeout=10)
    lab.workers.remove(worker)
    lab.workers.append(lab.start_worker())  # as a supervisor would; the run resumes wherever
    return ids


def kill_horse(lab: Lab) -> list[str]:
    ids = lab.submit(4, TRAINING)
    worker = lab.busy_worker()
    time.sleep(1.0)
    os.kill(lab.horse_of(worker), signal.SIGKILL)
    return ids


def load(lab: Lab, runs: int) -> list[str]:
    return lab.submit(runs, TINY)


def run_scenario(name: str, action, *args) -> dict:
    with tempfile.TemporaryDirectory(prefix="spikeboard-probe-") as folder:
        lab = Lab(Path(folder))
        try:
            started = time.monotonic()
            ids = action(lab, *args)
            lab.settle(ids)
            result = {"scenario": name, **lab.count(ids), "seconds": round(time.monotonic() - started, 1)}
        finally:
            lab.close()
    print(f"{name:<16} runs {result['runs']:>3}  lost {result['lost']}  trained twice {result['trained_twice']}  "
          f"failed {result['failed']}  workers alive {result['workers_alive']}  requeued {result['requeued']}  "
          f"leases lost {result['leases_lost']}  {result['seconds']} s"
          + (f"  errors {result['errors']}" if result["errors"] else ""), flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.probe_outage", description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", nargs="?", default="all", choices=("all", "outage", "worker", "horse", "load"))
    p.add_argument("--down", type=float, default=20.0, help="seconds Redis stays away (outage)")
    p.add_argument("--runs", type=int, default=120, help="runs in the load scenario")
    p.add_argument("--output", default=str(ROOT / "bench" / "results" / "probes.json"))
    args = p.parse_args(argv)
    plan = {
        "outage": [(f"outage {args.down:g} s", outage, args.down)],
        "worker": [("kill -9 worker", kill_worker)],
        "horse": [("kill -9 horse", kill_horse)],
        "load": [(f"load {args.runs} runs", load, args.runs)],
    }
    if args.scenario == "all":
        steps = [(f"outage {d} s", outage, d) for d in (3, 20, 60)] + plan["worker"] + plan["horse"] + plan["load"]
    else:
        steps = plan[args.scenario]
    results = [run_scenario(name, action, *rest) for name, action, *rest in steps]
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps({"when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                             "results": results}, indent=2) + "\n")
    bad = [r for r in results if r["lost"] or r["trained_twice"] or r["failed"] or not r["workers_alive"]]
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
