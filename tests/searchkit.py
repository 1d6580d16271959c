"""Helpers for the search tests: a tiny search spec and a `python -m workers search-driver` process."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from snn_core.config import RunConfig
from workers.search_spec import Param, SearchSpec

ROOT = Path(__file__).resolve().parents[1]

TINY = dict(T=4, hidden=(8,), encoder="image", train_limit=256, test_limit=128, batch_size=64, test_batch_size=128)


def tiny_spec(**changes) -> SearchSpec:
    values = dict(space=(Param("beta", "float", 0.5, 0.95), Param("lr", "float", 1e-3, 3e-2, log=True)),
                  base=RunConfig(**TINY), budget_epochs=12, max_running=2, rungs=(1, 2, 4), eta=2, seed=0)
    values.update(changes)
    return SearchSpec(**values)


def start_driver(url: str, log_path: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": url}
    log = open(log_path, "ab")
    return subprocess.Popen([sys.executable, "-m", "workers", "search-driver"], cwd=ROOT, env=env, stdout=log,
                            stderr=subprocess.STDOUT)
