"""`python -m bench.lab_wall`: the whole lab through the real job system, and the same work on the peers.

The lab's six studies (beta, T, z, V_th, encoder, loss: `snn_core.lab`, 26 configurations per seed,
10 epochs, Adam 1e-3, batch 64, evaluation on the whole test set after every epoch) on Fashion-MNIST
60k standing in for MNIST 60k, launched as the Lab launch does (`workers.labs.submit_lab`: one sweep
per study, deduplicated, packed) into a fresh redis-server with N workers (`python -m workers`, one
torch thread each), for each seed count asked (--seeds 1,3). The figure is the wall time from the
submit to the last run finished.

Against it, the same training work (every distinct run: 938 batches x 10 epochs at its encoder and
T) on the lab-style loop, snnTorch and SpikingJelly, from their per-batch times measured here
(bench/timing.py, one torch thread, the baseline config at each (encoder, T) the lab uses), shared
perfectly over the same number of processes, with their evaluation not counted: an estimate that
favours the peers. Writes --out (default bench/results/lab_wall.md) and JSON beside it.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.machine import load_average

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results" / "lab_wall.md"
SIX_STUDIES = ("beta", "T", "z", "vth", "encoder", "loss")  # the lab's six (vth-wide is Spikeboard's own)
BATCHES = 938  # ceil(60000 / 64)
PEERS = {"lab": "lab loop", "snntorch": "snnTorch", "spikingjelly": "SpikingJelly"}


def _cpu_seconds(pid: int) -> float:
    """CPU seconds of a process and its waited-for children (its work horses), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime


def distinct_runs(seeds: int) -> list:
    """The distinct configs of the six studies for `seeds` seeds (what dedup leaves to train)."""
    from snn_core.lab import lab_configs

    unique = {}
    for configs in lab_configs(list(SIX_STUDIES), seeds).values():
        for c in configs:
            unique.setdefault(c.config_hash(), c)
    return list(unique.values())


def run_lab(seeds: int, workers: int, data_dir: str, log_dir: Path, timeout_s: float, **limits: int) -> dict:
    """Launch the six studies into a fresh Redis with `workers` workers; wait; return the timings."""
    import redis

    from workers import labs
    from workers.redis_server import shutdown_if_ours, start_redis
    from workers.store import RunStatus, RunStore

    proc, url = start_redis(log_dir / f"redis-{seeds}", appendonly=False)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": url, "SPIKEBOARD_DATA_DIR": data_dir,
           "SPIKEBOARD_NO_DOWNLOAD": "1", "SPIKEBOARD_TORCH_THREADS": "1"}
    horses = []
    try:
        for i in range(workers):
            log = open(log_dir / f"worker-{seeds}-{i}.log", "wb")
            horses.append(subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env, stdout=log,
                                           stderr=subprocess.STDOUT))
        conn = redis.Redis.from_url(url)
        store = RunStore(conn)
        deadline = time.monotonic() + 120
        while len(conn.keys("rq:worker:*")) < workers:  # every worker registered (numba cache warm)
            if time.monotonic() > deadline:
                raise RuntimeError(f"workers did not start; see {log_dir}")
            time.sleep(0.2)
        plan = labs.plan_lab(conn, list(SIX_STUDIES), seeds, dataset="fashion-mnist",
                             **{k: v for k, v in limits.items() if v})
        load_start = load_average()
        started = time.time()
        lab_id = labs.submit_lab(conn, plan)
        while True:
            records = store.list_runs()
            statuses = Counter(r.status.value for r in records)
            done = all(r.status in (RunStatus.FINISHED, RunStatus.FAILED, RunStatus.CANCELLED) for r in records)
            if records and done:
                break
            if time.time() - started > timeout_s:
                raise RuntimeError(f"lab not done after {timeout_s:.0f} s: {dict(statuses)}")
            time.sleep(0.5)
        finished = max(r.finished_at or 0 for r in records)
        time.sleep(1.0)  # the last horses are waited for, so their CPU time is in their worker's
        cpu_s = sum(_cpu_seconds(h.pid) for h in horses)
        wall = finished - started
        failed = [r.id for r in records if r.status is not RunStatus.FINISHED]
        epochs = {r.id: store.epoch_history(r.id) for r in records}
        train_s = sum(e.get("epoch_seconds", 0.0) for h in epochs.values() for e in h)
        packs = Counter(r.pack_job or r.id for r in records)
        jobs = _job_rows(records, started)
        return {"seeds": seeds, "workers": workers, "lab_id": lab_id, "runs": plan.runs, "distinct": len(records),
                "jobs": len(packs), "largest_pack": max(packs.values()), "failed": failed,
                "wall_s": wall, "load_start": load_start, "load_end": load_average(), "workers_cpu_s": cpu_s,
                "packs_train_s": train_s, "job_rows": jobs,
                "final_test_acc": {r.id: (epochs[r.id][-1]["test_acc"] if epochs[r.id] else None) for r in records}}
    finally:
        for h in horses:
            h.terminate()
        for h in horses:
            try:
                h.wait(timeout=60)
            except subprocess.TimeoutExpired:
                h.kill()
        shutdown_if_ours(url, proc)


def _job_rows(records, started: float) -> list[dict]:
    """Per job (a pack or a solo run), in start order: its data shape, members, seeds, and when it
    ran (seconds from the submit): where the wall time went."""
    by_job: dict[str, list] = {}
    for r in records:
        by_job.setdefault(r.pack_job or r.id, []).append(r)
    rows = []
    for members in by_job.values():
        c = members[0].config
        begin = min(m.started_at or started for m in members) - started
        end = max(m.finished_at or started for m in members) - started
        rows.append({"T": c["T"], "encoder": c["encoder"], "members": len(members),
                     "seeds": len({m.config["seed"] for m in members}), "worker": members[0].worker,
                     "start_s": round(begin, 1), "end_s": round(end, 1), "seconds": round(end - begin, 1)})
    return sorted(rows, key=lambda row: row["start_s"])


def peer_ms(cells: list[tuple[str, int]], data, round_s: float, rounds: int) -> dict:
    """ms per batch of each peer at each (encoder, T), timed interleaved (bench/timing.py)."""
    from bench import baselines
    from bench.speed import baseline_config
    from bench.timing import steps_runner, time_interleaved

    makers = {"lab": baselines.lab_step, "snntorch": baselines.snntorch_step,
              "spikingjelly": baselines.spikingjelly_step}
    available = {"lab": True, "snntorch": baselines.snntorch_available(),
                 "spikingjelly": baselines.spikingjelly_available()}
    out: dict = {}
    for encoder, T in cells:
        config = baseline_config(encoder, T)
        runners = {name: steps_runner(makers[name](config, data.bundle.train)) for name in makers if available[name]}
        timings = time_interleaved(runners, round_s=round_s, rounds=rounds)
        out[f"{encoder}/{T}"] = {name: t.ms_per_batch for name, t in timings.items()}
        print(f"  peers {encoder} T={T}: " + ", ".join(f"{PEERS[n]} {v:.1f}" for n, v in out[f"{encoder}/{T}"].items())
              + f" ms/batch; load {load_average()}", file=sys.stderr, flush=True)
    return out


def peer_estimate(seeds: int, ms: dict, workers: int, epochs: int = 10) -> dict:
    """Seconds the distinct runs' training would take on each peer, shared over `workers` processes."""
    totals: dict[str, float] = {}
    for c in distinct_runs(seeds):
        for name, value in ms[f"{c.encoder.value}/{c.T}"].items():
            totals[name] = totals.get(name, 0.0) + value * BATCHES * epochs / 1000
    return {name: total / workers for name, total in totals.items()}


def report(info: dict, labs: list[dict], ms: dict, estimates: dict) -> str:
    lines = ["# The whole lab: wall time", "",
             f"`python -m bench.lab_wall {' '.join(info['argv'])}` on {info['date']} (commit {info['commit']}).", "",
             f"- Machine: {info['cpu']}, {info['cores']} cores, torch {info['torch']}; "
             f"{info['workers']} workers (`python -m workers`, one torch thread each) and redis-server; the machine "
             "was shared with other processes: load averages (1/5/15 min) are given per launch.",
             "- Work: the lab's six studies (beta, T, z, V_th, encoder, loss; 26 configurations per seed, 10 epochs, "
             "batch 64, Adam 1e-3, the lab's random membrane start) on Fashion-MNIST (60,000 train, evaluation on "
             "the 10,000 test images after every epoch), launched like the Lab launch (`workers.labs.submit_lab`: "
             "one sweep per study, deduplicated, packed across studies; seeds pack together; the costliest job "
             "queued first).",
             "- Peers: training only (938 batches x 10 epochs per distinct run at its encoder and T, from the ms per "
             "batch below), shared perfectly over the same number of processes; their evaluation is not counted.",
             "- 'CPU / workers': the CPU seconds the workers and their work horses spent (startup, data loading, "
             "training, evaluation, publishing) over the number of workers: what the launch would take on that many "
             "free cores with the work evenly shared. On a loaded machine the wall time is longer by the load.",
             f"- Peer clock: {info['clock']} time of the timing process, one torch thread.",
             "", "| seeds | runs (distinct) | jobs | Spikeboard wall | Spikeboard CPU / workers | lab loop (est.) "
             "| snnTorch (est.) | SpikingJelly (est.) | vs SpikingJelly (wall; CPU) | load at start / end |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for lab in labs:
        est = estimates[lab["seeds"]]
        sj = est.get("spikingjelly")
        fmt = lambda s: "-" if s is None else f"{s:.0f} s ({s / 60:.1f} min)"  # noqa: E731
        cpu = lab["workers_cpu_s"] / lab["workers"]
        ratio = f"{sj / lab['wall_s']:.0f}x; {sj / cpu:.0f}x" if sj else "-"
        lines.append(f"| {lab['seeds']} | {lab['runs']} ({lab['distinct']}) | {lab['jobs']} | {fmt(lab['wall_s'])} "
                     f"| {fmt(cpu)} | {fmt(est.get('lab'))} | {fmt(est.get('snntorch'))} | {fmt(sj)} | {ratio} "
                     f"| {lab['load_start']} / {lab['load_end']} |")
    lines += ["", "Peer ms per batch (one torch thread, best of the rounds):", "",
              "| encoder, T | " + " | ".join(PEERS.values()) + " |", "|---|" + "---|" * len(PEERS)]
    for cell, values in ms.items():
        lines.append(f"| {cell.replace('/', ', T=')} | " + " | ".join(
            f"{values[n]:.1f}" if n in values else "-" for n in PEERS) + " |")
    for lab in labs:
        lines += ["", f"Jobs with {lab['seeds']} seed{'s' if lab['seeds'] != 1 else ''} (seconds from the submit):", "",
                  "| T | encoder | members (seeds) | worker | start | end | seconds |", "|---|---|---|---|---|---|---|"]
        for row in lab.get("job_rows", []):
            lines.append(f"| {row['T']} | {row['encoder']} | {row['members']} ({row['seeds']}) | {row['worker']} "
                         f"| {row['start_s']:.0f} | {row['end_s']:.0f} | {row['seconds']:.0f} |")
    for lab in labs:
        if lab["failed"]:
            lines.append(f"\nFAILED runs with {lab['seeds']} seeds: {', '.join(lab['failed'])}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.lab_wall", description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", default="1,3", help="comma-separated seed counts, one launch each")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--data-dir", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--timeout", type=float, default=3600, help="seconds one launch may take")
    parser.add_argument("--round-s", type=float, default=1.0, help="seconds per timed peer round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-peers", action="store_true", help="skip timing the peers")
    parser.add_argument("--train-limit", type=int, default=0, help="train on N samples only (a smoke run)")
    parser.add_argument("--test-limit", type=int, default=0, help="evaluate on N samples only (a smoke run)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="how peer rounds are timed")
    parser.add_argument("--out", default=str(DEFAULT_OUT))
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",") if s.strip()]

    import torch

    from bench.data import load_bench_data
    from bench.machine import cpu_model

    from bench.timing import set_clock

    torch.set_num_threads(1)
    set_clock(args.clock)
    info = {"clock": args.clock,"date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu_model(),
            "cores": os.cpu_count(), "torch": torch.__version__, "workers": args.workers,
            "argv": list(sys.argv[1:] if argv is None else argv),
            "commit": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                     text=True, check=False).stdout.strip()}
    labs = []
    with tempfile.TemporaryDirectory(prefix="lab-wall-") as tmp:
        for n in seeds:
            print(f"lab, {n} seed(s), {args.workers} workers; load {load_average()}", file=sys.stderr, flush=True)
            labs.append(run_lab(n, args.workers, args.data_dir, Path(tmp), args.timeout,
                                train_limit=args.train_limit, test_limit=args.test_limit))
            print(f"  {labs[-1]['distinct']} runs in {labs[-1]['jobs']} jobs: {labs[-1]['wall_s']:.1f} s wall; "
                  f"load {load_average()}", file=sys.stderr, flush=True)
    ms: dict = {}
    estimates = {n: {} for n in seeds}
    if not args.no_peers:
        cells = sorted({(c.encoder.value, c.T) for c in distinct_runs(max(seeds))})
        ms = peer_ms(cells, load_bench_data("fashion-mnist", args.data_dir), args.round_s, args.rounds)
        estimates = {n: peer_estimate(n, ms, args.workers) for n in seeds}
    text = report(info, labs, ms, estimates)
    print(text)
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        out.with_suffix(".json").write_text(json.dumps(
            {"machine": info, "labs": labs, "peer_ms_per_batch": ms, "peer_estimates_s": estimates}, indent=1) + "\n")
    return 0 if all(not lab["failed"] for lab in labs) else 1


if __name__ == "__main__":
    sys.exit(main())
