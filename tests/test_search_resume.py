"""A search survives kill -9 of its driver and of a worker; reuses stored configs; obeys stop, extend, resume.

Real redis-server, real `python -m workers` and `python -m workers search-driver` processes."""

from __future__ import annotations

import time

import pytest

from workers import search, submission
from workers.store import RunStatus, RunStore

from bench.procs import wait_for
from tests.jobkit import epochs_of
from tests.searchkit import start_driver, tiny_spec

pytestmark = pytest.mark.timeout(400)


def _no_epoch_twice(store: RunStore, sid: str) -> None:
    trials = store.trials(sid)
    for number, t in trials.items():
        if t["state"] in ("reused", "duplicate"):
            continue
        epochs = epochs_of(store, t["run_id"])
        assert epochs == list(range(1, len(epochs) + 1)), (number, epochs)


def test_a_search_goes_on_after_kill_9_of_its_driver_and_of_a_worker(store, redis_server, workers, tmp_path):
    spec = tiny_spec(budget_epochs=14)
    procs = workers(2)
    driver = start_driver(redis_server.url, tmp_path / "driver.log")
    sid = search.start_search(store.conn, spec)
    try:
        wait_for(lambda: sum(t["state"] != "running" for t in store.trials(sid).values()) >= 2, 120,
                 "two trials to settle")
        driver.kill()  # -9, between events
        driver.wait(10)
        procs[0].kill()  # -9 of a worker too: its run's lease lapses and the other worker's reaper requeues it
        time.sleep(1.0)  # events arrive meanwhile and wait in the stream
        workers(1)
        driver = start_driver(redis_server.url, tmp_path / "driver.log")
        wait_for(lambda: store.get_search(sid)["status"] == "done", 240, "the search to finish", interval=0.5)
    finally:
        driver.kill()
        driver.wait(10)
    trials = store.trials(sid)
    seen = {n: (t["state"], t["reached"], t["note"]) for n, t in trials.items()}
    numbers = sorted(trials)
    assert numbers == list(range(len(numbers)))  # every trial Optuna asked for has its row: none lost
    run_ids = [t["run_id"] for t in trials.values() if t["state"] not in ("reused", "duplicate")]
    assert len(set(run_ids)) == len(run_ids), seen  # no config trained by two trials
    _no_epoch_twice(store, sid)
    view = search.search_view(store, sid)
    assert view.counts["running"] == 0 and view.budget["epochs_used"] <= spec.budget_epochs
    assert all(store.get_run(r).status in (RunStatus.HELD, RunStatus.FINISHED) for r in run_ids), seen
    # The study in Redis (Optuna's journal) holds every trial, told.
    from workers.search_study import open_study

    study = open_study(redis_server.url, store.optuna_prefix(sid), sid, spec)
    assert len(study.trials) == len(numbers) and all(t.state.is_finished() for t in study.trials), (
        [(t.number, t.state.name) for t in study.trials], seen)


def test_a_second_driver_stands_by_and_takes_over_after_kill_9_of_the_first(store, redis_server, workers, tmp_path):
    """Two drivers on one Redis (two stacks, a scaled service) would both advance every search: the second
    stands by, and takes over once the first is killed -9 and its claim lapses; no trial lost or run twice."""
    spec = tiny_spec(budget_epochs=14)
    workers(2)
    first = start_driver(redis_server.url, tmp_path / "first.log")
    wait_for(lambda: store.driver_alive() is not None, 60, "the first driver to claim")
    holder = store.driver_alive()
    second = start_driver(redis_server.url, tmp_path / "second.log")
    try:
        wait_for(lambda: "standing by" in (tmp_path / "second.log").read_text(), 60, "the second to stand by")
        sid = search.start_search(store.conn, spec)
        wait_for(lambda: sum(t["state"] != "running" for t in store.trials(sid).values()) >= 2, 120,
                 "two trials to settle")
        assert store.driver_alive() == holder
        assert "listening for run events" not in (tmp_path / "second.log").read_text()
        first.kill()
        first.wait(10)
        wait_for(lambda: store.driver_alive() not in (None, holder), 60, "the second driver to take over")
        wait_for(lambda: store.get_search(sid)["status"] == "done", 240, "the search to finish", interval=0.5)
    finally:
        for proc in (first, second):
            proc.kill()
            proc.wait(10)
    trials = store.trials(sid)
    assert sorted(trials) == list(range(len(trials)))
    run_ids = [t["run_id"] for t in trials.values() if t["state"] not in ("reused", "duplicate")]
    assert len(set(run_ids)) == len(run_ids)
    _no_epoch_twice(store, sid)
    assert search.search_view(store, sid).budget["epochs_used"] <= spec.budget_epochs


def test_a_stored_config_is_told_not_trained_and_stop_extend_resume(store, redis_server, workers, tmp_path):
    # A one-value space: every trial asks the same config, already trained (finished) once.
    from workers.search_spec import Param

    one = tiny_spec(space=(Param("beta", "choice", choices=(0.7,)),), rungs=(1, 2), budget_epochs=4, max_running=1)
    done = submission.submit_run(store.conn, one.to_config({"beta": 0.7})).record
    workers(1)
    wait_for(lambda: store.get_run(done.id).status is RunStatus.FINISHED, 90, "the stored run")
    driver = start_driver(redis_server.url, tmp_path / "driver.log")
    try:
        sid = search.start_search(store.conn, one)
        wait_for(lambda: store.get_search(sid)["status"] == "done", 90, "the reuse search")
        trials = store.trials(sid)
        assert trials[0]["state"] == "reused" and trials[0]["run_id"] == done.id
        assert search.search_view(store, sid).budget["epochs_used"] == 0
        assert epochs_of(store, done.id) == [1, 2]  # not trained again
        assert store.count_runs() == 1

        # Stop, extend, resume on a search with a real space; start_from seeds it with the stored run.
        sid2 = search.start_search(store.conn, tiny_spec(rungs=(1, 2), budget_epochs=3, max_running=1,
                                                         space=(Param("beta", "float", 0.5, 0.95),),
                                                         start_from=(done.id,)))
        wait_for(lambda: any(t["state"] == "running" for t in store.trials(sid2).values()), 60, "a running trial")
        search.stop_search(store.conn, sid2)
        wait_for(lambda: store.get_search(sid2)["status"] == "stopped", 90, "the search to stop")
        trials = store.trials(sid2)
        assert trials[0]["state"] == "reused" and trials[0]["note"] == "start_from"
        assert not any(t["state"] == "running" for t in trials.values())
        search.extend_search(store.conn, sid2, epochs=2)
        search.resume_search(store.conn, sid2)
        wait_for(lambda: store.get_search(sid2)["status"] == "done", 120, "the resumed search to finish")
        view = search.search_view(store, sid2)
        assert view.budget["epochs_limit"] == 5 and view.budget["epochs_used"] <= 5
        assert view.budget["epochs_used"] > 1  # it trained after the resume
    finally:
        driver.kill()
        driver.wait(10)
    with pytest.raises(ValueError, match="search id must look like"):
        search.stop_search(store.conn, "nope")
    with pytest.raises(ValueError, match="extend by epochs and/or seconds > 0"):
        search.extend_search(store.conn, sid2)
