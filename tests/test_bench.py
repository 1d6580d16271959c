"""Smoke test of the speed benchmark (bench/): a tiny `python -m bench.speed --quick` run end to end.

Timings are not asserted against targets (the machine may be busy); only that the table is
there, the Spikeboard rows are measured, and the numbers are sane and consistent.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


@pytest.mark.timeout(150)  # seven implementations; slow only when other processes load the machine
def test_quick_benchmark_writes_a_sane_table(tmp_path):
    out = tmp_path / "speed.md"
    proc = _run(["-m", "bench.speed", "--quick", "--encoders", "bernoulli,image", "--T", "5",
                 "--round-s", "0.05", "--rounds", "1", "--packed", "6", "--memory-batches", "2",
                 "--impl", "lab,snntorch,spikingjelly,norse,spikeboard,packed",
                 "--data", "synthetic", "--out", str(out)], timeout=140)
    assert proc.returncode == 0, proc.stderr[-2000:]
    text = out.read_text()
    assert text in proc.stdout
    assert "| encoder | T | implementation | ms/batch | s/epoch (60k) | vs fastest peer | vs SpikingJelly |" in text
    assert "Intel" in text or "AMD" in text or "cores" in text  # the machine line

    rows = json.loads(out.with_suffix(".json").read_text())["rows"]
    by = {(r["encoder"], r["implementation"]): r for r in rows}
    for encoder in ("bernoulli", "image"):
        for impl in ("lab loop", "Spikeboard"):
            row = by[(encoder, impl)]
            ms = row["ms_per_batch"]
            assert row["T"] == 5 and math.isfinite(ms) and 0.01 < ms < 5000, row
            assert row["seconds_per_epoch"] == pytest.approx(ms * 938 / 1000)
            assert f"| {encoder} | 5 | {impl} | {ms:.2f} |" in text
        for peer in ("snnTorch", "SpikingJelly", "Norse"):  # measured, or said to be missing
            row = by[(encoder, peer)]
            assert row["ms_per_batch"] is not None or "not installed" in row["note"], row
        packed = by[(encoder, "Spikeboard packed x6")]
        assert packed["ms_per_batch"] is not None or "not available" in packed["note"]

    memory = json.loads(out.with_suffix(".json").read_text())["memory"]
    assert 50 < memory["peak_rss_mib"] < 4096, memory
    assert "peak memory of a Spikeboard run < 2 GB" in text
    assert "T=50 one run >= 25x SpikingJelly" in text  # the targets, n/a at T=5


def test_sweeps_vary_only_the_packable_fields():
    from bench.speed import baseline_config, sweep

    base = baseline_config("bernoulli", 50)
    for size in (6, 32):
        configs = sweep(base, size)
        assert len(configs) == size and len({c.config_hash() for c in configs}) == size
        assert configs[0] == base
        for c in configs:
            assert set(base.diff(c)) <= {"beta", "v_th", "z", "loss", "lr"}


@pytest.mark.timeout(60)
def test_gpu_check_without_cuda_exits_cleanly():
    env_hidden = {"CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run([sys.executable, "-m", "bench.gpu_check"], cwd=ROOT, capture_output=True, text=True,
                          timeout=55, check=False, env={**os.environ, **env_hidden, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["cuda"] is False and "no CUDA" in result["skipped"]
    assert "skipped" in proc.stderr
