"""The issue-11 figures on MNIST-5k: the lab's beta and T studies (one beta x T sweep) and a z x V_th
sweep, trained by real workers, then latency, the Pareto front against the lab's hand-counted FLOPs,
and the importance of beta, T, z and V_th; screenshots of the views.

    python -m bench.insights_demo --data-dir ../shared/data [--epochs 10] [--workers 2] [--shots docs/screenshots]

Lab settings: T=5, beta 0.8, z 1, V_th 1.0, Bernoulli, MSE, 10 epochs, one seed; beta in the lab's
list (0.5 ... 0.99), T in (5, 10, 20, 50, 100), z in (0.5 ... 10), V_th in (0.5 ... 1.5). The z x V_th
sweep carries the stop rule "stop when the output layer has been silent for 2 epochs in a row".
Writes bench/results/insights.md and .json. Starts its own redis-server, workers and app (ports free).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.procs import start, stop, wait_health  # noqa: E402
from snn_core.config import SWEEPS, RunConfig  # noqa: E402
from snn_core.latency import decision_step, latest_curve  # noqa: E402
from workers import connection, submission  # noqa: E402
from workers.analysis import cost_rows, determinism, importance, importance_rows, pareto_front  # noqa: E402
from workers.redis_server import free_port, start_redis  # noqa: E402
from workers.store import DONE_STATUSES, RunStore  # noqa: E402

HAND = {"ANN": 15_900, "SNN (T=5, rates 1 and 0.25)": 78_750}
CHROMIUM = "/usr/bin/chromium"


def lab_base(epochs: int, limit: int = 0) -> RunConfig:
    """The lab's sweep base; the data comes from the workers' SPIKEBOARD_DATA_DIR (`limit`: a smoke test's subset)."""
    return RunConfig(T=5, beta=0.8, z=1.0, v_th=1.0, encoder="bernoulli", loss="mse", epochs=epochs,
                     train_limit=limit, test_limit=limit)


def broken_run(conn, store: RunStore, base: RunConfig, timeout: float) -> str:
    """The base config with V_th = 8 (its output layer never fires) and the stop rule "output silent
    for 2 epochs in a row": a run the rule ends early. Reused when one was stopped already."""
    config = base.replace(v_th=8.0)
    done = [r for r in store.list_runs(status="stopped") if r.config_hash == config.config_hash()]
    if done:
        return done[0].id
    run_id = submission.submit_run(conn, config, stop_rule={"layer": "output", "condition": "silent", "epochs": 2}).record.id
    wait_done(store, [run_id], timeout)
    return run_id


def wait_done(store: RunStore, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        states = [store.get_run(i).status for i in ids]
        if all(s in DONE_STATUSES for s in states):
            return
        done = sum(s in DONE_STATUSES for s in states)
        print(f"  {done}/{len(ids)} runs done", flush=True)
        time.sleep(10)
    raise SystemExit(f"runs not done after {timeout}s")


def name(config: dict, fields: list[str]) -> str:
    return ", ".join(f"{f}={config[f]}" for f in fields)


def analyse(store: RunStore, sweeps: dict[str, str]) -> dict:
    out: dict = {"sweeps": {}, "hand_flops": HAND}
    everything = []
    for title, sweep_id in sweeps.items():
        sweep = store.get_sweep(sweep_id)
        axes = list(sweep["axes"])
        records = [store.get_run(i) for i in sweep["run_ids"]]
        everything += records
        latency = []
        for r in records:
            got = latest_curve(store.epoch_history(r.id))
            if got is None:
                continue
            curve = got[1]
            latency.append({"run": name(r.config, axes), "id": r.id, "status": r.status.value, "T": len(curve),
                            "final_acc": curve[-1], "acc_t1": curve[0], "step_90": decision_step(curve, 0.9),
                            "health": (r.health or {}).get("flags", []), "stop_reason": r.stop_reason})
        imp = importance(importance_rows(records, axes), axes)
        out["sweeps"][title] = {"id": sweep_id, "axes": axes, "latency": latency, "importance": imp}
    everything = list({r.id: r for r in everything}.values())  # the z x V_th sweep reuses the base run
    names = {r.id: name(r.config, ["beta", "T", "z", "v_th"]) for r in everything}
    rows = cost_rows(everything)
    for cost in ("synops", "flops"):
        out[f"front_{cost}"] = [{**p, "run": names[p["id"]]} for p in pareto_front(rows, cost=cost)]
    out["pooled_importance"] = importance(importance_rows(everything, ["beta", "T", "z", "v_th"]),
                                          ["beta", "T", "z", "v_th"])
    out["runs"] = [{**r, "run": names[r["id"]]} for r in rows]
    return out


def markdown(res: dict, epochs: int, seconds: float) -> str:
    zeros = next(r["acc_t1"] for s in res["sweeps"].values() for r in s["latency"] if r["run"] == "beta=0.8, T=5")
    lines = [f"# Issue 11 figures: MNIST-5k, lab settings, {epochs} epochs, one seed",
             "", f"`python -m bench.insights_demo` ({seconds / 60:.1f} min on this machine). Base: T=5, beta 0.8, "
             "z 1, V_th 1.0, Bernoulli, MSE, the lab's random membrane start; trained by real workers (packed).", "",
             "Reading the latency: after 1 step no output neuron has fired (a neuron starting below threshold fires "
             "one step after its input at the earliest, so with one hidden layer the output's first spike is at "
             "step 3), every count is 0 and the argmax says class 0: accuracy is the test set's share of zeros "
             f"({zeros:.1%} for the base run). Runs whose first-step membranes can exceed V_th = 0.5 read slightly "
             "above it.", ""]
    for title, s in res["sweeps"].items():
        lines += [f"## {title} (sweep `{s['id']}`)", "", "Decision latency (latest epoch): the first step t at "
                  "which test accuracy read after t steps reaches 90 % of its final value.", "",
                  "| run | T | acc after 1 step | final acc | reaches 90 % at t | t / T | health flags |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for r in s["latency"]:
            lines.append(f"| {r['run']}{' (stopped)' if r['status'] == 'stopped' else ''} | {r['T']} | "
                         f"{r['acc_t1']:.1%} | {r['final_acc']:.1%} | {r['step_90']} | {r['step_90'] / r['T']:.2f} | "
                         f"{'; '.join(r['health']) or '-'} |")
        lines += ["", "Importance for best test accuracy (drop in R² when shuffled; 90 % bootstrap interval; share):", ""]
        lines += [f"- **{i['param']}**: {i['importance']:.3f} [{i['low']:.3f}, {i['high']:.3f}], {i['share']:.0%}"
                  for i in s["importance"]]
        lines.append("")
    if res.get("stopped"):
        st = res["stopped"]
        lines += ["## The stop rule", "", f"The base config with V_th = 8 (its output never fires) and the rule \"stop "
                  f"when the output layer has been silent for 2 epochs in a row\": status **{st['status']}** after "
                  f"{st['epochs']} of {epochs} epochs. Reason: {st['reason']}", ""]
    if res.get("determinism"):
        lines += ["## Train again", "", "The base config (beta 0.8, T=5, seed 0) trained again on purpose, twice, "
                  "with the same seed (alone), against its sweep run (trained in a pack of 6): metrics compared are "
                  "losses, accuracies, firing rates, latency curves and per-neuron counts, every epoch.", ""]
        for what, d in res["determinism"].items():
            verdict = ("bit-identical" if d["identical"] else
                       f"equal to float rounding (largest relative difference {d['max_rel_diff']:.1e})" if d["close"]
                       else f"different: {d['first_difference']}")
            lines.append(f"- {what}: {d['epochs']} epochs, {verdict}")
        lines += ["", f"With seed 1 instead: best test accuracy {res['reseeded']['seed 1']:.1%} against "
                  f"{res['reseeded']['seed 0']:.1%}.", ""]
    lines += ["## Importance of beta, T, z and V_th, both sweeps pooled", ""]
    lines += [f"- **{i['param']}**: {i['importance']:.3f} [{i['low']:.3f}, {i['high']:.3f}], {i['share']:.0%}"
              for i in res["pooled_importance"]]
    for cost, what in (("flops", "SNN FLOPs"), ("synops", "synaptic operations")):
        lines += ["", f"## Pareto front: best test accuracy against {what} per inference (all runs)", "",
                  f"Lab's hand count: ANN {HAND['ANN']:,} FLOPs; SNN {HAND['SNN (T=5, rates 1 and 0.25)']:,} FLOPs "
                  "at T=5 with input rate 1 and hidden rate 0.25. Measured: each run's own rates at its best epoch.", "",
                  "| run | best acc | synaptic ops | SNN FLOPs | vs ANN 15,900 | vs lab SNN 78,750 |",
                  "|---|---:|---:|---:|---:|---:|"]
        for p in res[f"front_{cost}"]:
            lines.append(f"| {p['run']} | {p['acc']:.1%} | {p['synops']:,.0f} | {p['flops']:,.0f} | "
                         f"{p['flops'] / HAND['ANN']:.2f}x | {p['flops'] / 78_750:.2f}x |")
    return "\n".join(lines) + "\n"


def screenshots(env: dict, tmp: Path, shots: Path, res: dict) -> None:
    from playwright.sync_api import sync_playwright

    port = free_port()
    app = start([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.port",
                 str(port), "--browser.gatherUsageStats", "false"], env, tmp / "app.log")
    url = f"http://127.0.0.1:{port}"
    try:
        wait_health(url + "/_stcore/health", app, timeout=120)
        shots.mkdir(parents=True, exist_ok=True)
        bt = res["sweeps"]["beta x T"]["id"]
        zv = res["sweeps"]["z x V_th"]["id"]
        runs = [r for s in res["sweeps"].values() for r in s["latency"]]
        base_run = next(r["id"] for r in runs if r["run"] == "beta=0.8, T=5")
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)

            def settle() -> None:
                """Wait until the script run is over (Streamlit's status widget gone) and charts drew."""
                page.wait_for_timeout(1000)
                page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=180_000)
                page.wait_for_timeout(2500)

            def shot(path: str, file: str, tab: str | None = None, click: str | None = None,
                     expect: str | None = None, height: int = 1800, wait: str = ".js-plotly-plot") -> None:
                page.set_viewport_size({"width": 1400, "height": 1000})
                page.goto(url + path)
                try:
                    page.wait_for_selector(wait, timeout=180_000)
                except Exception as exc:  # a slow page on a loaded machine: shoot what is there
                    print("  (no chart yet:", type(exc).__name__, ")", flush=True)
                settle()
                if tab:
                    page.get_by_role("tab", name=tab).click()
                if click:
                    page.get_by_text(click, exact=True).click()
                    settle()
                if expect:
                    page.get_by_text(expect).first.wait_for(timeout=180_000)
                    settle()
                # Streamlit scrolls inside its own container: a tall window shows the whole page.
                page.set_viewport_size({"width": 1400, "height": height})
                page.wait_for_timeout(2000)
                page.screenshot(path=str(shots / file), full_page=True)
                print("  screenshot", shots / file, flush=True)

            page.goto(url + "/flops")  # hold app.py's navigation for the deep links (see tests/test_e2e.py)
            page.wait_for_timeout(3000)
            shot(f"/insights?sweep={bt}", "insights-cost.png")
            shot("/insights", "insights-pareto-flops.png", click="SNN FLOPs per inference",
                 expect="Best test accuracy against SNN FLOPs")
            shot(f"/insights?sweep={bt}", "insights-latency.png", "Decision latency")
            shot(f"/insights?sweep={bt}", "insights-importance.png", "What matters")
            shot(f"/insights?sweep={zv}", "insights-health.png", "Spike health")
            shot(f"/compare?sweep={bt}", "compare-latency.png")
            shot(f"/run?run={base_run}", "run-latency.png", height=2600)
            if res.get("stopped_run"):
                shot(f"/run?run={res['stopped_run']}", "run-stopped.png", height=2600)
            shot("/runs", "runs-health.png", wait='[data-testid="stDataFrame"]')
            browser.close()
    finally:
        stop(app)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--shots", default=str(ROOT / "docs" / "screenshots"), help="'' for none")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "insights"))
    ap.add_argument("--timeout", type=float, default=3600)
    ap.add_argument("--limit", type=int, default=0, help="train and test samples (0 = all; a smoke test)")
    ap.add_argument("--reuse-redis", default="", help="a finished demo's Redis folder: only retake the screenshots "
                                                      "(sweep ids from --out's .json)")
    args = ap.parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="insights-demo-"))
    print(f"Redis data in {Path(args.reuse_redis or tmp / 'redis')}", flush=True)
    redis_proc, redis_url = start_redis(Path(args.reuse_redis) if args.reuse_redis else tmp / "redis")
    if args.reuse_redis:
        env = {**os.environ, "REDIS_URL": redis_url, "SPIKEBOARD_DATA_DIR": args.data_dir, "PYTHONPATH": str(ROOT)}
        worker = start([sys.executable, "-m", "workers"], env, tmp / "worker0.log")
        try:
            conn = connection.connect(redis_url)
            res = json.loads(Path(args.out).with_suffix(".json").read_text())
            res["stopped_run"] = broken_run(conn, RunStore(conn), lab_base(args.epochs, args.limit), args.timeout)
            stopped = RunStore(conn).get_run(res["stopped_run"])
            res["stopped"] = {"id": stopped.id, "status": stopped.status.value, "reason": stopped.stop_reason,
                              "epochs": len(RunStore(conn).epoch_history(stopped.id))}
            Path(args.out).with_suffix(".json").write_text(json.dumps(res, indent=1))
            Path(args.out).with_suffix(".md").write_text(markdown(res, args.epochs, res.get("seconds", 0.0)))
            screenshots(env, tmp, Path(args.shots), res)
        finally:
            stop(worker)
            redis_proc.terminate()
            redis_proc.wait(timeout=20)
        return 0
    env = {**os.environ, "REDIS_URL": redis_url, "SPIKEBOARD_DATA_DIR": args.data_dir, "PYTHONPATH": str(ROOT)}
    workers = [start([sys.executable, "-m", "workers"], env, tmp / f"worker{i}.log") for i in range(args.workers)]
    started = time.monotonic()
    try:
        conn = connection.connect(redis_url)
        store = RunStore(conn)
        base = lab_base(args.epochs, args.limit)
        sweeps = {
            "beta x T": submission.submit_sweep(conn, base, {"beta": SWEEPS["beta"], "T": SWEEPS["T"]}).sweep_id,
            "z x V_th": submission.submit_sweep(conn, base, {"z": SWEEPS["z"], "v_th": SWEEPS["v_th"]},
                                             stop_rule={"layer": "output", "condition": "silent", "epochs": 2}).sweep_id,
        }
        # Train again on purpose: the base config with the same seed (determinism) and with a new one.
        again = submission.submit_run(conn, base, force=True).record.id
        again2 = submission.submit_run(conn, base, force=True).record.id
        reseeded = submission.submit_run(conn, base.replace(seed=1)).record.id
        ids = [i for s in sweeps.values() for i in store.get_sweep(s)["run_ids"]] + [again, again2, reseeded]
        print(f"{len(ids)} runs queued in sweeps {sweeps}", flush=True)
        wait_done(store, ids, args.timeout)
        seconds = time.monotonic() - started
        stopped_id = broken_run(conn, store, base, args.timeout)
        res = analyse(store, sweeps)
        res["seconds"] = seconds
        stopped = store.get_run(stopped_id)
        res["stopped_run"] = stopped_id
        res["stopped"] = {"id": stopped.id, "status": stopped.status.value, "reason": stopped.stop_reason,
                          "epochs": len(store.epoch_history(stopped.id))}
        twins = {r.id: store.epoch_history(r.id) for r in reversed(store.list_runs())
                 if r.config_hash == base.config_hash()}  # oldest (the sweep's) first
        original = next(i for i in twins if i != again)
        # The sweep's run trained in a pack; the two reruns alone: solo against solo, packed against solo.
        res["determinism"] = {"solo vs solo": determinism({again: twins[again], again2: twins[again2]}),
                              "packed vs solo": determinism({original: twins[original], again: twins[again]})}
        res["reseeded"] = {"seed 0": store.get_run(original).best_metrics["test_acc"],
                           "seed 1": store.get_run(reseeded).best_metrics["test_acc"]}
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.with_suffix(".json").write_text(json.dumps(res, indent=1))
        out.with_suffix(".md").write_text(markdown(res, args.epochs, seconds))
        print(out.with_suffix(".md").read_text())
        if args.shots:
            screenshots(env, tmp, Path(args.shots), res)
    finally:
        for w in workers:
            stop(w)
        redis_proc.terminate()
        redis_proc.wait(timeout=20)
    return 0


if __name__ == "__main__":
    sys.exit(main())
