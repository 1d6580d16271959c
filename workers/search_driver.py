"""The search driver (`python -m workers search-driver`): runs every active search, training nothing.

It blocks on the run-events stream and the search-control stream through one consumer group
(`XREADGROUP ... BLOCK`), so it never polls runs, and a driver killed at any moment picks up at the
first entry it had not acknowledged (entries are acknowledged after they are handled; handling
is idempotent). At start it reconciles each active search from the records once: trials whose run
ended while no driver ran, runs registered but not queued, Optuna trials asked but not recorded.

Per search (state in Redis: `workers.store_search`; the study: `workers.search_study`):

- New trials: asked from Optuna while fewer than `max_running` run and the budget allows a first
  rung; each becomes a run trained to the last rung with `hold_at` = the first rung. A config
  already stored finished (same hash) is told from its record, costing no budget; runs asked in
  one round that are packable train as one packed job (`submission.enqueue_new`).
- A run held at rung r: promoted (`search_asha.promotes`) if the budget allows the next rung, its
  `hold_at` raised and requeued (it resumes from its checkpoint at epoch r); else stopped early and
  told. A finished run is told its final values; a failed or cancelled one FAIL.
- Budget: epochs trained by the search's trials (each counted once, from the epoch events) plus
  epochs promised to running trials, and wall seconds while running. The search is done when no
  trial runs and no new one fits.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from typing import Any

import redis

from .keys import Keys
from .search import budget_state, fits as _fits
from .search_asha import promotes, rank_order, top_k
from .search_spec import SearchSpec
from .store_search import SEARCH_ID
from .search_study import add_known, distributions, open_study, rung_values, tell
from .connection import queue
from .search_claim import driver_ttl, keep_claim, wait_for_turn
from .submission import enqueue_new
from .store import RunRecord, RunStatus, RunStore

log = logging.getLogger(__name__)

__all__ = ["Driver", "main"]

ENDED = {RunStatus.FINISHED: "finished", RunStatus.FAILED: "failed", RunStatus.CANCELLED: "failed",
         RunStatus.STOPPED: "failed"}
LIVE_JOB = {"queued", "started", "deferred", "scheduled"}
CONSUMER = "driver"


class Driver:
    def __init__(self, conn: redis.Redis, url: str, name: str | None = None, block_ms: int = 1000):
        self.conn, self.url, self.store = conn, url, RunStore(conn)
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        # One consumer name for every driver: a restarted one is handed what its predecessor had not
        # acknowledged (one driver per Redis; the live one's name is in `Keys.search_driver`).
        self.consumer = CONSUMER
        self.block_ms = block_ms
        self.ttl = driver_ttl()
        self.studies: dict[str, Any] = {}
        self.to_queue: list[RunRecord] = []

    # -- the loop ------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        """Drive every active search until `stop`: standing by while another driver holds the claim
        (`RunStore.claim_driver`), and back to standing by if the claim is ever lost."""
        stop = stop or threading.Event()
        self.store.ensure_driver_group()
        while not stop.is_set():
            if wait_for_turn(self.store, self.name, self.ttl, stop):
                self._drive(stop)

    def _drive(self, stop: threading.Event) -> None:
        lost = threading.Event()
        keeper = threading.Thread(target=keep_claim, args=(self.store, self.name, self.ttl, lost),
                                  name="driver-claim", daemon=True)
        keeper.start()
        try:
            self.studies, self.to_queue = {}, []  # what another driver did meanwhile is read afresh
            for search in self.store.list_searches():
                if search["status"] in ("running", "stopping"):
                    self._guarded(search["id"], self.reconcile)
            self.handle(self.store.read_driver_entries(self.consumer, 0, pending=True))
            log.info("search driver %s: listening for run events", self.name)
            while not stop.is_set() and not lost.is_set():
                entries = self.store.read_driver_entries(self.consumer, self.block_ms)
                if lost.is_set():
                    break  # left unacknowledged: the driver that holds the claim now handles them
                self.handle(entries)
                if not entries:  # a quiet moment: wall-time budgets still run out
                    for search in self.store.list_searches():
                        if search["status"] in ("running", "stopping"):
                            self._guarded(search["id"], self.advance)
        finally:
            done = lost.is_set()
            lost.set()
            keeper.join()
            if not done:
                self.store.release_driver(self.name)
        if done and not stop.is_set():
            log.error("search driver %s: lost its claim (stalled past %.0f s?); standing by", self.name, self.ttl)

    def handle(self, entries: list[tuple[str, str, dict[str, str]]]) -> None:
        touched: list[str] = []
        for stream, _, body in entries:
            try:
                sid = self.control(body) if stream == Keys.search_control else self.on_event(body)
            except redis.ConnectionError:
                raise  # `main` starts over; the entry stays unacknowledged and comes again
            except Exception as exc:  # a malformed entry (a foreign writer): skipped, never a crash loop
                log.exception("search driver: skipping an entry it cannot handle: %s", str(body)[:300])
                if stream == Keys.search_control and SEARCH_ID.fullmatch(str(body.get("search_id", ""))):
                    self._guarded(body["search_id"], self._load)  # fails the search only if it is unreadable
                continue
            if sid and sid not in touched:
                touched.append(sid)
        for sid in touched:
            self._guarded(sid, self.advance)
        if entries:
            self.store.ack_driver_entries(entries)

    def _guarded(self, sid: str, step) -> None:
        """`step(sid)`; an error other than Redis going away fails that search (its error shown on its
        page) instead of killing the driver, which would stop every other search and the stack."""
        try:
            step(sid)
        except redis.ConnectionError:
            raise
        except Exception as exc:
            log.exception("search %s: failed in the driver", sid)
            self._fail(sid, exc)

    def _fail(self, sid: str, exc: Exception) -> None:
        self.studies.pop(sid, None)
        try:
            self.store.set_search_fields(sid, status="failed", running_since=None, finished_at=time.time(),
                                         error=f"driver: {type(exc).__name__}: {exc}"[:500])
        except Exception:  # a record too broken to write to: logged above, left as it is
            log.exception("search %s: could not record the failure", sid)

    # -- per search ----------------------------------------------------------------------

    def _load(self, sid: str) -> tuple[dict[str, Any], SearchSpec] | None:
        search = self.store.get_search(sid)
        return (search, SearchSpec.from_json(search["spec"])) if search is not None else None

    def study(self, sid: str, spec: SearchSpec):
        if sid not in self.studies:
            self.studies[sid] = open_study(self.url, self.store.optuna_prefix(sid), sid, spec)
        return self.studies[sid]

    def control(self, body: dict[str, str]) -> str | None:
        sid, action = body.get("search_id", ""), body.get("action", "")
        loaded = self._load(sid)
        if loaded is None:
            log.warning("search control for unknown search %r ignored", sid)
            return None
        search, spec = loaded
        now = time.time()
        if action == "start" and not search["seeded"]:
            self.seed(sid, spec)
        elif action == "stop" and search["status"] == "running":
            self.store.set_search_fields(sid, status="stopping")
        elif action == "extend":
            self.store.set_search_fields(sid, extra_epochs=search["extra_epochs"] + int(body.get("epochs", 0)),
                                         extra_seconds=search["extra_seconds"] + float(body.get("seconds", 0)))
            if search["status"] in ("done", "stopped"):
                self.store.set_search_fields(sid, status="running", running_since=now, finished_at=None)
        elif action == "resume" and search["status"] in ("stopping", "stopped", "done"):
            self.store.set_search_fields(sid, status="running", finished_at=None,
                                         running_since=search["running_since"] or now)
            for number, row in self.store.trials(sid).items():
                if row["state"] == "held":
                    self.decide(sid, spec, number)
        return sid

    def seed(self, sid: str, spec: SearchSpec) -> None:
        """Tell the study the finished runs of `start_from` (run ids, sweep ids) that lie in the space."""
        study = self.study(sid, spec)
        run_ids: list[str] = []
        for ref in spec.start_from:
            sweep = self.store.get_sweep(ref) if ref.startswith("s") else None
            run_ids += sweep["run_ids"] if sweep else [ref]
        for run_id in dict.fromkeys(run_ids):
            record = self.store.get_run(run_id) if len(run_id) == 12 else None
            params = spec.params_of(record.config) if record and record.status is RunStatus.FINISHED else None
            history = self.store.epoch_history(run_id) if params is not None else []
            if not history:
                continue
            number = add_known(study, spec, params, history, record.config)
            self.store.put_trial(sid, number, {
                "number": number, "run_id": run_id, "state": "reused", "params": params, "hold": 0,
                "epochs": 0, "start_epochs": 0, "rungs": rung_values(spec, record.config, history),
                "reached": len(history), "created_at": time.time(), "ended_at": time.time(), "note": "start_from"})
        self.store.set_search_fields(sid, seeded="1")

    def on_event(self, event: dict[str, str]) -> str | None:
        found = self.store.trial_of_run(event.get("run_id", ""))
        if found is None:
            return None
        sid, number = found
        loaded = self._load(sid)
        if loaded is None:
            return None
        search, spec = loaded
        row = self.store.trials(sid).get(number)
        if row is None or row["run_id"] != event["run_id"] or row["state"] != "running":
            return sid  # an event of a trial already settled (a redelivery after a restart)
        kind = event.get("kind")
        if kind == "epoch":
            row["epochs"] = max(row.get("epochs", 0), int(event.get("epoch", 0)))
            self.store.put_trial(sid, number, row)
        elif kind in ("held", "finished", "failed", "cancelled", "stopped"):
            self.settle(sid, spec, number, row, search)
        return sid

    def settle(self, sid: str, spec: SearchSpec, number: int, row: dict[str, Any], search: dict[str, Any]) -> None:
        """A trial's run reached its hold or ended: record its rung values, then promote, stop or tell."""
        record = self.store.get_run(row["run_id"])
        if record is None:
            row.update(state="failed", ended_at=time.time(), note="its run was deleted")
            self.store.put_trial(sid, number, row)
            tell(self.study(sid, spec), number, spec, [], {}, "failed")
            return
        history = self.store.epoch_history(record.id)
        row.update(epochs=max(row.get("epochs", 0), len(history)), reached=len(history),
                   rungs=rung_values(spec, record.config, history))
        if record.status is RunStatus.HELD:
            row["state"] = "held"
            self.store.put_trial(sid, number, row)
            if search["status"] == "running":
                self.decide(sid, spec, number)
            return
        state = ENDED.get(record.status)
        if state is None:
            return  # still queued or running (an event older than a requeue)
        row.update(state=state, ended_at=time.time(), note=record.error[:200] if state == "failed" else "")
        self.store.put_trial(sid, number, row)
        tell(self.study(sid, spec), number, spec, history, record.config, state)

    def decide(self, sid: str, spec: SearchSpec, number: int) -> None:
        """ASHA at the rung trial `number` is held at: promote it (if the budget allows) or stop it."""
        search, _ = self._load(sid)
        trials = self.store.trials(sid)
        row = trials[number]
        reached = row["reached"]
        rung = str(reached)
        results = [(n, tuple(t["rungs"][rung])) for n, t in trials.items() if rung in t.get("rungs", {})]
        later = [r for r in spec.rungs if r > reached]
        go_on = bool(later) and promotes(number, results, spec.eta)
        budget = budget_state(spec, search, trials)
        fits_budget = _fits(budget, later[0] - reached) if later else False
        # What the rule saw, kept with the trial: the page shows it, and tests check each decision by it.
        row.setdefault("decisions", []).append({
            "rung": reached, "rank": rank_order(results).index(number), "of": len(results),
            "k": top_k(len(results), spec.eta), "promoted": go_on and fits_budget})
        if go_on and fits_budget:
            hold = later[0] if later[0] < spec.rungs[-1] else 0
            row.update(state="running", hold=later[0])
            self.store.put_trial(sid, number, row)
            self.store.set_status(row["run_id"], RunStatus.QUEUED, hold_at=hold, pack_job="")
            self.to_queue.append(self.store.require_run(row["run_id"]))
            return
        row.update(state="stopped", ended_at=time.time(), note="budget" if go_on else f"not in the top 1/{spec.eta}")
        self.store.put_trial(sid, number, row)
        record = self.store.require_run(row["run_id"])
        tell(self.study(sid, spec), number, spec, self.store.epoch_history(record.id), record.config, "stopped")

    def advance(self, sid: str) -> None:
        """Start trials while the budget and max_running allow; close the search when nothing is left."""
        loaded = self._load(sid)
        if loaded is None:
            return  # deleted meanwhile
        search, spec = loaded
        if search["status"] == "running":
            study = self.study(sid, spec)
            for _ in range(spec.max_running + 20):  # reused configs cost nothing: a few more asks at most
                trials = self.store.trials(sid)
                running = sum(t["state"] == "running" for t in trials.values())
                if running >= spec.max_running or not _fits(budget_state(spec, search, trials), spec.rungs[0]):
                    break
                trial = study.ask(distributions(spec))
                self.submit(sid, spec, trial.number, trial.params)
        self.flush()
        trials = self.store.trials(sid)
        if search["status"] in ("running", "stopping") and not any(t["state"] == "running" for t in trials.values()):
            self.close(sid, spec, search, trials)

    def submit(self, sid: str, spec: SearchSpec, number: int, params: dict[str, Any]) -> None:
        config = spec.to_config(params)
        record, created = self.store.create_or_reuse(config)
        row = {"number": number, "run_id": record.id, "state": "running", "params": params, "hold": spec.rungs[0],
               "epochs": 0, "start_epochs": 0, "rungs": {}, "reached": 0, "created_at": time.time(),
               "ended_at": None, "note": ""}
        owner = self.store.trial_of_run(record.id)
        if created or (owner is None and record.status is RunStatus.QUEUED):
            self.store.set_fields(record.id, hold_at=spec.rungs[0] if len(spec.rungs) > 1 else 0)
            self.store.put_trial(sid, number, row, run_id=record.id)
            self.to_queue.append(self.store.require_run(record.id))
            return
        if record.status is RunStatus.FINISHED:  # trained before: told from its record, no budget spent
            history = self.store.epoch_history(record.id)
            row.update(state="reused", hold=0, reached=len(history), rungs=rung_values(spec, record.config, history),
                       ended_at=time.time(), note="config already trained")
            self.store.put_trial(sid, number, row)
            tell(self.study(sid, spec), number, spec, history, record.config, "finished")
            return
        if owner is None and record.status in (RunStatus.RUNNING, RunStatus.INTERRUPTED):
            # Someone's run of this very config is training now: the trial follows it to its end (no hold
            # is imposed on a run the search did not start), and is told its values when it finishes.
            done = len(self.store.epoch_history(record.id))
            row.update(hold=spec.rungs[-1], epochs=done, start_epochs=done, note=f"follows run {record.id}, "
                       "already training (same config)")
            self.store.put_trial(sid, number, row, run_id=record.id)
            return
        row.update(state="duplicate", hold=0, ended_at=time.time(),
                   note=f"same config as run {record.id} ({record.status.value})")
        self.store.put_trial(sid, number, row)
        tell(self.study(sid, spec), number, spec, [], {}, "failed")

    def flush(self) -> None:
        if self.to_queue:
            # One record per run: a run decided twice in one round (a redelivered event) is queued once.
            records = list({r.id: r for r in self.to_queue}.values())
            self.to_queue = []
            enqueue_new(self.conn, records, packed=True)

    def close(self, sid: str, spec: SearchSpec, search: dict[str, Any], trials: dict[int, dict[str, Any]]) -> None:
        """No trial runs: a stopping search is stopped; a running one is done if no new trial fits."""
        now = time.time()
        wall = budget_state(spec, search, trials, now)["wall_used"]
        if search["status"] == "stopping":
            self.store.set_search_fields(sid, status="stopped", wall_used=wall, running_since=None)
            return
        for number, row in trials.items():
            if row["state"] == "held":  # waiting since a stop; the search ends now: stopped early
                self.decide(sid, spec, number)
        if any(t["state"] == "running" for t in self.store.trials(sid).values()):
            self.flush()
            return
        self.store.set_search_fields(sid, status="done", wall_used=wall, running_since=None, finished_at=now)
        log.info("search %s done: %s", sid, budget_state(spec, self.store.get_search(sid), self.store.trials(sid)))

    def reconcile(self, sid: str) -> None:
        """Once at start: settle what happened while no driver ran, queue what was never queued."""
        loaded = self._load(sid)
        if loaded is None:
            return
        search, spec = loaded
        if not search["seeded"]:
            self.seed(sid, spec)
        study = self.study(sid, spec)
        trials = self.store.trials(sid)
        for frozen in study.get_trials(deepcopy=False):
            if frozen.state.is_finished():
                continue
            row = trials.get(frozen.number)
            if row is None:  # asked, then the driver died before recording it
                self.submit(sid, spec, frozen.number, frozen.params)
            elif row["state"] not in ("running", "held"):  # recorded as ended, then it died before telling
                record = self.store.get_run(row["run_id"])
                ended = "failed" if row["state"] in ("failed", "duplicate") or record is None else row["state"]
                tell(study, frozen.number, spec, self.store.epoch_history(record.id) if record else [],
                     record.config if record else {}, "stopped" if ended == "stopped" else ended)
        for number, row in self.store.trials(sid).items():
            if row["state"] != "running":
                continue
            record = self.store.get_run(row["run_id"])
            if record is not None and record.status is RunStatus.QUEUED and not self._job_live(record):
                self.to_queue.append(record)
            elif record is None or record.status in ENDED or record.status is RunStatus.HELD:
                self.settle(sid, spec, number, row, search)
            else:
                row["epochs"] = max(row.get("epochs", 0), len(self.store.epoch_history(record.id)))
                self.store.put_trial(sid, number, row)
        self.advance(sid)

    def _job_live(self, record: RunRecord) -> bool:
        job = queue(self.conn).fetch_job(record.pack_job or record.id)
        return job is not None and job.get_status(refresh=True).value in LIVE_JOB


def main(url: str, name: str | None = None) -> None:
    """Run the driver for good. Optuna's journal has its own (impatient) connection: when Redis goes
    away mid-handling, start over (reconciling), rather than exit and have honcho stop the stack."""
    from .connection import connect

    while True:
        try:
            Driver(connect(url, patient=True), url, name).run()
            return
        except redis.ConnectionError as exc:
            log.warning("search driver: Redis went away (%s); starting over in 2 s", exc)
            time.sleep(2.0)

