"""`python -m bench.search_check`: issue 18's benchmark. Does Spikeboard's search find what a large random
search finds, sooner, and sooner than Optuna used the usual way?

Over beta, T, z, V_th, lr, encoder and loss (hidden width fixed) on Fashion-MNIST:

(a) random search: --configs configs x --epochs epochs, sampled uniformly (lr on a log scale), trained
    through the job system (fresh redis-server, --workers `python -m workers`, one torch thread each,
    packable configs packed): the reference best test accuracy and its wall time;
(b) Spikeboard's search (`workers.search`: Optuna TPE + asynchronous successive halving, rungs up to
    --epochs, same workers, fresh Redis so nothing of (a) is reused), stopped once it is within
    --within points of (a)'s best or its budget (the random search's epochs) is spent: its wall time;
(c) Optuna the usual way: one process, `study.optimize` with TPE and SuccessiveHalvingPruner, the
    objective training with `snn_core.training.fit` on the same engine, torch threads = --workers
    (the same cores), until within --within of (a)'s best or --configs trials: its wall time.

With --objective accuracy+sops, (b) is a two-objective search, and the figure is the hypervolume of
(accuracy, synaptic ops per inference) fronts at (b)'s wall time against (a)'s runs finished by then.
--quick is a small proof that it all runs (2k train samples, few configs); the real figures need the
full run on a quiet machine:

    python -m bench.search_check --configs 150 --epochs 10 --workers 2          (about a day on 2 cores)

Writes --out (default bench/results/search.md) and JSON beside it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench" / "results" / "search.md"
FASHION_DIR = "/usr/share/datasets/fashion-mnist"


def space(t_values: list[int]):
    from workers.search_spec import Param

    return (Param("beta", "float", 0.5, 0.95), Param("T", "choice", choices=tuple(t_values)),
            Param("z", "float", 0.5, 4.0), Param("v_th", "float", 0.5, 2.5), Param("lr", "float", 1e-4, 1e-2, log=True),
            Param("encoder", "choice", choices=("bernoulli", "image")), Param("loss", "choice", choices=("mse", "ce")))


def random_params(params, rng: random.Random) -> dict:
    out = {}
    for p in params:
        if p.kind == "choice":
            out[p.name] = rng.choice(p.choices)
        elif p.log:
            out[p.name] = math.exp(rng.uniform(math.log(p.low), math.log(p.high)))
        else:
            out[p.name] = rng.uniform(p.low, p.high)
    return out


class Stack:
    """A fresh redis-server and N workers (and a search driver), stopped on exit."""

    def __init__(self, workers: int, data_dir: str, log_dir: Path, name: str, aof: bool = False):
        from workers.redis_server import start_redis

        # aof: as the stack's Redis (append-only, everysec), where every job's last writes are settled
        self.redis, self.url = start_redis(log_dir / f"{name}-redis", appendonly=aof)
        env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": self.url, "SPIKEBOARD_DATA_DIR": data_dir,
               "SPIKEBOARD_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1", "SPIKEBOARD_NO_DOWNLOAD": "1"}
        self.procs = [subprocess.Popen([sys.executable, "-m", "workers"], cwd=ROOT, env=env,
                                       stdout=open(log_dir / f"{name}-worker{i}.log", "wb"), stderr=subprocess.STDOUT)
                      for i in range(workers)]
        self.procs.append(subprocess.Popen([sys.executable, "-m", "workers", "search-driver"], cwd=ROOT, env=env,
                                           stdout=open(log_dir / f"{name}-driver.log", "wb"),
                                           stderr=subprocess.STDOUT))

    def __enter__(self):
        import redis

        return redis.Redis.from_url(self.url)

    def __exit__(self, *exc):
        for p in self.procs:
            p.kill()
            p.wait(10)
        self.redis.terminate()
        self.redis.wait(10)


def busy_seconds(log_dir: Path, name: str) -> float:
    """Seconds the `name` stack's workers spent in jobs, from RQ's "Successfully completed ... job in
    H:MM:SS" lines. Divided by the workers, it is the wall time with the jobs perfectly balanced."""
    total = 0.0
    for log in sorted(log_dir.glob(f"{name}-worker*.log")):
        for m in re.finditer(r"Successfully completed .*? job in (\d+):(\d+):(\d+(?:\.\d+)?)s?",
                             log.read_text(errors="replace")):
            total += int(m[1]) * 3600 + int(m[2]) * 60 + float(m[3])
    return total


def balance(ref: dict, log_dir: Path, workers: int) -> None:
    """Add the random search's busy seconds and balanced wall (the stricter reference: a pack that
    holds one worker long after the other is idle lengthens its real wall time)."""
    ref["busy_s"] = busy_seconds(log_dir, "random")
    ref["balanced_wall_s"] = min(ref["wall_s"], ref["busy_s"] / workers)


def run_random(args, base, params, log_dir: Path) -> dict:
    from workers import submission
    from workers.analysis import run_cost
    from workers.store import DONE_STATUSES, RunStatus, RunStore

    rng = random.Random(args.seed)
    configs = [base.replace(**{k: v for k, v in random_params(params, rng).items()}) for _ in range(args.configs)]
    with Stack(args.workers, args.data_dir, log_dir, "random") as conn:
        store = RunStore(conn)
        start = time.time()
        records = [store.create_or_reuse(c)[0] for c in configs]
        submission.enqueue_new(conn, records, packed=True)
        while True:
            now = [store.get_run(r.id) for r in records]
            if all(r.status in DONE_STATUSES for r in now):
                break
            if time.time() - start > args.timeout:
                raise SystemExit(f"random search: not done after {args.timeout} s")
            time.sleep(1.0)
        wall = max(r.finished_at for r in now) - start
        rows = []
        for r in now:
            if r.status is not RunStatus.FINISHED:
                continue
            last = store.epoch_history(r.id)[-1]
            rows.append({"acc": last["test_acc"], "sops": run_cost(r.config, last["firing_rates"])["synops"],
                         "at": r.finished_at - start})
    return {"wall_s": wall, "best": max(r["acc"] for r in rows), "runs": len(rows), "rows": rows,
            "epochs": args.configs * args.epochs}


def run_search(args, base, params, target: float | None, log_dir: Path, limit_s: float | None = None) -> dict:
    """(b); stopped at the target, at its budget, or (with `limit_s`) after `limit_s` s: not reached."""
    from workers import search
    from workers.search_spec import SearchSpec
    from workers.store import RunStore

    rungs = tuple(r for r in (1, 3, 9, 27) if r < args.epochs) + (args.epochs,)
    spec = SearchSpec(space=params, base=base, budget_epochs=args.configs * args.epochs,
                      max_running=args.max_running or 2 * args.workers,
                      objective=args.objective, rungs=rungs, eta=3, seed=args.seed)
    with Stack(args.workers, args.data_dir, log_dir, "search", aof=args.aof) as conn:
        store = RunStore(conn)
        sid = search.start_search(conn, spec)
        reached = None
        while True:
            view = search.search_view(store, sid)
            if target is not None and view.best_curve and view.best_curve[-1][1] >= target and reached is None:
                reached = next(t for t, b in view.best_curve if b >= target)
                if not spec.multi:
                    search.stop_search(conn, sid)
                    break
            if view.status == "done":
                break
            if limit_s is not None and reached is None and time.time() - store.get_search(sid)["created_at"] > limit_s:
                search.stop_search(conn, sid)
                wait_stopped = time.time() + 600
                while search.search_view(store, sid).status not in ("stopped", "done") and time.time() < wait_stopped:
                    time.sleep(1.0)
                break
            time.sleep(1.0)
        view = search.search_view(store, sid)
    return {"reached_s": reached, "wall_s": view.budget["wall_used"], "best": view.best["acc"] if view.best else None,
            "epochs_used": view.budget["epochs_used"], "counts": view.counts, "rungs": list(rungs),
            "front": view.front, "hypervolume": view.hypervolume, "search_id": sid, "max_running": spec.max_running}


def run_optuna_usual(args, base, params, target: float, data, limit_s: float | None = None) -> dict:
    """One process: TPE + SuccessiveHalvingPruner, `fit` with pruning callbacks, torch threads = workers.
    Stops at the target, after --configs trials, or (with `limit_s`) once a trial ends past `limit_s`:
    it then reports "not reached within limit_s", a lower bound on its time to the target."""
    import optuna
    import torch

    from snn_core.training import Callbacks, fit
    from workers.search_spec import SearchSpec

    torch.set_num_threads(args.workers)
    spec = SearchSpec(space=params, base=base, budget_epochs=args.epochs, rungs=(args.epochs,))
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=args.seed),
                                pruner=optuna.pruners.SuccessiveHalvingPruner())
    start, reached = time.time(), None
    trained = {"epochs": 0, "at_target": None}  # epochs trained in all, and when the target was reached

    def objective(trial):
        values = {}
        for q in params:
            if q.kind == "choice":
                values[q.name] = trial.suggest_categorical(q.name, list(q.choices))
            else:
                values[q.name] = trial.suggest_float(q.name, q.low, q.high, log=q.log)
        config = spec.to_config(values)
        state = {"pruned": False}

        def on_epoch_end(m):
            trained["epochs"] += 1
            trial.report(m.test_acc, m.epoch)
            state["pruned"] = trial.should_prune()

        result = fit(config, Callbacks(on_epoch_end=on_epoch_end, should_stop=lambda: state["pruned"]), data=data)
        if state["pruned"]:
            raise optuna.TrialPruned()
        return result.history[-1].test_acc

    def stop_at_target(study, trial):
        nonlocal reached
        if study.best_trials and study.best_value >= target and reached is None:
            reached = time.time() - start
            trained["at_target"] = trained["epochs"]
            study.stop()
        elif limit_s is not None and time.time() - start > limit_s:
            study.stop()

    study.optimize(objective, n_trials=args.configs, callbacks=[stop_at_target])
    return {"reached_s": reached, "wall_s": time.time() - start, "best": study.best_value, "trials": len(study.trials),
            "torch_threads": args.workers, "limit_s": limit_s, "epochs": trained["epochs"],
            "epochs_to_target": trained["at_target"]}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.search_check", description=__doc__.split("\n\n")[0])
    p.add_argument("--configs", type=int, default=150)
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--train-limit", type=int, default=0, help="0: all 60,000")
    p.add_argument("--test-limit", type=int, default=0)
    p.add_argument("--T", default="10,25,50", help="T choices")
    p.add_argument("--hidden", type=int, default=100)
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--data-dir", default=FASHION_DIR)
    p.add_argument("--objective", default="accuracy")
    p.add_argument("--within", type=float, default=0.005, help="how close to the random best counts (0.005 = 0.5 pt)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timeout", type=float, default=7 * 24 * 3600)
    p.add_argument("--skip-optuna", action="store_true")
    p.add_argument("--max-running", type=int, default=0, help="(b)'s most trials at once (0: 2 x --workers)")
    p.add_argument("--aof", action="store_true", help="(b)'s Redis as the stack's: append-only, everysec")
    p.add_argument("--search-limit", type=float, default=0.0,
                   help="stop (b) once it has run this fraction of (a)'s wall time without reaching the target "
                        "(0: only its budget stops it)")
    p.add_argument("--optuna-limit", type=float, default=0.0,
                   help="stop (c) once it has run this many times (b)'s time to the target without reaching it "
                        "(0: no limit); the table then shows a lower bound")
    p.add_argument("--quick", action="store_true", help="2k train / 500 test, 6 configs x 3 epochs, T 4,8")
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--rewrite", default="", help="a results JSON: rewrite its table, adding the random search's "
                   "balanced wall from --logs (the run's log folder), without running anything")
    p.add_argument("--logs", default="")
    p.add_argument("--reference", default="", help="a results JSON of the same random search: reuse its (a) "
                   "(its seed drew the random configs; --seed then seeds only (b) and (c))")
    args = p.parse_args(argv)
    if args.quick:
        args.configs, args.epochs, args.train_limit, args.test_limit, args.T, args.hidden = 6, 3, 2000, 500, "4,8", 32
    from snn_core.config import RunConfig

    base = RunConfig(dataset=args.dataset, hidden=(args.hidden,), epochs=args.epochs, train_limit=args.train_limit,
                     test_limit=args.test_limit)
    params = space([int(t) for t in args.T.split(",")])
    log_dir = Path(tempfile.mkdtemp(prefix="search_check-"))
    print(f"logs in {log_dir}", flush=True)
    if args.rewrite:
        return rewrite(Path(args.rewrite), Path(args.logs), Path(args.out))
    if args.reference:
        ref = reference(Path(args.reference), args)
    else:
        ref = run_random(args, base, params, log_dir)
        balance(ref, log_dir, args.workers)
    print(f"(a) random: best {ref['best']:.4f} in {ref['wall_s']:.0f} s", flush=True)
    target = ref["best"] - args.within
    ours = run_search(args, base, params, target, log_dir,
                      args.search_limit * ref["wall_s"] if args.search_limit else None)
    print(f"(b) search: reached {target:.4f} at {ours['reached_s']} s; best {ours['best']}", flush=True)
    usual = None
    if not args.skip_optuna and args.objective == "accuracy":
        from snn_core.data import load_data

        data = load_data(base.dataset, args.data_dir, __import__("torch").device("cpu"), base.train_limit,
                         base.test_limit)
        limit = None
        if args.optuna_limit:  # a multiple of (b)'s time to the target, or (a)'s wall if (b) never got there
            limit = args.optuna_limit * ours["reached_s"] if ours["reached_s"] else ref["wall_s"]
        usual = run_optuna_usual(args, base, params, target, data, limit)
        print(f"(c) optuna usual: reached at {usual['reached_s']} s; best {usual['best']:.4f}", flush=True)
    hv = None
    if args.objective != "accuracy":
        from workers.search_asha import hypervolume_2d

        at = ours["wall_s"]
        every = [(r["acc"], r["sops"]) for r in ref["rows"]]
        theirs = [(r["acc"], r["sops"]) for r in ref["rows"] if r["at"] <= at]
        mine = [(f["acc"], f["cost"]) for f in ours["front"]]
        ref_cost = 1.1 * max([c for _, c in every + mine] or [1.0])  # one reference point for all three
        hv = {"at_s": at, "random": hypervolume_2d(theirs, (0.0, ref_cost)) if theirs else 0.0,
              "random_runs_by_then": len(theirs), "random_final": hypervolume_2d(every, (0.0, ref_cost)),
              "random_final_at_s": ref["wall_s"], "search": hypervolume_2d(mine, (0.0, ref_cost)) if mine else 0.0,
              "ref_cost": ref_cost}
    result = {"log_dir": str(log_dir), "args": vars(args), "random": ref, "search": ours,
              "optuna_usual": usual, "hypervolume": hv, "target": target, "load": os.getloadavg()}
    write(Path(args.out), result, " ".join(["python -m bench.search_check", *(argv if argv is not None else sys.argv[1:])]))
    return 0


SAME = ("configs", "epochs", "train_limit", "test_limit", "T", "hidden", "dataset", "data_dir", "workers")


def reference(results: Path, args) -> dict:
    """(a) from an earlier results JSON of the same random search (it does not depend on the objective):
    its best, wall and rows, so (b) and (c) can be run again (another seed) without 20 minutes of (a)."""
    r = json.loads(results.read_text())
    differ = [k for k in SAME if r["args"].get(k) != getattr(args, k)]
    if differ:
        raise SystemExit(f"--reference {results}: its random search differs in {', '.join(differ)}")
    if args.objective != "accuracy" and "rows" not in r["random"]:
        raise SystemExit(f"--reference {results}: no per-run rows (a two-objective check needs them)")
    return {**r["random"], "from": str(results), "seed": r["args"]["seed"]}


def rewrite(results: Path, logs: Path, out: Path) -> int:
    r = json.loads(results.read_text())
    balance(r["random"], logs, r["args"]["workers"])
    r["log_dir"] = str(logs)
    a = r["args"]
    command = (f"python -m bench.search_check --configs {a['configs']} --epochs {a['epochs']} --workers {a['workers']} "
               f"--T {a['T']} --hidden {a['hidden']} --search-limit {a['search_limit']} "
               f"--optuna-limit {a['optuna_limit']}`; table rewritten from its logs with "
               f"`python -m bench.search_check --rewrite {results} --logs {logs}")
    write(out, r, command)
    return 0


def write(out: Path, r: dict, command: str) -> None:
    def s(v):
        return "not reached" if v is None else f"{v:.1f} s"

    ref, ours, usual = r["random"], r["search"], r["optuna_usual"]
    lines = [f"# Search check (issue 18)", "", f"Command: `{command}`", "",
             f"Machine load at the end: {'/'.join(f'{x:.2f}' for x in r['load'])}; {r['args']['workers']} workers, "
             "one torch thread each; Optuna-usual with torch threads = workers.", "",
             "| | wall to the target | best test acc | work |", "|---|---|---|---|",
             f"| (a) random, {r['args']['configs']} x {r['args']['epochs']} epochs"
             f"{' (reused from ' + ref['from'] + ', its seed ' + str(ref['seed']) + ')' if ref.get('from') else ''} | "
             f"{s(ref['wall_s'])} (all) | "
             f"{ref['best']:.4f} | {ref['epochs']} epochs |",
             f"| (b) Spikeboard search (rungs {ours['rungs']}, {ours.get('max_running', '?')} at once) | "
             f"{s(ours['reached_s'])} (ran {s(ours['wall_s'])}) | {ours['best']} | "
             f"{ours['epochs_used']} epochs; {ours['counts']} |"]
    if usual:
        lines.append(f"| (c) Optuna usual (TPE + SuccessiveHalving, 1 process) | {s(usual['reached_s'])} "
                     f"(ran {s(usual['wall_s'])}) | "
                     f"{usual['best']:.4f} | {usual['trials']} trials"
                     f"{'; ' + str(usual['epochs']) + ' epochs' if usual.get('epochs') else ''} |")
    lines += ["", f"Target: the random best - {r['args']['within']} = {r['target']:.4f}."]
    if r["args"].get("aof"):
        lines.append("(b)'s Redis as the stack's: append-only with appendfsync everysec (jobs settle their last "
                     "writes, in a settler process off the worker's critical path).")
    if ref.get("busy_s"):
        lines.append(f"Random search: its workers were busy {ref['busy_s']:.0f} s in all; balanced over "
                     f"{r['args']['workers']} workers that is {ref['balanced_wall_s']:.0f} s of wall (its real wall, "
                     f"{ref['wall_s']:.0f} s, includes a worker idle while the other finished the largest pack).")
    if ours["reached_s"] is not None:
        lines.append(f"Search / random wall: {ours['reached_s'] / ref['wall_s']:.2f} (goal <= 0.20).")
        if ref.get("balanced_wall_s"):
            lines.append(f"Search / random balanced wall: {ours['reached_s'] / ref['balanced_wall_s']:.2f} "
                         "(the stricter figure; goal <= 0.20).")
        if usual and usual["reached_s"]:
            lines.append(f"Optuna usual / search: {usual['reached_s'] / ours['reached_s']:.2f}x (goal >= 3).")
        elif usual and usual.get("limit_s"):
            lines.append(f"Optuna usual had not reached the target when stopped after {usual['wall_s']:.0f} s "
                         f"(limit {usual['limit_s']:.0f} s): Optuna usual / search > "
                         f"{usual['wall_s'] / ours['reached_s']:.2f}x (goal >= 3).")
    if r["hypervolume"]:
        hv = r["hypervolume"]
        lines.append(f"Hypervolume (accuracy x synaptic ops below {hv['ref_cost']:.4g}) at the search's "
                     f"{hv['at_s']:.0f} s: search {hv['search']:.4g}, random {hv['random']:.4g} "
                     f"({hv['random_runs_by_then']} of its runs done by then); the random search's at its end "
                     f"({hv['random_final_at_s']:.0f} s, all runs): {hv['random_final']:.4g}.")
    if r["args"]["quick"]:
        lines += ["", "This is the --quick proof that the benchmark runs (tiny data, few configs): its figures "
                  "say nothing about the goals; the full run is the command in bench/search_check.py's docstring."]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".json").write_text(json.dumps(r, indent=2, sort_keys=True, default=str))
    print(out.read_text())


if __name__ == "__main__":
    sys.exit(main())
