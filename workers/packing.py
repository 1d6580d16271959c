"""How a list of configs becomes queued jobs: which runs train together as one packed model.

`plan_jobs` is the one answer to "which jobs would these runs be": `submission` queues exactly
its jobs, and `capacity.estimate` (what Launch shows before anything is queued) times exactly
them. It lives apart from both because each needs it and submitting needs `capacity` too.
No torch, no Redis.
"""

from __future__ import annotations

import os

from snn_core.config import RunConfig, pack_groups
from snn_core.limits import current_limits, largest_pack

from .estimates import job_order


def max_pack_size() -> int:
    """$SPIKEBOARD_MAX_PACK: the most runs one packed job trains (32)."""
    raw = os.environ.get("SPIKEBOARD_MAX_PACK", "32")
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"SPIKEBOARD_MAX_PACK must be an integer >= 1, got {raw!r}")
    return int(raw)


def _packs_that_fit(configs: list[RunConfig]) -> list[list[int]]:
    """`pack_groups` with each pack cut down until its memory estimate is within the limit."""
    limits = current_limits()
    out = []
    for group in pack_groups(configs, max_pack_size()):
        step = largest_pack(configs[group[0]], limits, len(group))
        out += [group[i : i + step] for i in range(0, len(group), step)]
    return out


def plan_jobs(configs: list[RunConfig], packed: bool = True) -> list[list[int]]:
    """The jobs that train `configs`, as lists of indices into it, in the order they are queued.

    With `packed`, runs that differ only in beta, V_th, z, loss, lr or seed share a job (at most
    `max_pack_size()`, and no more than fit the memory limit); otherwise each run is its own job.
    The costliest job comes first (`estimates.job_order`), so the workers finish close together.
    """
    configs = list(configs)
    groups = _packs_that_fit(configs) if packed else [[i] for i in range(len(configs))]
    return [groups[j] for j in job_order([[configs[i] for i in g] for g in groups])]
