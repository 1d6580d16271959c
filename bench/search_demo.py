"""Screenshots of the Search page (issue 18) with a real search: its own redis-server, workers, search
driver and app; a two-objective search (test accuracy and synaptic ops) on small synthetic data.

    python -m bench.search_demo [--data-dir ../shared/data] [--shots docs/screenshots] [--workers 2]
                                [--budget-epochs 24]

Without --data-dir it trains on `snn_core.data.make_synthetic` digits (so easy that every trial
reaches 100 %); with MNIST (1,000 training and 500 test samples) the trials differ.

Shoots the Launch page's Search section, the Search page while the search runs (once a few trials
ended) and once it is done: search-launch.png, search-running.png, search-done.png. Prints the
search's counts, best value and how long it took.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snn_core.config import RunConfig  # noqa: E402
from snn_core.data import make_synthetic  # noqa: E402
from bench.procs import wait_for  # noqa: E402
from workers import search  # noqa: E402
from workers.redis_server import free_port, start_redis  # noqa: E402
from workers.search_spec import Param, SearchSpec  # noqa: E402
from workers.store import RunStore  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
HEIGHT_JS = """() => document.querySelector('[data-testid="stMainBlockContainer"]').scrollHeight"""
BASE = RunConfig(T=6, hidden=(32,), encoder="bernoulli", train_limit=1000, test_limit=500, batch_size=50,
                 test_batch_size=500)


def start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(args, cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=None, help="MNIST in torchvision's layout")
    parser.add_argument("--shots", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--budget-epochs", type=int, default=24)
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    tmp = Path(tempfile.mkdtemp(prefix="search_demo_"))
    redis_proc, url = start_redis(tmp / "redis")
    data = args.data_dir.resolve() if args.data_dir else make_synthetic(tmp / "data", n_train=2000, n_test=500, seed=0)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": url, "SPIKEBOARD_DATA_DIR": str(data),
           "SPIKEBOARD_TORCH_THREADS": "1", "OMP_NUM_THREADS": "1"}
    procs = [start([sys.executable, "-m", "workers"], env, tmp / f"worker{i}.log") for i in range(args.workers)]
    procs.append(start([sys.executable, "-m", "workers", "search-driver"], env, tmp / "driver.log"))
    port = free_port()
    procs.append(start([sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
                        "--server.port", str(port), "--browser.gatherUsageStats", "false"], env, tmp / "app.log"))
    app = f"http://127.0.0.1:{port}"
    store = RunStore(redis.Redis.from_url(url))
    try:
        wait_for(lambda: _healthy(app), 90, "the app")
        spec = SearchSpec(space=(Param("beta", "float", 0.5, 0.95), Param("lr", "float", 1e-3, 5e-2, log=True),
                                 Param("T", "int", 3, 12)),
                          base=BASE, budget_epochs=args.budget_epochs, max_running=args.workers,
                          objective="accuracy+sops", rungs=(1, 2, 4), eta=2)
        began = time.monotonic()
        sid = search.start_search(store.conn, spec)
        args.shots.mkdir(parents=True, exist_ok=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(60_000)

            def shot(file: str, charts: int = 0) -> None:
                if charts:  # plotly's script loads lazily, seconds after the page on a busy machine
                    page.wait_for_function(f"() => document.querySelectorAll('.js-plotly-plot').length >= {charts}")
                page.wait_for_timeout(1500)
                page.locator('[data-testid="stStatusWidget"]').wait_for(state="hidden", timeout=60_000)
                # Streamlit scrolls inside its own box: a window as tall as its content shows the whole page.
                height = page.evaluate(HEIGHT_JS)
                page.set_viewport_size({"width": 1400, "height": max(1000, height + 60)})
                page.wait_for_timeout(2500)
                page.screenshot(path=str(args.shots / file), full_page=True)
                page.set_viewport_size({"width": 1400, "height": 1000})
                print("screenshot", args.shots / file, flush=True)

            page.goto(app + "/")
            page.get_by_text("Launch a training run").wait_for()
            page.get_by_text("Search: let Optuna pick").click()
            for label in ("search beta (membrane leak)", "search learning rate"):
                page.get_by_text(label, exact=True).click()
                page.wait_for_timeout(1500)
            page.get_by_text("Searches beta, lr").wait_for()
            page.get_by_text("Search: let Optuna pick").scroll_into_view_if_needed()
            shot("search-launch.png")

            ended = lambda: sum(1 for t in store.trials(sid).values() if t.get("ended_at"))  # noqa: E731
            wait_for(lambda: ended() >= 3 or store.get_search(sid)["status"] == "done", 600, "three trials to end")
            page.goto(app + f"/search?search={sid}")
            page.get_by_text("Best so far").wait_for()
            shot("search-running.png", charts=3)
            wait_for(lambda: store.get_search(sid)["status"] == "done", 900, "the search to finish")
            took = time.monotonic() - began
            page.goto(app + f"/search?search={sid}")
            page.get_by_text("Best so far").wait_for()
            shot("search-done.png", charts=3)
            browser.close()
        view = search.search_view(store, sid)
        print(f"search {sid}: {view.status} in {took:.0f} s; counts {({k: v for k, v in view.counts.items() if v})}; "
              f"epochs {view.budget['epochs_used']} of {view.budget['epochs_limit']}; best "
              f"{view.best['acc']:.3f} (trial {view.best['number']}); front {[p['number'] for p in view.front]}")
    finally:
        for proc in procs:
            stop(proc)
        redis_proc.terminate()
    return 0


def _healthy(app: str) -> bool:
    try:
        return urllib.request.urlopen(app + "/_stcore/health", timeout=2).read() == b"ok"
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
