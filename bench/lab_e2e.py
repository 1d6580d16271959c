"""The whole lab end to end from the browser (issue 9's done-when run).

Starts a stack (`python -m workers.stack`: its own redis-server on a free port, 2 workers, the app) on
the real data in $SPIKEBOARD_DATA_DIR (default ../shared/data: MNIST-5k train, 10k test), drives
Debian's chromium with Playwright to click *Launch the whole lab* on the Launch page, waits until every
run of the lab is done, opens the Lab report page, screenshots it into docs/screenshots/report*.png,
downloads the HTML report and its CSV from the page, and writes what it measured (wall time, the
verdicts beside the lab's conclusions, the machine's load) to bench/results/lab_e2e.md and .json.

    python -m bench.lab_e2e [--seeds 3] [--workers 2] [--timeout-min 90] [--out artifacts/lab_e2e]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update"]
SHOTS = ROOT / "docs" / "screenshots"
RESULTS = ROOT / "bench" / "results"


class Load:
    """Samples the 1-minute load average every few seconds while the lab trains."""

    def __init__(self, every: float = 10.0):
        self.samples: list[float] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(every,), daemon=True)

    def _run(self, every: float) -> None:
        while not self._stop.is_set():
            self.samples.append(os.getloadavg()[0])
            self._stop.wait(every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict:
        s = sorted(self.samples) or [0.0]
        return {"samples": len(self.samples), "min": s[0], "median": s[len(s) // 2], "max": s[-1]}


def _ratio_text(minus_1) -> str:
    """'SNN 0.69x the ANN (-31.4 %)' from the stored SNN/ANN - 1, or a dash when there is none."""
    if minus_1 is None:
        return "-"
    return f"SNN {1 + minus_1:.2f}x the ANN ({minus_1:+.1%})"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.lab_e2e", description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--timeout-min", type=float, default=90)
    p.add_argument("--out", default=str(ROOT / "artifacts" / "lab_e2e"))
    p.add_argument("--data-dir", default=os.environ.get("SPIKEBOARD_DATA_DIR") or str(ROOT.parent / "shared" / "data"))
    p.add_argument("--report-only", action="store_true",
                   help="restart the stack on the --out folder's Redis data and redo only the report part")
    args = p.parse_args(argv)

    from playwright.sync_api import sync_playwright

    from bench.procs import wait_health
    from snn_core.lab import STUDIES
    from workers import connection, labs
    from workers.lab_report import build_report
    from workers.redis_server import free_port
    from workers.store import RunStore

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    redis_port, web_port = free_port(), free_port()
    env = {**os.environ, "SPIKEBOARD_DATA_DIR": str(Path(args.data_dir).resolve()), "SPIKEBOARD_NO_DOWNLOAD": "1",
           "SPIKEBOARD_WORKERS": str(args.workers), "SPIKEBOARD_REDIS_PORT": str(redis_port),
           "SPIKEBOARD_WEB_PORT": str(web_port), "PYTHONUNBUFFERED": "1"}
    env.pop("REDIS_URL", None)
    log = open(out / "stack.log", "wb")
    stack = subprocess.Popen([sys.executable, "-m", "workers.stack", "--var", str(out / "var")], cwd=ROOT, env=env,
                             stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{web_port}"
    result: dict = {"seeds": args.seeds, "workers": args.workers, "data_dir": env["SPIKEBOARD_DATA_DIR"],
                    "cpus": os.cpu_count(), "load_at_start": os.getloadavg()}
    if args.report_only:
        result = json.loads((out / "result.json").read_text())
    try:
        wait_health(url + "/_stcore/health", stack, timeout=120)
        conn = connection.connect(f"redis://127.0.0.1:{redis_port}/0")
        store = RunStore(conn)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1000})
            page.set_default_timeout(120_000)
            if not args.report_only:
                lab_id = launch_and_wait(page, url, store, labs, args, result)
            else:
                lab_id = result["lab_id"]
            data = labs.lab_data(store, lab_id)
            result["plan"] = data["plan"]

            page.goto(f"{url}/report?lab={lab_id}")
            page.get_by_text("The lab's conclusions against this data").wait_for()
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot').length >= 21", timeout=120_000)
            page.evaluate("document.fonts.ready.then(() => true)")
            page.wait_for_timeout(3000)
            page.screenshot(path=str(SHOTS / "report.png"), full_page=False)
            for key in ("study-beta", "study-vth", "study-encoder", "flops"):
                page.locator(f"#{key}").evaluate("e => e.scrollIntoView({block: 'start'})")
                page.evaluate("document.fonts.ready.then(() => true)")
                page.wait_for_timeout(2000)
                page.screenshot(path=str(SHOTS / f"report-{key.removeprefix('study-')}.png"), full_page=False)
            with page.expect_download() as dl:
                page.get_by_role("button", name="Download the report").click()
            dl.value.save_as(str(out / "report.html"))
            with page.expect_download() as dl:
                page.get_by_role("button", name="Download its data (CSV)").click()
            dl.value.save_as(str(out / "report.csv"))
            browser.close()
        cli = subprocess.run([sys.executable, "-m", "webui", "report", lab_id, "--html", str(out / "report-cli.html"),
                              "--csv", str(out / "report-cli.csv"), "--redis-url", f"redis://127.0.0.1:{redis_port}/0"],
                             cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        result["cli_report"] = cli.stderr.strip()
        report = build_report(data)
        result["verdicts"] = [{"study": s.key, "lab": s.conclusion, "verdict": s.verdict,
                               "claims": [{"text": c.text, "verdict": c.verdict, "mean": c.mean, "se": c.se,
                                           "agree": c.agree, "n": c.n} for c in s.claims]}
                              for s in report.studies]
        f = report.flops
        result["flops"] = {"verdict": f.verdict, "mean_snn_over_ann_minus_1": f.claim.mean,
                           "explanations": f.explanations}
        result["html_bytes"] = (out / "report.html").stat().st_size
        result["tables"] = {s["key"]: s["table"] for s in report.to_dict()["studies"]}
    finally:
        if stack.poll() is None:
            os.killpg(stack.pid, signal.SIGINT)
            try:
                stack.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(stack.pid, signal.SIGKILL)
        (out / "result.json").write_text(json.dumps(result, indent=2, default=str))
    write_markdown(result, STUDIES)
    return 0


def launch_and_wait(page, url, store, labs, args, result) -> str:
    """Click *Launch the whole lab* on the Launch page; wait until every run of the lab is done."""
    page.goto(url + "/")
    page.get_by_text("Lab studies: the course lab's sweeps").click()
    if args.seeds != 3:
        box = page.get_by_label("Seeds per setting (each seed a separate run)")
        box.fill(str(args.seeds))
        box.press("Enter")
    button = page.get_by_role("button", name="Launch the whole lab")
    button.wait_for()
    result["plan_shown"] = page.locator("p", has_text="The whole lab").first.inner_text()
    page.screenshot(path=str(SHOTS / "report-launch.png"), full_page=False)
    started = time.time()
    button.click()
    page.get_by_text("launched:").wait_for()
    (lab,) = store.list_labs()
    lab_id = result["lab_id"] = lab["id"]
    result["plan"] = lab["plan"]
    print(f"lab {lab_id} launched: {result['plan_shown']}", flush=True)
    deadline = time.monotonic() + args.timeout_min * 60
    with Load() as load:
        while True:
            progress = labs.lab_progress(labs.lab_data(store, lab_id))
            pending = {s: n for s, n in progress.items() if s in ("queued", "running", "interrupted")}
            print(f"{time.time() - started:7.0f} s  {progress}", flush=True)
            if not pending:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the lab did not finish within {args.timeout_min} min: {progress}")
            time.sleep(15)
    finished_at = max(r.finished_at or 0 for r in store.list_runs())
    result.update(wall_s=finished_at - started, progress=labs.lab_progress(labs.lab_data(store, lab_id)), load=load.summary(),
                  load_at_end=os.getloadavg())

    return lab_id


def write_markdown(result: dict, studies) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "lab_e2e.json").write_text(json.dumps(result, indent=2, default=str))
    load = result.get("load", {})
    lines = [
        "# The whole lab from the browser (bench/lab_e2e.py)", "",
        f"Lab {result.get('lab_id')}: planned {result.get('plan')}", "",
        f"- wall time, click to the last run finished: {result.get('wall_s', 0) / 60:.1f} min "
        f"({result.get('workers')} workers, {result.get('seeds')} seeds, data {result.get('data_dir')})",
        f"- machine: {result.get('cpus')} CPUs, shared; 1-min load average while training: median "
        f"{load.get('median', 0):.1f}, min {load.get('min', 0):.1f}, max {load.get('max', 0):.1f} "
        f"({load.get('samples', 0)} samples)",
        f"- runs: {result.get('progress')}", "",
        "| study | the lab concluded | verdict here | parts |", "|---|---|---|---|",
    ]
    for v in result.get("verdicts", []):
        parts = "; ".join(f"{c['text']}: {c['verdict']}" for c in v["claims"])
        lines.append(f"| {v['study']} | {v['lab']} | **{v['verdict']}** | {parts} |")
    f = result.get("flops", {})
    lines.append(f"| FLOPs | ANN 15,900 against SNN 78,750 at T=5 | **{f.get('verdict')}** | "
                 f"{_ratio_text(f.get('mean_snn_over_ann_minus_1'))} |")
    (RESULTS / "lab_e2e.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    sys.exit(main())
