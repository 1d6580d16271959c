"""Issue 20's reproduction, scaled down: a Redis crash that loses a run's last acknowledged writes.

    python -m bench.probe_crash_loss                  # both scenarios, Redis away 25 s
    python -m bench.probe_crash_loss finish --down 5

One run (T=100, hidden 64, batch 8, train_limit 1200, 4 epochs) on two workers, default lease TTL.

- epoch1: kill -9 the redis-server just after the run's epoch-1 point became readable;
- finish: kill -9 it just after the run's status became finished.

Its AOF is then cut before that epoch's entry (everything after it is lost, as everysec allows and a
real crash may do; `--no-plant` kills without cutting), and Redis starts again `--down` s later on the
same port and AOF dir. Prints one line per scenario: the epochs in the stream (in stream order),
batch steps missing or written twice, the final status, how often the run was requeued or resumed,
and how many writes the horse wrote again. Results go to bench/results/crash_loss.json.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bench.probe_outage import ROOT, Lab
from tests.aofkit import cut_aof_before, epoch_entry
from workers.redis_server import start_redis
from workers.store import RunStatus

RUN = dict(T=100, hidden=(64,), epochs=4, batch_size=8, train_limit=1200, test_limit=100)


def wait(predicate, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("gave up waiting")
        time.sleep(0.05)


def scenario(name: str, down_s: float, plant: bool) -> dict:
    with tempfile.TemporaryDirectory(prefix="spikeboard-crash-") as folder:
        lab = Lab(Path(folder))
        try:
            started = time.monotonic()
            (run_id,) = lab.submit(1, RUN)
            epoch = 1 if name == "epoch1" else RUN["epochs"]
            if epoch == 1:
                wait(lambda: any(k == "epoch" for _, k, _ in lab.store.read_metrics(run_id)))
            else:
                wait(lambda: lab.store.get_run(run_id).status is RunStatus.FINISHED)
            lab.redis.kill()
            lab.redis.wait(timeout=10)
            cut = cut_aof_before(lab.redis_dir / "appendonly.aof", epoch_entry(run_id, epoch)) if plant else 0
            time.sleep(down_s)
            lab.redis, lab.url = start_redis(lab.redis_dir, port=lab.port)
            time.sleep(1.0)
            lab.settle([run_id])
            time.sleep(20.0)  # long enough for a reaper to requeue a run whose finish was lost
            lab.settle([run_id])
            entries = lab.store.read_metrics(run_id)
            epochs = [d["epoch"] for _, kind, d in entries if kind == "epoch"]
            steps = [d["step"] for _, kind, d in entries if kind == "batch"]
            expected = RUN["epochs"] * RUN["train_limit"] // RUN["batch_size"]
            logs = "".join(p.read_text(errors="replace") for p in Path(folder).glob("worker*.log"))
            result = {
                "scenario": name, "down_s": down_s, "aof_commands_cut": cut, "epochs": epochs,
                "steps_missing": expected - len(set(steps)), "steps_twice": len(steps) - len(set(steps)),
                "status": lab.store.get_run(run_id).status.value,
                "requeued": logs.count("requeueing it to resume") + logs.count("resuming it from its checkpoint"),
                "writes_replayed": logs.count("writing them again"),
                "seconds": round(time.monotonic() - started, 1),
            }
        finally:
            lab.close()
    print(f"{name:<7} down {down_s:g} s  cut {result['aof_commands_cut']:>3}  epochs {result['epochs']}  "
          f"steps missing {result['steps_missing']}  twice {result['steps_twice']}  {result['status']}  "
          f"requeued {result['requeued']}  replays logged {result['writes_replayed']}  {result['seconds']} s",
          flush=True)
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.probe_crash_loss", description=__doc__.split("\n\n")[0])
    p.add_argument("scenario", nargs="?", default="all", choices=("all", "epoch1", "finish"))
    p.add_argument("--down", type=float, default=25.0, help="seconds Redis stays away")
    p.add_argument("--no-plant", dest="plant", action="store_false", help="kill -9 only, cut nothing")
    p.add_argument("--output", default=str(ROOT / "bench" / "results" / "crash_loss.json"))
    args = p.parse_args(argv)
    names = ["epoch1", "finish"] if args.scenario == "all" else [args.scenario]
    results = [scenario(name, args.down, args.plant) for name in names]
    Path(args.output).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
