"""Which path a Bernoulli first layer takes in the fused step, for tests that hold every path to the same bar."""

import pytest


def use_bernoulli_path(monkeypatch, path: str) -> None:
    """'native...': the native kernels (skipped where this machine cannot build them; test_native.py
    fails where it should and does not); anything else: the BLAS path (SPIKEBOARD_NATIVE=0)."""
    from snn_core import fused

    if path.startswith("native"):
        monkeypatch.delenv("SPIKEBOARD_NATIVE", raising=False)
        if not fused.native_bernoulli(784):
            pytest.skip("the native Bernoulli kernels are not built on this machine")
    else:
        monkeypatch.setenv("SPIKEBOARD_NATIVE", "0")
