"""Which device a worker trains on, found without initialising CUDA in the worker process.

The worker forks a work horse per run; CUDA initialised before the fork would be unusable in
the horse, so the parent asks NVML (PYTORCH_NVML_BASED_CUDA_CHECK) and nvidia-smi instead.
"""

from __future__ import annotations

import os
import shutil
import subprocess


def describe_device() -> str:
    """E.g. 'cuda (NVIDIA H200)', 'mps' or 'cpu' for config device 'auto'."""
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import torch

    import snn_core.training  # noqa: F401  (imported once here so every forked horse starts warm)

    if torch.cuda.is_available():
        return f"cuda ({_gpu_name()})"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    from .jobs import torch_threads

    return f"cpu ({torch_threads()} torch thread{'s' if torch_threads() > 1 else ''} per run)"


def offered_devices() -> list[str]:
    """Config devices this worker can train on: always auto and cpu, cuda and mps when present."""
    os.environ.setdefault("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    import torch

    out = ["auto", "cpu"]
    if torch.cuda.is_available():
        out.append("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        out.append("mps")
    return out


def _gpu_name() -> str:
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return "GPU name unknown: no nvidia-smi"
    out = subprocess.run([smi, "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True,
                         timeout=10)
    names = [line.strip() for line in out.stdout.splitlines() if line.strip()]
    return ", ".join(names) if names else f"GPU name unknown: nvidia-smi said {out.stderr.strip()[:100]!r}"
