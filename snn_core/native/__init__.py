"""Native kernels: the Bernoulli first layer as sums of weight rows (`bernoulli.cpp`), built on first use.

For a Bernoulli input the first layer's current and weight gradient are

    I_t[b, :]  = sum over the pixels p that spike at (t, b) of W^T[p, :]
    dW^T[p, :] = sum over the (t, b) where p spikes of dL/dI_t[b, :]

so the fused step (`fused.FusedStep`) draws each step of each sample, lists its spiking pixels and
adds their rows, instead of writing the float train out and multiplying by it (two BLAS products
that cannot use the zeros). The spikes are those of `kernels.bernoulli_u16`, bit for bit.

The source is compiled with the machine's C++ compiler (`CXX`, else c++ or g++) for the CPU it
runs on (-march=native: AVX-512 where there is one), once per machine, into a cache directory
(`cache_dirs`), keyed by the source, the flags, the compiler and the CPU, and loaded with ctypes (a
cached file that does not load is built again). Without a compiler, or with SPIKEBOARD_NATIVE=0, `library()`
is None and the fused step keeps its BLAS path; both pass the same parity tests.
"""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

log = logging.getLogger(__name__)

SOURCE = Path(__file__).with_name("bernoulli.cpp")
# No fast-math and no contraction: the sums stay plain float32 adds in the source's order.
FLAGS = ("-O3", "-march=native", "-std=c++17", "-fno-fast-math", "-ffp-contract=off", "-fPIC", "-shared")
MAX_PIXELS = 65535  # pixel indices are 16-bit
LANES = 16  # the kernels' lane width: Lp, the width of wt, g and out, is a multiple of it

_library: ctypes.CDLL | None = None
_tried = False


def compiler() -> str | None:
    """The C++ compiler to use: $CXX, else c++ or g++ on PATH; None where there is none."""
    for name in (os.environ.get("CXX"), "c++", "g++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def _cpu_identity() -> str:
    """What -march=native compiles for: the CPU's flags (Linux), else what platform says."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return platform.processor() + platform.machine()


def cache_dirs() -> list[Path]:
    """Where the built library is kept: SPIKEBOARD_NATIVE_CACHE, else ~/.cache/spikeboard, then a
    per-user folder in the temporary directory (for a home that cannot be written)."""
    if os.environ.get("SPIKEBOARD_NATIVE_CACHE"):
        return [Path(os.environ["SPIKEBOARD_NATIVE_CACHE"])]
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "spikeboard"
    return [home, Path(tempfile.gettempdir()) / f"spikeboard-native-{os.getuid()}"]


def _build(cxx: str, rebuild: bool = False) -> Path:
    """The library for this source, flags, compiler and CPU: built unless already in a cache folder
    (`rebuild`: built again over a cached file that did not load)."""
    version = subprocess.run([cxx, "--version"], capture_output=True, text=True, timeout=60).stdout
    key = hashlib.sha256("\0".join([SOURCE.read_text(), " ".join(FLAGS), version, _cpu_identity()]).encode())
    name = f"bernoulli-{key.hexdigest()[:16]}.so"
    errors = []
    for folder in cache_dirs():
        target = folder / name
        if target.exists() and not rebuild:
            return target
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, partial = tempfile.mkstemp(suffix=".so", dir=target.parent)
        except OSError as error:  # not writable: the next folder
            errors.append(f"{folder}: {error}")
            continue
        os.close(fd)
        # Built beside the target and renamed into place: workers starting together never load a half-written file.
        try:
            done = subprocess.run([cxx, *FLAGS, str(SOURCE), "-o", partial], capture_output=True, text=True,
                                  timeout=300)
            if done.returncode != 0:
                raise RuntimeError(f"{cxx} failed on {SOURCE.name}: {done.stderr.strip()[-2000:]}")
            os.replace(partial, target)
        finally:
            if os.path.exists(partial):
                os.unlink(partial)
        return target
    raise OSError(f"no cache folder for the native kernels can be written: {'; '.join(errors)}")


def _load(cxx: str) -> ctypes.CDLL:
    path = _build(cxx)
    try:
        return ctypes.CDLL(str(path))
    except OSError as error:  # a cached file that does not load (truncated, say): built once more
        log.warning("cached native kernels %s did not load (%s); building them again", path, error)
        return ctypes.CDLL(str(_build(cxx, rebuild=True)))


def library() -> ctypes.CDLL | None:
    """The compiled kernels, built on first call; None when switched off or not buildable (logged once)."""
    global _library, _tried
    if os.environ.get("SPIKEBOARD_NATIVE", "1") == "0":
        return None
    if _tried:
        return _library
    _tried = True
    cxx = compiler()
    if cxx is None:
        log.warning("no C++ compiler (CXX, c++ or g++): Bernoulli input runs on the slower BLAS path")
        return None
    try:
        lib = _load(cxx)
    except (OSError, RuntimeError, subprocess.SubprocessError) as error:
        log.warning("native kernels not built, Bernoulli input runs on the slower BLAS path: %s", error)
        return None
    if not lib.sb_simd():
        log.info("this CPU lacks AVX-512 BW/VBMI2: Bernoulli input runs on the BLAS path")
        return None
    pointer, i32, u64 = ctypes.c_void_p, ctypes.c_int, ctypes.c_uint64
    lib.sb_bernoulli_forward.restype = ctypes.c_int64
    lib.sb_bernoulli_forward.argtypes = [pointer, i32, i32, u64, i32, pointer, i32, pointer, pointer, pointer]
    lib.sb_bernoulli_backward.restype = None
    lib.sb_bernoulli_backward.argtypes = [pointer, i32, i32, u64, i32, pointer, i32, pointer, pointer, pointer, i32]
    _library = lib
    return lib


def padded_lanes(width: int) -> int:
    """Lp: `width` lanes rounded up to the kernels' multiple of 16."""
    return -(-width // LANES) * LANES


def parts(P: int) -> int:
    """How many parts the kernels split P pixels into (12 words of 32 pixels each; bernoulli.cpp)."""
    return (-(-P // 32) + 11) // 12


class Lists:
    """Room for the spiking pixels of a train [T, B, P] (2 bytes a spike, one row after another; room
    for all T B P): the forward keeps them and the backward reads them instead of drawing the train again.
    Only the spikes' share of the room is ever touched."""

    def __init__(self, T: int, B: int, P: int):
        self.shape = (T, B, P)
        self.lists = np.empty(T * B * P + 32, np.uint16)
        self.bounds = np.empty(T * B * (parts(P) + 1), np.int32)


def _check(name: str, array: np.ndarray, dtype, shape: tuple) -> None:
    if array.dtype != dtype or array.shape != shape or not array.flags.c_contiguous:
        raise ValueError(f"{name} must be a C-contiguous {np.dtype(dtype)} array of shape {shape}, "
                         f"got {array.dtype} {array.shape}")


def _pointers(lists: Lists | None, shape: tuple) -> tuple[int | None, int | None]:
    if lists is None:
        return None, None
    if lists.shape != shape:
        raise ValueError(f"lists were made for a train of shape {lists.shape}, not {shape}")
    return lists.lists.ctypes.data, lists.bounds.ctypes.data


def bernoulli_forward(thresholds: np.ndarray, key: int, T: int, wt: np.ndarray, out: np.ndarray,
                      lists: Lists | None = None) -> int:
    """out[t, b, :] = sum of W^T[p, :] over the pixels p that spike at step t of sample b; returns the spikes.

    thresholds: int32 [B, P] (P(spike) = threshold / 65536); wt: float32 [Lp / 16, P, 16] (block k holds lanes 16 k .. 16 k + 15: `lanes.blocked_weights`);
    out: float32 [T, B, Lp]. `lists` (for this T, B, P) keeps the spikes for `bernoulli_backward`.
    """
    B, P = thresholds.shape
    Lp = out.shape[2]
    _check("thresholds", thresholds, np.int32, (B, P))
    _check("wt", wt, np.float32, (Lp // LANES, P, LANES))
    _check("out", out, np.float32, (T, B, Lp))
    if Lp % LANES or P > MAX_PIXELS:
        raise ValueError(f"need a width that is a multiple of {LANES} and at most 65535 pixels, got {Lp} and {P}")
    kept, bounds = _pointers(lists, (T, B, P))
    return library().sb_bernoulli_forward(thresholds.ctypes.data, B, P, int(key), T, wt.ctypes.data, Lp,
                                          out.ctypes.data, kept, bounds)


def bernoulli_backward(thresholds: np.ndarray, key: int, T: int, g: np.ndarray, gwt: np.ndarray,
                       lists: Lists | None = None) -> None:
    """gwt = dW^T (blocked [Lp / 16, P, 16], overwritten): the sum of g[t, b, :] over the (t, b) where
    pixel p spikes, in order of (t, b); the spikes from `lists` (kept by the forward) or drawn again.

    thresholds: int32 [B, P]; g: float32 [T, B, Lp].
    """
    B, P = thresholds.shape
    Lp = g.shape[2]
    _check("thresholds", thresholds, np.int32, (B, P))
    _check("g", g, np.float32, (T, B, Lp))
    _check("gwt", gwt, np.float32, (Lp // LANES, P, LANES))
    if Lp % LANES or P > MAX_PIXELS:
        raise ValueError(f"need a width that is a multiple of {LANES} and at most 65535 pixels, got {Lp} and {P}")
    kept, bounds = _pointers(lists, (T, B, P))
    library().sb_bernoulli_backward(thresholds.ctypes.data, B, P, int(key), T, g.ctypes.data, Lp,
                                    gwt.ctypes.data, kept, bounds, int(lists is not None))
