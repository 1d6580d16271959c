"""The store's side tables: sweeps, lab launches, the devices live workers offer, refused jobs.

`TablesStore` is the part of `workers.store.RunStore` that reads and writes them (on `self.conn`);
its keys come from `workers.keys`.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import redis

from snn_core.config import RunConfig

from .keys import Keys, new_id as _new_id, text as _text

__all__ = ["LAB_ID", "REFUSED_KEEP", "TablesStore"]

REFUSED_KEEP = 200  # refused jobs kept for the operator
_REFUSED_ENTRY_MAX = 4000  # characters of one refused job's record
LAB_ID = re.compile(r"l[0-9a-f]{12}")  # what `create_lab` makes; a lab id from outside must match it


class TablesStore:
    """Sweeps, labs, device offers and refused jobs; a part of `RunStore`."""

    conn: redis.Redis

    # -- devices the live workers offer -----------------------------------------------

    def offer_devices(self, worker: str, devices: list[str], ttl: float) -> None:
        """Say `worker` trains on `devices` for the next `ttl` seconds (renewed while it lives)."""
        now = time.time()
        pipe = self.conn.pipeline()
        pipe.zadd(Keys.workers, {worker: now + ttl})
        pipe.hset(Keys.worker_devices, worker, json.dumps(sorted(devices)))
        pipe.execute()

    def offered_devices(self) -> dict[str, list[str]]:
        """{worker: devices} of the workers whose offer has not lapsed; lapsed ones are dropped."""
        now = time.time()
        gone = [_text(w) for w in self.conn.zrangebyscore(Keys.workers, "-inf", now)]
        if gone:
            pipe = self.conn.pipeline()
            pipe.zrem(Keys.workers, *gone)
            pipe.hdel(Keys.worker_devices, *gone)
            pipe.execute()
        live = [_text(w) for w in self.conn.zrangebyscore(Keys.workers, now, "+inf")]
        offers = self.conn.hmget(Keys.worker_devices, live) if live else []
        return {w: json.loads(o) for w, o in zip(live, offers) if o is not None}

    # -- refused jobs and work horse deaths --------------------------------------------

    def record_refused_job(self, entry: dict[str, Any]) -> None:
        """Keep what a worker refused to run (newest first, the last REFUSED_KEEP)."""
        pipe = self.conn.pipeline()
        pipe.lpush(Keys.refused, json.dumps(entry, default=repr)[:_REFUSED_ENTRY_MAX])
        pipe.ltrim(Keys.refused, 0, REFUSED_KEEP - 1)
        pipe.execute()

    def refused_jobs(self, limit: int = REFUSED_KEEP) -> list[dict[str, Any]]:
        out = []
        for raw in self.conn.lrange(Keys.refused, 0, max(0, limit - 1)):
            try:
                out.append(json.loads(raw))
            except ValueError:
                out.append({"raw": _text(raw)})  # cut at _REFUSED_ENTRY_MAX
        return out

    # -- sweeps ----------------------------------------------------------------------

    def create_sweep(self, base: RunConfig, axes: dict[str, list]) -> str:
        sweep_id = "s" + _new_id()
        created = time.time()
        pipe = self.conn.pipeline()
        pipe.hset(Keys.sweep(sweep_id), mapping={
            "id": sweep_id, "base": base.to_json(), "axes": json.dumps(axes), "created_at": repr(created),
            "run_ids": "[]",
        })
        pipe.zadd(Keys.sweeps, {sweep_id: created})
        pipe.execute()
        return sweep_id

    def set_sweep_runs(self, sweep_id: str, run_ids: list[str]) -> None:
        self.conn.hset(Keys.sweep(sweep_id), "run_ids", json.dumps(list(run_ids)))

    def get_sweep(self, sweep_id: str) -> dict[str, Any] | None:
        """{"id", "base" (config dict), "axes" ({field: values}), "created_at", "run_ids"} or None."""
        raw = self.conn.hgetall(Keys.sweep(sweep_id))
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        return {
            "id": data["id"], "base": json.loads(data["base"]), "axes": json.loads(data["axes"]),
            "created_at": float(data["created_at"]), "run_ids": json.loads(data.get("run_ids", "[]")),
        }

    def list_sweeps(self) -> list[dict[str, Any]]:
        """All sweeps, newest first."""
        ids = [_text(i) for i in self.conn.zrevrange(Keys.sweeps, 0, -1)]
        return [s for s in (self.get_sweep(i) for i in ids) if s is not None]

    # -- labs (issue 9: a lab launch groups its studies' sweeps) -----------------------

    def create_lab(self, studies: dict[str, str], seeds: int, settings: dict[str, Any], plan: dict[str, Any]) -> str:
        """Record a lab launch: {study key: sweep id}, seeds per setting, config changes, what was planned."""
        lab_id = "l" + _new_id()
        created = time.time()
        pipe = self.conn.pipeline()
        pipe.hset(Keys.lab(lab_id), mapping={
            "id": lab_id, "created_at": repr(created), "studies": json.dumps(studies), "seeds": str(int(seeds)),
            "settings": json.dumps(settings, sort_keys=True), "plan": json.dumps(plan, sort_keys=True),
        })
        pipe.zadd(Keys.labs, {lab_id: created})
        pipe.execute()
        return lab_id

    def get_lab(self, lab_id: str) -> dict[str, Any] | None:
        """{"id", "created_at", "studies" ({study: sweep id}), "seeds", "settings", "plan"} or None."""
        if not isinstance(lab_id, str) or not LAB_ID.fullmatch(lab_id):
            raise ValueError(f"lab_id must look like l + 12 hex digits, got {lab_id!r}"[:200])
        raw = self.conn.hgetall(Keys.lab(lab_id))
        if not raw:
            return None
        data = {_text(k): _text(v) for k, v in raw.items()}
        return {"id": data["id"], "created_at": float(data["created_at"]), "studies": json.loads(data["studies"]),
                "seeds": int(data["seeds"]), "settings": json.loads(data["settings"]), "plan": json.loads(data["plan"])}

    def list_labs(self) -> list[dict[str, Any]]:
        """All lab launches, newest first."""
        ids = [_text(i) for i in self.conn.zrevrange(Keys.labs, 0, -1)]
        return [lab for lab in (self.get_lab(i) for i in ids if LAB_ID.fullmatch(i)) if lab is not None]
