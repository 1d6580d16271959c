"""Concurrent dedup probe: many submitters of one config at once, against a real redis-server.

    python -m bench.probe_dedup [--rounds 5] [--threads 16] [--processes 8]

Each round, `--threads` threads (own connections, released together by a barrier) submit one
config through `submission.submit_run`, then `--processes` `python -m workers submit` processes
submit another. Prints how many runs each round made (the target is 1) and a summary line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snn_core.config import RunConfig  # noqa: E402
from workers import submission  # noqa: E402
from workers.redis_server import start_redis  # noqa: E402
from workers.store import RunStore  # noqa: E402


def thread_round(url: str, config: RunConfig, n: int) -> int:
    conns = [redis.Redis.from_url(url) for _ in range(n)]
    for c in conns:
        c.ping()
    barrier = threading.Barrier(n)
    created = []

    def go(conn):
        barrier.wait()
        if submission.submit_run(conn, config).created:
            created.append(1)

    threads = [threading.Thread(target=go, args=(c,)) for c in conns]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(created)


def process_round(url: str, seed: int, n: int) -> int:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": url}
    args = [sys.executable, "-m", "workers", "submit", "--seed", str(seed), "--T", "10"]
    procs = [subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(n)]
    outs = [p.communicate(timeout=120) for p in procs]
    bad = [err for p, (_, err) in zip(procs, outs) if p.returncode != 0]
    if bad:
        raise SystemExit(f"a submit process failed: {bad[0]}")
    return len({out.strip() for out, _ in outs})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--processes", type=int, default=8)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_redis(Path(tmp) / "redis")
        try:
            conn = redis.Redis.from_url(url)
            threads, procs = [], []
            for r in range(args.rounds):
                threads.append(thread_round(url, RunConfig(seed=1000 + r, T=10), args.threads))
                procs.append(process_round(url, 2000 + r, args.processes))
                print(f"round {r + 1}: {args.threads} threads made {threads[-1]} run(s), "
                      f"{args.processes} CLI processes made {procs[-1]} run(s)", flush=True)
            total = RunStore(conn).count_runs()
            print(f"dedup: threads made {threads} runs per round, processes {procs}; {total} runs stored for "
                  f"{2 * args.rounds} configs; extra runs: {total - 2 * args.rounds}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0 if all(n == 1 for n in threads + procs) else 1


if __name__ == "__main__":
    sys.exit(main())
