"""The native Bernoulli first layer (snn_core/native): its spikes, sums and gradients by their definitions."""

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from snn_core import kernels, lanes, native
from snn_core.encoders import bernoulli_train

pytestmark = pytest.mark.skipif(kernels.numba is None, reason="the undrawn train needs numba")


def _simd_cpu() -> bool:
    flags = next((line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")), "") \
        if Path("/proc/cpuinfo").exists() else ""
    return all(f in flags.split() for f in ("avx512bw", "avx512_vbmi2"))


def test_the_kernels_build_where_they_should(monkeypatch):
    """Where there is a compiler and the CPU has AVX-512 BW and VBMI2, the kernels must build: the
    parity tests skip the native path elsewhere, so this is what fails if the build breaks."""
    monkeypatch.delenv("SPIKEBOARD_NATIVE", raising=False)
    if native.compiler() is None or not _simd_cpu():
        pytest.skip("no compiler, or a CPU without AVX-512 BW/VBMI2: the BLAS path runs")
    assert native.library() is not None
    monkeypatch.setenv("SPIKEBOARD_NATIVE", "0")
    assert native.library() is None  # switched off


def _blocked(w: np.ndarray) -> np.ndarray:
    """W [L, P] in the kernels' blocked W^T layout (one member of L lanes, as the fused step lays it out)."""
    L, P = w.shape
    out = np.empty((native.padded_lanes(L) // 16, P, 16), np.float32)
    lanes.blocked_weights(np.ascontiguousarray(w, np.float32)[None], np.array([0]), out)
    return out


def _unblocked(gwt: np.ndarray, L: int) -> np.ndarray:
    out = np.empty((1, L, gwt.shape[1]), np.float32)
    lanes.unblocked_grads(gwt, np.array([0]), L, out)
    return out[0]


def _need_native(monkeypatch):
    monkeypatch.delenv("SPIKEBOARD_NATIVE", raising=False)
    if native.library() is None:
        pytest.skip("the native kernels are not built on this machine")


def _train(P, T=7, B=9, seed=0):
    images = torch.rand(B, P, generator=torch.Generator().manual_seed(seed)) ** 2
    images[:, :3] = 0.0  # never spike
    images[:, 3:6] = 1.0  # always spike (threshold 65536)
    return bernoulli_train(images, T, torch.Generator().manual_seed(seed + 1))


@pytest.mark.parametrize("P", [784, 30, 1000])  # whole words and parts; a short last word; a third part
def test_spikes_are_the_bernoulli_draws_bit_for_bit(P, monkeypatch):
    """With W = I, the currents are the train itself: every spike of `kernels.bernoulli_u16`, no other."""
    _need_native(monkeypatch)
    x = _train(P)
    T, B, _ = x.shape
    Lp = native.padded_lanes(P)
    wt = _blocked(np.eye(P, dtype=np.float32))
    out = np.empty((T, B, Lp), np.float32)
    x.project(wt, out)
    ones = x.ones
    dense = x.dense().numpy()
    assert np.array_equal(out[:, :, :P], dense) and not out[:, :, P:].any()
    assert ones == int(dense.sum()) == x.ones
    assert dense[:, :, :3].sum() == 0 and dense[:, :, 3:6].all()


@pytest.mark.parametrize("P, L", [(784, 10), (784, 60), (30, 16), (1000, 33)])
def test_sums_and_gradients_follow_their_definitions(P, L, monkeypatch):
    """Forward I[t, b] = x_t[b] W^T and backward dW = sum_t g_t^T x_t, against float64 products,
    and the same bits whether the backward reads the forward's spike lists or draws the train again."""
    _need_native(monkeypatch)
    x = _train(P)
    T, B, _ = x.shape
    rng = np.random.default_rng(0)
    w = rng.standard_normal((L, P)).astype(np.float32) * 0.05
    Lp = native.padded_lanes(L)
    wt = _blocked(w)
    out, lists = np.empty((T, B, Lp), np.float32), native.Lists(T, B, P)
    x.project(wt, out, lists)
    dense = x.dense().numpy().astype(np.float64)
    np.testing.assert_allclose(out[:, :, :L], dense @ w.T.astype(np.float64), rtol=0, atol=2e-6)

    g = rng.standard_normal((T, B, Lp)).astype(np.float32)
    kept, drawn = np.empty((Lp // 16, P, 16), np.float32), np.empty((Lp // 16, P, 16), np.float32)
    x.backproject(g, kept, lists)
    x.backproject(g, drawn)
    assert np.array_equal(kept, drawn)
    dw = _unblocked(kept, L)
    expected = np.einsum("tbl,tbp->lp", g[:, :, :L].astype(np.float64), dense)
    np.testing.assert_allclose(dw, expected, rtol=0, atol=1e-5 * np.abs(expected).max())


def test_a_lane_gets_the_same_bits_whatever_lanes_sit_beside_it(monkeypatch):
    """What makes a pack member equal its solo run: a member's 10 lanes alone (Lp = 16) and among
    five other members' (Lp = 64) give the same currents and weight gradients, bit for bit."""
    _need_native(monkeypatch)
    x = _train(784, T=5, B=16)
    T, B, P = x.shape
    rng = np.random.default_rng(1)
    pack_w = rng.standard_normal((60, P)).astype(np.float32)
    g_pack = rng.standard_normal((T, B, 64)).astype(np.float32)
    results = []
    for w, g in ((pack_w[20:30], g_pack[:, :, 20:30]), (pack_w, g_pack)):
        Lp = native.padded_lanes(w.shape[0])
        wt = _blocked(w)
        out = np.empty((T, B, Lp), np.float32)
        x.project(wt, out)
        gp = np.zeros((T, B, Lp), np.float32)
        gp[:, :, : g.shape[2]] = g
        gwt = x.backproject(gp, np.empty_like(wt))
        results.append((out, _unblocked(gwt, w.shape[0])))
    (solo_out, solo_dw), (pack_out, pack_dw) = results
    assert np.array_equal(solo_out[:, :, :10], pack_out[:, :, 20:30])
    assert np.array_equal(solo_dw, pack_dw[20:30])


def test_bad_arrays_are_named(monkeypatch):
    _need_native(monkeypatch)
    x = _train(30)
    T, B, P = x.shape
    with pytest.raises(ValueError, match="wt must be"):
        native.bernoulli_forward(x.thresholds, x.key, T, np.zeros((1, P, 8), np.float32), np.empty((T, B, 16), np.float32))
    with pytest.raises(ValueError, match="out must be"):
        native.bernoulli_forward(x.thresholds, x.key, T, np.zeros((1, P, 16), np.float32), np.empty((T, B, 16), np.float64))
    with pytest.raises(ValueError, match="lists were made for"):
        native.bernoulli_forward(x.thresholds, x.key, T, np.zeros((1, P, 16), np.float32),
                                 np.empty((T, B, 16), np.float32), native.Lists(T + 1, B, P))


def test_a_failing_compiler_is_named_and_leaves_no_library(tmp_path, monkeypatch):
    """A compiler that fails: the error names it and its output, and no half-built file is left."""
    monkeypatch.setenv("SPIKEBOARD_NATIVE_CACHE", str(tmp_path))
    fake = tmp_path / "badcxx"
    fake.write_text("#!/bin/sh\necho 'bad compiler 1.0'\n[ \"$1\" = --version ] && exit 0\necho 'no such flag' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(RuntimeError, match="badcxx failed on bernoulli.cpp: no such flag"):
        native._build(str(fake))
    assert list(tmp_path.glob("*.so")) == []


def test_the_library_is_built_once_per_machine_and_cached(tmp_path, monkeypatch):
    cxx = native.compiler()
    if cxx is None or shutil.which(cxx) is None:
        pytest.skip("no C++ compiler")
    monkeypatch.setenv("SPIKEBOARD_NATIVE_CACHE", str(tmp_path))
    first = native._build(cxx)
    stamp = os.stat(first).st_mtime_ns
    assert native._build(cxx) == first and os.stat(first).st_mtime_ns == stamp  # not built again
    assert first.parent == tmp_path and first.suffix == ".so"


def test_an_unwritable_cache_falls_back_and_a_corrupt_library_is_built_again(tmp_path, monkeypatch):
    """A home whose cache cannot be written: the next folder is used. A cached file that does not load
    (truncated, say): built once more, and the kernels work."""
    cxx = native.compiler()
    if cxx is None:
        pytest.skip("no C++ compiler")
    blocked, spare = tmp_path / "file-not-folder", tmp_path / "spare"
    blocked.write_text("")  # a file where a folder should be: mkdir fails
    monkeypatch.setattr(native, "cache_dirs", lambda: [blocked / "spikeboard", spare])
    built = native._build(cxx)
    assert built.parent == spare
    built.write_bytes(b"not a shared library")
    lib = native._load(cxx)
    assert lib.sb_simd() in (0, 1) and built.stat().st_size > 1000
    with pytest.raises(OSError, match="no cache folder for the native kernels can be written"):
        monkeypatch.setattr(native, "cache_dirs", lambda: [blocked / "a", blocked / "b"])
        native._build(cxx)
