"""The store's run-events stream and search records (issue 18); a part of `workers.store.RunStore`.

Run events: one capped stream (`Keys.events`). A worker's epoch entry, and every status write to
finished, failed, cancelled, stopped or held, appends an event in the same fenced script (or
MULTI/EXEC) as the write it reports, so an event exists if and only if that write happened. The
search driver consumes it through a consumer group, so a restarted driver picks up at the first
event it had not acknowledged, and never polls runs.

Searches: `search:{id}` (hash: spec JSON, status, created_at, wall seconds used, extra budget,
error), `search:{id}:trials` (hash: trial number -> JSON row), `searches` (zset), `search:runs`
(hash: run id -> "search id:trial number") and `search:control` (stream of start/stop/extend/
resume requests for the driver). The Optuna study's journal lives under `Keys.search_optuna(id)`.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import redis

from .keys import Keys, new_id as _new_id, text as _text

__all__ = ["SearchStore", "event_command", "EVENTS_MAXLEN", "SEARCH_ID", "SEARCH_STATUSES", "CONTROL_ACTIONS",
           "DRIVER_GROUP"]

_CLAIM_LUA = """
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
"""
_RELEASE_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
"""

EVENTS_MAXLEN = 100_000  # run events kept (MAXLEN ~): days of epochs; a driver that was away longer reconciles
SEARCH_ID = re.compile(r"x[0-9a-f]{12}")  # what `create_search` makes; an id from outside must match it
SEARCH_STATUSES = ("running", "stopping", "stopped", "done", "failed")
CONTROL_ACTIONS = ("start", "stop", "extend", "resume")
DRIVER_GROUP = "search-driver"  # the consumer group of the driver on the events and control streams


def event_command(run_id: str, kind: str, epoch: int, status: str) -> tuple:
    """The XADD of one run event, to go into the same script or transaction as the write it reports."""
    return ("XADD", Keys.events, "MAXLEN", "~", EVENTS_MAXLEN, "*", "run_id", run_id, "kind", kind,
            "epoch", str(int(epoch)), "status", status)


def check_search_id(search_id: Any) -> str:
    if not isinstance(search_id, str) or not SEARCH_ID.fullmatch(search_id):
        raise ValueError(f"search id must look like x + 12 hex digits, got {str(search_id)[:80]!r}")
    return search_id


def _decode(body: dict) -> dict[str, str]:
    return {_text(k): _text(v) for k, v in body.items()}


class SearchStore:
    """Run events and search records; a part of `RunStore` (on `self.conn`)."""

    conn: redis.Redis

    # -- run events ------------------------------------------------------------------

    def read_events(self, after: str = "0-0", count: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Events strictly after the id `after`, oldest first: (entry id, {run_id, kind, epoch, status})."""
        rows = self.conn.xrange(Keys.events, min=f"({after}" if after != "0-0" else "-", count=count)
        out = []
        for eid, body in rows:
            data = _decode(body)
            out.append((_text(eid), {**data, "epoch": int(data.get("epoch", 0))}))
        return out

    def ensure_driver_group(self) -> None:
        """The driver's consumer group on the events and control streams, made once: on the control stream
        from its start (requests made before any driver ran still count, once), on the events at their end
        (what came before is reconciled from the records when the driver starts)."""
        for stream, start in ((Keys.events, "$"), (Keys.search_control, "0")):
            try:
                self.conn.xgroup_create(stream, DRIVER_GROUP, id=start, mkstream=True)
            except redis.ResponseError as exc:
                if "BUSYGROUP" not in str(exc):
                    raise

    def read_driver_entries(self, consumer: str, block_ms: int, count: int = 200,
                            pending: bool = False) -> list[tuple[str, str, dict[str, str]]]:
        """(stream, entry id, fields) of control entries and run events for the driver, control first.

        `pending`: the entries this consumer was given and has not acknowledged (after a restart),
        else new ones, waiting up to `block_ms` for any."""
        start = "0" if pending else ">"
        reply = self.conn.xreadgroup(DRIVER_GROUP, consumer, {Keys.search_control: start, Keys.events: start},
                                     count=count, block=None if pending else block_ms)
        out = []
        for stream, entries in reply or []:
            name = _text(stream)
            out += [(name, _text(eid), _decode(body)) for eid, body in entries if body]
        return sorted(out, key=lambda e: e[0] != Keys.search_control)

    def ack_driver_entries(self, entries: list[tuple[str, str, dict]]) -> None:
        pipe = self.conn.pipeline(transaction=False)
        for stream, eid, _ in entries:
            pipe.xack(stream, DRIVER_GROUP, eid)
        pipe.execute()

    def claim_driver(self, name: str, ttl: float) -> bool:
        """Take or renew the one driver's claim for `ttl` s; False while another driver holds it.
        Two drivers on one Redis would both advance every search (trials asked twice, more running
        than `max_running`): the second stands by until the first's claim lapses."""
        return bool(self.conn.eval(_CLAIM_LUA, 1, Keys.search_driver, name, max(1, int(ttl * 1000))))

    def release_driver(self, name: str) -> None:
        """Drop the claim if `name` still holds it (a driver that stops on its own)."""
        self.conn.eval(_RELEASE_LUA, 1, Keys.search_driver, name)

    def driver_alive(self) -> str | None:
        name = self.conn.get(Keys.search_driver)
        return _text(name) if name is not None else None

    # -- searches --------------------------------------------------------------------

    def create_search(self, spec_json: str) -> str:
        """Record a new search (status running) and ask the driver to start it; returns its id."""
        search_id = "x" + _new_id()
        created = time.time()
        pipe = self.conn.pipeline()
        pipe.hset(Keys.search(search_id), mapping={
            "id": search_id, "spec": spec_json, "status": "running", "created_at": repr(created),
            "wall_used": "0.0", "running_since": repr(created), "extra_epochs": "0", "extra_seconds": "0.0",
            "error": "",
        })
        pipe.zadd(Keys.searches, {search_id: created})
        pipe.xadd(Keys.search_control, {"search_id": search_id, "action": "start", "epochs": "0", "seconds": "0"})
        pipe.execute()
        return search_id

    def get_search(self, search_id: str) -> dict[str, Any] | None:
        """{"id", "spec" (JSON str), "status", "created_at", "wall_used", "running_since" (or None),
        "extra_epochs", "extra_seconds", "error", "finished_at" (or None)} or None."""
        raw = self.conn.hgetall(Keys.search(check_search_id(search_id)))
        if not raw:
            return None
        data = _decode(raw)
        since = data.get("running_since", "")
        try:
            if data["status"] not in SEARCH_STATUSES:
                raise ValueError(f"status {data['status'][:40]!r}")
            return {"id": search_id, "spec": data["spec"], "status": data["status"],
                    "created_at": float(data["created_at"]), "wall_used": float(data.get("wall_used", 0.0)),
                    "running_since": float(since) if since else None,
                    "extra_epochs": int(data.get("extra_epochs", 0)),
                    "extra_seconds": float(data.get("extra_seconds", 0.0)), "error": data.get("error", ""),
                    "finished_at": float(data["finished_at"]) if data.get("finished_at") else None,
                    "seeded": data.get("seeded", "") == "1"}
        except (KeyError, ValueError) as exc:  # written by something else than Spikeboard: shown, not run
            return {"id": search_id, "spec": data.get("spec", ""), "status": "failed", "created_at": 0.0,
                    "wall_used": 0.0, "running_since": None, "extra_epochs": 0, "extra_seconds": 0.0,
                    "error": f"search record unreadable ({type(exc).__name__}: {str(exc)[:200]})",
                    "finished_at": None, "seeded": False}

    def list_searches(self) -> list[dict[str, Any]]:
        """All searches, newest first."""
        ids = [_text(i) for i in self.conn.zrevrange(Keys.searches, 0, -1)]
        return [s for s in (self.get_search(i) for i in ids if SEARCH_ID.fullmatch(i)) if s is not None]

    def set_search_fields(self, search_id: str, **fields_: Any) -> None:
        """Set search record fields (status, wall_used, running_since, extra_*, error, finished_at); None clears."""
        allowed = {"status", "wall_used", "running_since", "extra_epochs", "extra_seconds", "error", "finished_at",
                   "seeded"}
        unknown = sorted(set(fields_) - allowed)
        if unknown:
            raise ValueError(f"cannot set search field(s) {', '.join(unknown)}; settable: {', '.join(sorted(allowed))}")
        if "status" in fields_ and fields_["status"] not in SEARCH_STATUSES:
            raise ValueError(f"search status must be one of {', '.join(SEARCH_STATUSES)}, got {fields_['status']!r}")
        key = Keys.search(check_search_id(search_id))
        mapping = {k: (repr(v) if isinstance(v, float) else str(v)) for k, v in fields_.items() if v is not None}
        pipe = self.conn.pipeline()
        if mapping:
            pipe.hset(key, mapping=mapping)
        for k in (k for k, v in fields_.items() if v is None):
            pipe.hset(key, k, "")
        pipe.execute()

    def control_search(self, search_id: str, action: str, epochs: int = 0, seconds: float = 0.0) -> str:
        """Ask the driver to stop, extend (by epochs and/or seconds) or resume a search; returns the entry id."""
        if action not in CONTROL_ACTIONS:
            raise ValueError(f"action must be one of {', '.join(CONTROL_ACTIONS)}, got {action!r}")
        if self.get_search(search_id) is None:
            raise ValueError(f"search id not found: {search_id!r}")
        return _text(self.conn.xadd(Keys.search_control, {"search_id": search_id, "action": action,
                                                          "epochs": str(int(epochs)), "seconds": repr(float(seconds))}))

    # -- trials ----------------------------------------------------------------------

    def put_trial(self, search_id: str, number: int, row: dict[str, Any], run_id: str | None = None) -> None:
        """Write trial `number`'s row (and map its run to it) in one transaction."""
        pipe = self.conn.pipeline()
        pipe.hset(Keys.search_trials(check_search_id(search_id)), str(int(number)), json.dumps(row, sort_keys=True))
        if run_id:
            pipe.hset(Keys.search_runs, run_id, f"{search_id}:{int(number)}")
        pipe.execute()

    def trials(self, search_id: str) -> dict[int, dict[str, Any]]:
        raw = self.conn.hgetall(Keys.search_trials(check_search_id(search_id)))
        return {int(_text(k)): json.loads(v) for k, v in sorted(raw.items(), key=lambda kv: int(kv[0]))}

    def trial_of_run(self, run_id: str) -> tuple[str, int] | None:
        """(search id, trial number) of the search trial training `run_id`, or None."""
        raw = self.conn.hget(Keys.search_runs, run_id)
        if raw is None:
            return None
        search_id, number = _text(raw).split(":")
        return search_id, int(number)

    def optuna_prefix(self, search_id: str) -> str:
        return Keys.search_optuna(check_search_id(search_id))
