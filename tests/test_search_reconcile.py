"""The driver's crash windows, made on purpose in-process (real redis-server, no workers): a trial Optuna
asked that was never recorded, and one recorded as ended that was never told. A new driver settles both."""

from __future__ import annotations

from workers import search
from workers.search_driver import Driver
from workers.search_study import distributions, open_study
from workers.store import RunStatus

from tests.searchkit import tiny_spec


def test_a_new_driver_records_what_was_asked_and_tells_what_was_recorded(store, redis_server):
    spec = tiny_spec(max_running=2)
    sid = search.start_search(store.conn, spec)
    first = Driver(store.conn, redis_server.url)
    store.ensure_driver_group()
    first.handle(store.read_driver_entries("driver", 100))  # the start: two trials asked, their runs queued
    trials = store.trials(sid)
    assert sorted(trials) == [0, 1] and all(t["state"] == "running" for t in trials.values())
    assert all(store.get_run(t["run_id"]).status is RunStatus.QUEUED and store.get_run(t["run_id"]).hold_at == 1
               for t in trials.values())

    study = open_study(redis_server.url, store.optuna_prefix(sid), sid, spec)
    orphan = study.ask(distributions(spec))  # the driver died right after asking
    row = trials[1]
    row.update(state="failed", note="planted")  # ... or after recording a trial's end, before telling it
    store.put_trial(sid, 1, row)

    Driver(store.conn, redis_server.url).reconcile(sid)
    trials = store.trials(sid)
    assert trials[orphan.number]["state"] == "running" and trials[orphan.number]["params"] == orphan.params
    assert store.get_run(trials[orphan.number]["run_id"]).status is RunStatus.QUEUED
    states = {t.number: t.state.name for t in open_study(redis_server.url, store.optuna_prefix(sid), sid, spec).trials}
    assert states[1] == "FAIL" and states[0] == "RUNNING" and states[orphan.number] == "RUNNING"
    # The queued runs' jobs exist (the first driver queued them; the orphan's was queued now): none twice.
    from workers.connection import queue

    q = queue(store.conn)
    job_ids = q.get_job_ids()
    for t in trials.values():
        if t["state"] == "running":
            record = store.get_run(t["run_id"])
            assert (record.pack_job or record.id) in job_ids
    assert len(job_ids) == len(set(job_ids))


def test_a_foreign_writers_garbage_fails_only_what_it_broke_and_the_driver_goes_on(store, redis_server):
    """Something else writing the Redis: a malformed run event, a malformed control entry, a search
    whose spec is not JSON, a search record with an unparsable field. The driver skips what it cannot
    read, fails the search it cannot run (the reason on its record), and drives the others."""
    from workers.keys import Keys
    from workers import search_report

    spec = tiny_spec(max_running=1)
    good = search.start_search(store.conn, spec)
    bad = search.start_search(store.conn, spec)
    store.conn.hset(Keys.search(bad), "spec", "{not json")
    driver = Driver(store.conn, redis_server.url)
    store.ensure_driver_group()
    driver.handle(store.read_driver_entries("driver", 100))
    assert store.get_search(bad)["status"] == "failed"
    assert "search spec is not valid JSON" in store.get_search(bad)["error"]
    trials = store.trials(good)
    assert store.get_search(good)["status"] == "running" and [t["state"] for t in trials.values()] == ["running"]

    run_id = trials[0]["run_id"]
    store.conn.xadd(Keys.events, {"run_id": run_id, "kind": "epoch", "epoch": "many", "status": "running"})
    store.conn.xadd(Keys.events, {"junk": "1"})
    store.conn.xadd(Keys.search_control, {"search_id": good, "action": "extend", "epochs": "lots"})
    driver.handle(store.read_driver_entries("driver", 100))  # skipped, logged: nothing raised
    assert store.get_search(good)["status"] == "running" and store.get_search(good)["extra_epochs"] == 0
    assert store.conn.xpending(Keys.events, "search-driver")["pending"] == 0  # acknowledged, not redelivered

    third = search.start_search(store.conn, spec)
    store.conn.hset(Keys.search(third), "created_at", "yesterday")
    record = store.get_search(third)
    assert record["status"] == "failed" and "search record unreadable" in record["error"]
    labels = dict(search_report.search_choices(store))
    assert labels[bad].startswith(f"{bad} · cannot be shown: search spec is not valid JSON")
    assert good in labels and third in labels


def test_a_trial_whose_config_is_a_run_training_now_follows_that_run_to_its_end(store, redis_server):
    """A trial Optuna asks whose config is someone's run already training (same hash) is not a dead
    duplicate: the trial follows that run, imposes no hold on it, queues nothing, and is told its result."""
    from tests.pagekit import epoch_metrics, stored_run

    spec = tiny_spec(max_running=1, rungs=(1, 2, 4), budget_epochs=40)
    sid = search.start_search(store.conn, spec)
    store.ensure_driver_group()
    driver = Driver(store.conn, redis_server.url)
    trial = driver.study(sid, spec).ask(distributions(spec))
    users = stored_run(store, spec.to_config(trial.params), accs=(0.6,), status=RunStatus.RUNNING)
    driver.submit(sid, spec, trial.number, trial.params)
    driver.flush()
    row = store.trials(sid)[trial.number]
    assert (row["state"], row["run_id"], row["hold"], row["start_epochs"]) == ("running", users, 4, 1), row
    assert "follows run" in row["note"]
    assert store.get_run(users).hold_at == 0, "a hold was imposed on a run the search did not start"
    from workers.connection import queue

    assert queue(store.conn).get_job_ids() == [], "the followed run was queued to train a second time"

    for epoch, acc in ((2, 0.7), (3, 0.75), (4, 0.8)):  # the user's run trains on to its end
        store.append_metric(users, "epoch", epoch_metrics(epoch, acc))
    store.set_status(users, RunStatus.FINISHED, finished_at=store.get_run(users).started_at + 60)
    driver.handle(store.read_driver_entries("driver", 100))
    row = store.trials(sid)[trial.number]
    assert (row["state"], row["epochs"], row["rungs"]["last"]) == ("finished", 4, [0.8]), row
    told = open_study(redis_server.url, store.optuna_prefix(sid), sid, spec).trials[trial.number]
    assert told.state.name == "COMPLETE" and told.values == [0.8]
