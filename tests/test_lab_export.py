"""`python -m workers lab` and `python -m webui report`, and the exported HTML opened offline in chromium."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from snn_core.config import RunConfig
from tests.pagekit import stored_run
from tests.labkit import loss_lab, study_lab
from workers import connection
from workers.store import RunStatus, RunStore

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.timeout(120)


def cli(redis_url: str, *args: str) -> subprocess.CompletedProcess:
    """`python -m workers ARGS`, or `python -m webui report ...` for the report (the web side's)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_url}
    package = "webui" if args[0] == "report" else "workers"
    return subprocess.run([sys.executable, "-m", package, *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=60)


def test_lab_dry_run_prints_configs_and_launches_nothing_then_a_launch_dedups(redis_server, redis_conn):
    store = RunStore(redis_conn)
    existing = stored_run(store, RunConfig(loss="ce", seed=1))  # the Table 1 baseline with CE, seed 1: stored
    out = cli(redis_server.url, "lab", "--study", "loss", "--seeds", "2", "--dry-run")
    assert out.returncode == 0, out.stderr
    configs = [RunConfig.from_json(line) for line in out.stdout.splitlines()]
    assert [(c.loss.value, c.seed, c.T, c.beta, c.v_th, c.z) for c in configs] == \
        [("mse", 0, 50, 0.7, 1.5, 2.0), ("mse", 1, 50, 0.7, 1.5, 2.0), ("ce", 0, 50, 0.7, 1.5, 2.0),
         ("ce", 1, 50, 0.7, 1.5, 2.0)]
    assert "4 runs in 1 study (loss; 2 seeds each), 4 distinct; 1 already stored (reused), 3 to train" in out.stderr
    assert store.count_runs() == 1 and not store.list_labs() and connection.queue(redis_conn).count == 0

    out = cli(redis_server.url, "lab", "--study", "loss", "--seeds", "2", "--dataset", "mnist")
    assert out.returncode == 0, out.stderr
    lab_id = out.stdout.strip()
    lab = store.get_lab(lab_id)
    assert lab["plan"]["stored"] == 1 and lab["plan"]["new"] == 3
    sweep = store.get_sweep(lab["studies"]["loss"])
    assert existing in sweep["run_ids"] and store.count_runs() == 4

    bad = cli(redis_server.url, "lab", "--study", "loss", "--seeds", "0", "--dry-run")
    assert bad.returncode == 2 and "seeds must be an integer in 1..100, got 0" in bad.stderr
    bad = cli(redis_server.url, "report", "nope", "--html", "x.html")
    assert bad.returncode == 2 and "lab_id must look like l + 12 hex digits, got 'nope'" in bad.stderr


def test_the_whole_lab_packs_across_studies_one_job_per_data_shape_longest_first(redis_conn):
    from workers import labs

    lab_id = labs.submit_lab(redis_conn, labs.plan_lab(redis_conn, ["beta", "T", "z", "vth", "encoder", "loss"], seeds=1))
    store = RunStore(redis_conn)
    assert len(store.get_lab(lab_id)["studies"]) == 6 and store.count_runs() == 22
    shapes = []
    for job in connection.queue(redis_conn).get_jobs():
        ids = job.args[0] if isinstance(job.args[0], list) else [job.args[0]]
        configs = [store.get_run(i).config for i in ids]
        shapes.append((configs[0]["T"], configs[0]["encoder"], len(ids)))
    # The beta, z and V_th studies and the T study's T = 5 share one pass over the data; the three
    # Bernoulli runs at T = 50 (the T study's and Table 1's MSE and CE) another. T = 100 goes first.
    assert shapes[0] == (100, "bernoulli", 1)
    assert sorted(shapes) == [(5, "bernoulli", 14), (10, "bernoulli", 1), (20, "bernoulli", 1), (50, "bernoulli", 3),
                              (50, "image", 1), (50, "threshold", 1), (100, "bernoulli", 1)]


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_report_export_holds_every_section_and_opens_offline(redis_server, redis_conn, tmp_path):
    store = RunStore(redis_conn)
    lab_id = loss_lab(store, ce_acc=0.84, mse_acc=0.80)
    html_path, csv_path = tmp_path / "report.html", tmp_path / "report.csv"
    out = cli(redis_server.url, "report", lab_id, "--html", str(html_path), "--csv", str(csv_path), "--ac-pj", "0.5")
    assert out.returncode == 0, out.stderr
    assert "4 of 4 runs finished; loss: holds" in out.stderr
    text = html_path.read_text()
    for section in ('id="summary"', 'id="study-loss"', 'id="flops"', "Cross-entropy beats MSE by about 3 points",
                    "0.5 pJ per accumulate"):
        assert section in text, section
    assert "<script src" not in text and "<link" not in text
    rows = list(csv.DictReader(io.StringIO(csv_path.read_text())))
    assert len(rows) == 8 and {r["study"] for r in rows} == {"loss"} and rows[0]["ann_flops"] == "15900"

    from playwright.sync_api import sync_playwright

    fetched: list[str] = []

    def guard(route):
        if route.request.url.startswith("file://"):
            route.continue_()
        else:
            fetched.append(route.request.url)
            route.abort()

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        context = browser.new_context(offline=True)
        context.route("**/*", guard)
        page = context.new_page()
        page.goto(html_path.as_uri())
        page.wait_for_function("window.Plotly && document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4")
        titles = page.evaluate("[...document.querySelectorAll('.js-plotly-plot')].map(g => g.layout.title.text)")
        assert "Loss function: test accuracy per epoch" in titles
        assert "holds" in page.locator("#summary + table").inner_text()
        page.wait_for_timeout(500)
        browser.close()
    assert fetched == []


def test_the_workers_cli_says_where_the_report_is_written_now(redis_server):
    """The worker image has snn_core/ and workers/ only: `python -m workers report` says in one line where
    the report is written (the web side), instead of a traceback or an unknown-argument error."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_server.url}
    out = subprocess.run([sys.executable, "-m", "workers", "report", "l000000000000", "--html", "x.html"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and "Traceback" not in out.stderr, out.stderr
    assert "python -m webui report LAB_ID --html FILE" in out.stderr
    away = cli("redis://127.0.0.1:1/0", "report", "l000000000000", "--html", "x.html")
    assert away.returncode == 1 and "Redis refused or could not be reached" in away.stderr, away.stderr


# For each figure: the tick labels and titles not wholly inside the figure's own box (clipped by its
# margin, or drawn over by the figure beside it), the y tick labels the y-axis title overlaps, the y
# tick labels, and whether its box overlaps another figure's.
_LAYOUT_PROBE = """() => {
  const box = e => e.getBoundingClientRect();
  const inside = (b, o) => b.left >= o.left - 1 && b.right <= o.right + 1 && b.top >= o.top - 1 && b.bottom <= o.bottom + 1;
  const meet = (a, b) => !(a.right <= b.left || b.right <= a.left || a.bottom <= b.top || b.bottom <= a.top);
  const plots = [...document.querySelectorAll('.js-plotly-plot')];
  return plots.map(g => {
    const own = box(g), svg = box(g.querySelector('.main-svg'));
    const labels = [...g.querySelectorAll('.xtick text, .ytick text, .g-xtitle text, .g-ytitle text, .g-gtitle text')]
      .filter(t => t.textContent);
    const ytitle = g.querySelector('.g-ytitle text');
    return {title: g.layout.title.text,
            clipped: labels.filter(t => !inside(box(t), own)).map(t => t.textContent),
            under_title: ytitle ? [...g.querySelectorAll('.ytick text')].filter(t => meet(box(t), box(ytitle)))
              .map(t => t.textContent) : [],
            yticks: [...g.querySelectorAll('.ytick text')].map(t => t.textContent),
            wider: svg.width > own.width + 1,
            overlaps: plots.filter(o => o !== g && meet(box(o.querySelector('.main-svg')), svg)).length};
  });
}"""


@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_exported_figures_keep_every_tick_label_and_title_whole(redis_server, redis_conn, tmp_path):
    """The exported file in a real browser: three curves a row and the FLOPs bars, each drawn inside its
    own cell, no tick label or title cut off, no axis title over the ticks; a screenshot for a person."""
    store = RunStore(redis_conn)
    lab_id = study_lab(store, "beta", lambda beta, seed: 0.6 + 0.3 * beta, seeds=1, epochs=None)
    html_path = tmp_path / "report.html"
    out = cli(redis_server.url, "report", lab_id, "--html", str(html_path))
    assert out.returncode == 0, out.stderr
    assert "6 of 6 runs finished; beta: not shown by this data" in out.stderr

    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
        page = browser.new_context(offline=True, viewport={"width": 1300, "height": 900}).new_page()
        page.goto(html_path.as_uri())
        page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 4")
        page.wait_for_timeout(300)
        # Probed before the screenshot: a full-page one resizes the window, and plotly redraws on a resize.
        figures = page.evaluate(_LAYOUT_PROBE)
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        page.set_viewport_size({"width": 800, "height": 900})  # narrow: one figure a row, redrawn to fit
        page.wait_for_timeout(800)
        narrow = page.evaluate(_LAYOUT_PROBE)
        browser.close()
    assert len(figures) == 4
    for fig in figures + narrow:
        assert fig["clipped"] == [] and fig["under_title"] == [], fig
        assert not fig["wider"] and fig["overlaps"] == 0, fig
    acc = next(f for f in figures if f["title"] == "Membrane leak beta: test accuracy per epoch")
    assert all(re.fullmatch(r"\d+(\.\d)?%", t) for t in acc["yticks"]) and len(set(acc["yticks"])) == len(acc["yticks"])
    assert acc["yticks"][0] == "50%", acc["yticks"]
