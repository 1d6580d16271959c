"""A search in a real browser: set one up in the Launch page's Search section, start it, and watch it
on the Search page while a real worker and a real search driver run it to the end of its budget."""

from __future__ import annotations

import re
import time

import pytest

from tests.searchkit import start_driver
from tests.test_e2e import CHROMIUM, browser_page, set_number, shot, stack  # noqa: F401 (fixtures)

pytestmark = [pytest.mark.timeout(300),
              pytest.mark.skipif(not __import__("pathlib").Path(CHROMIUM).exists(), reason="needs Debian chromium")]


def fill(page, label: str, value: str) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(value)
    box.press("Enter")
    page.wait_for_timeout(400)


def test_a_search_from_the_launch_page_runs_to_its_budget_on_the_search_page(stack, browser_page, tmp_path):
    from playwright.sync_api import expect

    from workers import connection
    from workers.search_spec import SearchSpec
    from workers.store import RunStore

    url, redis_url, start_worker = stack
    page = browser_page
    store = RunStore(connection.connect(redis_url))
    page.goto(url + "/flops")  # a first deep link holds app.py's navigation (see tests/test_e2e.py)
    page.get_by_text("78,750").wait_for()
    page.goto(url + "/")
    page.get_by_text("Launch a training run").wait_for()
    page.get_by_text("Advanced: data limits").click()
    set_number(page, "Train samples (0 = all)", 400)
    set_number(page, "Test samples (0 = all)", 200)
    page.get_by_text("Search: let Optuna pick").click()
    page.get_by_text("search beta (membrane leak)", exact=True).click()
    page.wait_for_timeout(800)
    fill(page, "beta low", "abc")
    page.get_by_text("beta low must be a number, got 'abc'").wait_for()
    assert page.get_by_role("button", name="Start search").count() == 0
    fill(page, "beta low", "0.6")
    fill(page, "Budget: total epochs (0 = no epoch limit)", "4")
    fill(page, "Rungs (epochs)", "1,2")
    fill(page, "Keep the top 1/eta at each rung: eta", "2")
    page.get_by_text("4 epochs in all (at most 4 trials to rung 1, or 2 trained all the way)").wait_for()
    page.get_by_role("button", name="Start search").click()
    page.get_by_text("Started search").wait_for()
    (search,) = store.list_searches()
    spec = SearchSpec.from_json(search["spec"])
    assert (spec.space[0].low, spec.budget_epochs, spec.rungs, spec.base.train_limit) == (0.6, 4, (1, 2), 400)

    page.get_by_role("link", name=f"Watch search {search['id']}").click()
    page.get_by_text("No search driver is running").wait_for()
    driver = start_driver(redis_url, tmp_path / "driver.log")
    try:
        start_worker()
        deadline = time.monotonic() + 200
        while store.get_search(search["id"])["status"] != "done":
            assert time.monotonic() < deadline, (tmp_path / "driver.log").read_text()[-2000:]
            time.sleep(0.5)
        # The page's fragment notices by itself: the status, the counts and the charts follow.
        page.locator('[data-testid="stMetricValue"]', has_text="done").wait_for(timeout=30_000)
        page.get_by_text("Best so far").wait_for()
        picker = page.get_by_role("combobox", name="Search (newest first)")
        expect(picker).to_have_value(re.compile(f"^{search['id']} · done · accuracy · best "))  # the label follows
        page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot').length >= 2", timeout=30_000)
        assert page.get_by_text("No search driver is running").count() == 0
        shot(page, "search")
    finally:
        driver.kill()
        driver.wait(10)
    trials = store.trials(search["id"])
    assert sum(t["epochs"] for t in trials.values()) == 4  # the budget, spent exactly
    assert {t["state"] for t in trials.values()} <= {"finished", "stopped"}
    finished = sum(t["state"] == "finished" for t in trials.values())
    shown = page.locator('[data-testid="stMetric"]', has_text="finished").locator('[data-testid="stMetricValue"]')
    expect(shown.first).to_have_text(str(finished))  # retried: a fragment rerun may be drawing it
