"""The Lab report page and the Launch page's Lab studies section, under AppTest against a real Redis."""

from __future__ import annotations

from tests.labkit import loss_lab, study_lab
from tests.pagekit import figure, page, texts, widget
from workers import connection, packing
from workers.store import RunStatus


def test_report_shows_plots_table_verdict_and_flops_of_stored_runs(store):
    lab_id = loss_lab(store, ce_acc=0.84, mse_acc=0.80)
    at = page("pages/report.py", lab=lab_id)
    shown = texts(at)
    assert "4 of 4 runs finished" in shown
    assert "> The lab: Cross-entropy beats MSE by about 3 points." in shown and "**Verdict: holds**" in shown
    claims = at.dataframe[1].value
    assert claims.loc[0, "verdict"] == "holds" and claims.loc[0, "numbers"].startswith("+4.00 +- 0.00 pts")
    acc = figure(at, "Loss function: test accuracy per epoch")
    assert [t["name"] for t in acc["data"] if t.get("showlegend", True) is not False] == ["mse", "ce"]
    assert acc["layout"]["legend"]["title"]["text"] == "loss (mean of 2 seeds, min-max band)"
    table = at.dataframe[2].value
    assert list(table["loss"]) == ["mse", "ce"] and table.loc[1, "final test acc (mean +- sd)"] == "84.05 +- 0.07 %"
    flops = at.dataframe[-1].value
    assert len(flops) == 4 and set(flops["T"]) == {"50"}
    assert flops.loc[0, "ANN energy nJ"] == f"{7940 * 4.6 / 1000:.2f}"
    at.number_input(key="rep_mac_pj").set_value(9.2).run()
    assert at.dataframe[-1].value.loc[0, "ANN energy nJ"] == f"{7940 * 9.2 / 1000:.2f}"


def test_the_verdict_follows_the_stored_runs(store):
    worse = loss_lab(store, ce_acc=0.78, mse_acc=0.80)
    at = page("pages/report.py", lab=worse)
    assert "**Verdict: does not hold**" in texts(at)
    assert "The lab ran each setting once" in texts(at)  # what in the setup could explain it


def test_while_runs_train_the_report_follows_them_and_polls_statuses_only(store):
    from workers import labs

    lab_id = loss_lab(store, ce_acc=0.84, mse_acc=0.80)
    run_id = store.get_sweep(store.get_lab(lab_id)["studies"]["loss"])["run_ids"][0]
    store.set_status(run_id, RunStatus.RUNNING)
    assert labs.lab_statuses(store, lab_id) == labs.lab_progress(labs.lab_data(store, lab_id)) == \
        {"running": 1, "finished": 3}
    at = page("pages/report.py", lab=lab_id)
    assert not at.exception and "3 of 4 runs finished (1 running)" in texts(at)
    assert "The report updates by itself as runs finish." in texts(at)
    store.set_status(run_id, RunStatus.FINISHED)
    at.run()  # what the 5 s poll's rerun does
    assert "4 of 4 runs finished" in texts(at) and "updates by itself" not in texts(at)


def test_a_one_seed_lab_says_under_each_verdict_why_there_is_none(store):
    lab_id = study_lab(store, "loss", lambda loss, seed: 0.8, seeds=1)
    at = page("pages/report.py", lab=lab_id)
    assert "1 seed per setting; the lab's settings. 2 of 2 runs finished." in texts(at)
    assert "**Verdict: not shown by this data** (from 2 finished of 2 runs)" in texts(at)
    why, flops_why = [w.value for w in at.warning]  # under the study's verdict, under the FLOPs verdict
    assert flops_why.startswith("The FLOPs claim reads the runs at the sweep base")
    assert why.startswith("Verdicts need finished runs of at least 2 seeds") and "--study loss --seeds 3" in why
    assert f"Loss function: {why}" in texts(at)  # under the summary table too


def test_report_without_a_lab_says_how_to_launch_one(store):
    at = page("pages/report.py")
    assert "No lab launch yet" in at.info[0].value


def test_launch_lab_studies_plans_then_launches_one_study(store, redis_conn):
    at = page("pages/launch.py")
    plan = at.dataframe[0].value.set_index("study")
    assert plan.loc["Loss function", "runs"] == 6 and plan.loc["Membrane leak beta", "runs"] == 18
    assert plan.loc["Loss function", "already stored"] == 0
    assert "93 runs in 7 studies" in texts(at) and "75 distinct" in texts(at)
    widget(at, "button", "lab_launch_loss").click().run()
    assert not at.exception
    (lab,) = store.list_labs()
    assert list(lab["studies"]) == ["loss"] and lab["seeds"] == 3
    sweep = store.get_sweep(lab["studies"]["loss"])
    runs = [store.get_run(i) for i in sweep["run_ids"]]
    assert sorted((r.config["loss"], r.config["seed"]) for r in runs) == \
        [("ce", 0), ("ce", 1), ("ce", 2), ("mse", 0), ("mse", 1), ("mse", 2)]
    assert all(r.status is RunStatus.QUEUED and r.config["T"] == 50 for r in runs)
    assert f"Lab **{lab['id']}** launched" in texts(at)
    jobs = packing.plan_jobs([r.run_config() for r in runs])
    assert connection.queue(redis_conn).count == len(jobs) < 6  # packed, as submit_sweep packs a sweep
    assert at.dataframe[0].value.set_index("study").loc["Loss function", "already stored"] == 6
