"""What machine a benchmark ran on, for its report: the CPU, cores, library versions, commit, engine, load."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine(args, data) -> dict:
    import torch  # here, not at the top: bench/lab_wall.py takes load_average and trains nothing itself

    from . import baselines

    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, check=False).stdout.strip()
    except OSError:
        commit = ""
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "snn_core"], cwd=ROOT, capture_output=True,
                           text=True, check=False).stdout.strip()
    if commit and dirty:
        commit += " + uncommitted snn_core changes"
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "snntorch": baselines.snntorch_version() if baselines.snntorch_available() else "not installed",
        "spikingjelly": baselines.spikingjelly_version() if baselines.spikingjelly_available() else "not installed",
        "norse": baselines.norse_version() if baselines.norse_available() else "not installed",
        "python": platform.python_version(),
        "data": data.source,
        "commit": commit,
        "engine": spikeboard_engine(),
        "load_average_start": os.getloadavg(),
    }


def spikeboard_engine() -> str:
    """snn_core's CPU engine: the fused step, or the autograd engine's kernels (numba or torch)."""
    try:
        import torch as _torch

        from snn_core import fused, kernels
    except ImportError:
        return "torch"
    if not fused.enabled(_torch.device("cpu")):
        return kernels.engine()
    return "fused step (numba" + (", native Bernoulli first layer)" if fused.native_bernoulli(784) else ")")


def load_average(avg=None) -> str:
    """'1.02/0.88/0.75': the 1, 5 and 15 minute load averages given, or the machine's now."""
    return "/".join(f"{v:.2f}" for v in (os.getloadavg() if avg is None else avg))
