"""MNIST and Fashion-MNIST, loaded once into memory as tensors on the training device.

Files are read in torchvision's layout, `<data_dir>/MNIST/raw/train-images-idx3-ubyte[.gz]`
(`FashionMNIST` for Fashion-MNIST), or flat in `<data_dir>` itself (as Debian's
`dataset-fashion-mnist` installs them). Missing files are downloaded with torchvision;
when that fails (offline), the error names the folder and the files expected.
Set SPIKEBOARD_NO_DOWNLOAD=1 to never download. Pixels stay uint8 in memory and are
scaled to [0, 1] per batch.
"""

from __future__ import annotations

import functools
import gzip
import os
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from .config import DatasetName
from .limits import check_data_dir

FOLDERS = {DatasetName.MNIST: "MNIST", DatasetName.FASHION_MNIST: "FashionMNIST"}
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
DEFAULT_DATA_DIR = "data"


class DataNotFoundError(FileNotFoundError):
    """The dataset's files are missing and could not be downloaded."""


class CorruptDataError(ValueError):
    """A dataset file is there but damaged (truncated download, not gzip, wrong size)."""


def resolve_data_dir(data_dir: str = "") -> Path:
    """The config's data_dir, else $SPIKEBOARD_DATA_DIR, else ./data."""
    return Path(data_dir or os.environ.get("SPIKEBOARD_DATA_DIR") or DEFAULT_DATA_DIR).expanduser()


def worker_data_dir(data_dir: str) -> str:
    """The folder a worker reads a submitted run's data from: its own $SPIKEBOARD_DATA_DIR (else
    ./data) when the run names none; a run's data_dir only inside this worker's
    $SPIKEBOARD_DATA_ROOTS. So a submitter never chooses what path a worker reads or creates."""
    check_data_dir(data_dir)
    return str(resolve_data_dir(data_dir))


def read_idx(path: Path) -> np.ndarray:
    """Parse an IDX file (optionally gzipped) into a uint8 array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    fix = ("delete it so it is downloaded again (or put a good copy there; SPIKEBOARD_DATA_DIR / --data-dir "
           "chooses the folder)")
    try:
        with opener(path, "rb") as fh:
            raw = fh.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:  # a truncated or damaged download
        raise CorruptDataError(f"{path} is damaged ({type(exc).__name__}: {exc}); {fix}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise CorruptDataError(f"{path} is not an unsigned-byte IDX file; {fix}")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise CorruptDataError(f"{path} holds {data.size} bytes, its header declares shape {shape}; {fix}")
    return data.reshape(shape)


def _find(folder_candidates: list[Path], stem: str) -> Path | None:
    for folder in folder_candidates:
        for name in (stem, stem + ".gz"):
            if (folder / name).is_file():
                return folder / name
    return None


def _download(dataset: DatasetName, root: Path) -> None:
    from torchvision import datasets  # imported lazily: only the download path needs it

    cls = datasets.MNIST if dataset is DatasetName.MNIST else datasets.FashionMNIST
    for train in (True, False):
        cls(str(root), train=train, download=True)


def locate_files(dataset: DatasetName, data_dir: str = "", download: bool = True) -> dict[str, tuple[Path, Path]]:
    """Paths of (images, labels) for each split, downloading them if missing and allowed."""
    dataset = DatasetName(dataset)
    root = resolve_data_dir(data_dir)
    raw = root / FOLDERS[dataset] / "raw"
    candidates = [raw, root]

    def find_all():
        found = {split: tuple(_find(candidates, stem) for stem in stems) for split, stems in FILES.items()}
        return found if all(p is not None for pair in found.values() for p in pair) else None

    found = find_all()
    download = download and os.environ.get("SPIKEBOARD_NO_DOWNLOAD", "") not in ("1", "true", "yes")
    if found is None and download:
        try:
            _download(dataset, root)
        except Exception as exc:  # network errors come in many types; all mean "not here"
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            reason = f"download failed: {type(exc).__name__}: {first_line}"
        else:
            reason = "download finished but files are still missing"
        found = find_all()
    else:
        reason = "download disabled"
    if found is None:
        expected = ", ".join(f"{stem}[.gz]" for stems in FILES.values() for stem in stems)
        raise DataNotFoundError(
            f"{dataset.value} not found in {raw} ({reason}). Expected files: {expected}. "
            f"Put them there, or set --data-dir / SPIKEBOARD_DATA_DIR to a folder that has them."
        )
    return found  # type: ignore[return-value]


@dataclass
class Split:
    """One split in memory: images uint8 [N, 784], labels int64 [N], on one device."""

    images: Tensor
    labels: Tensor

    def __len__(self) -> int:
        return self.labels.shape[0]

    def batches(self, batch_size: int, generator: torch.Generator | None = None) -> Iterator[tuple[Tensor, Tensor]]:
        """(images float [B, 784] in [0, 1], labels [B]); shuffled when a CPU generator is given."""
        n = len(self)
        order = torch.randperm(n, generator=generator) if generator is not None else None
        if order is not None:
            order = order.to(self.images.device)
        for start in range(0, n, batch_size):
            if order is None:
                idx = slice(start, start + batch_size)
                images, labels = self.images[idx], self.labels[idx]
            else:
                idx = order[start : start + batch_size]
                images, labels = self.images.index_select(0, idx), self.labels.index_select(0, idx)
            yield images.float().div_(255.0), labels


@dataclass
class DataBundle:
    train: Split
    test: Split


def _stamp(path: Path) -> tuple[str, int, int]:
    st = path.stat()
    return str(path), st.st_mtime_ns, st.st_size


@functools.lru_cache(maxsize=4)
def _load_cached(stamps: tuple[tuple[str, int, int], ...]) -> tuple[Tensor, Tensor]:
    return _parse(tuple(Path(s[0]) for s in stamps))


def _load_arrays(paths: tuple[Path, Path]) -> tuple[Tensor, Tensor]:
    """Parsed once per process and file version; CPU splits share this memory (nothing writes to a split)."""
    return _load_cached(tuple(_stamp(p) for p in paths))


def _parse(paths: tuple[Path, ...]) -> tuple[Tensor, Tensor]:
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{paths[0]} has {images.shape[0]} images but {paths[1]} has {labels.shape[0]} labels")
    return torch.from_numpy(images.reshape(images.shape[0], -1).copy()), torch.from_numpy(labels.astype(np.int64))


SUBSET_SEED = 0


def load_split(paths: tuple[Path, Path], device: torch.device, limit: int = 0) -> Split:
    """A split on `device`; with `limit`, a fixed random subset of that many samples.

    The subset is drawn with its own fixed seed, so every run with the same limit sees the same
    samples, and it is random, not the first N, because files may be stored sorted by class
    (../shared/data's MNIST-5k is).
    """
    images, labels = _load_arrays(tuple(paths))
    if limit and limit < len(labels):
        keep = torch.randperm(len(labels), generator=torch.Generator().manual_seed(SUBSET_SEED))[:limit]
        keep, _ = keep.sort()
        images, labels = images[keep], labels[keep]
    return Split(images.to(device), labels.to(device))


def load_data(
    dataset: DatasetName,
    data_dir: str = "",
    device: torch.device | str = "cpu",
    train_limit: int = 0,
    test_limit: int = 0,
    download: bool = True,
) -> DataBundle:
    """Both splits of a dataset, resident on `device` (parsed once per process)."""
    files = locate_files(dataset, data_dir, download)
    device = torch.device(device)
    return DataBundle(
        train=load_split(files["train"], device, train_limit),
        test=load_split(files["test"], device, test_limit),
    )


def write_idx(path: Path, array: np.ndarray) -> None:
    """Write a uint8 array as an IDX file (gzipped if the name ends in .gz)."""
    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    opener = gzip.open if path.suffix == ".gz" else open
    path.parent.mkdir(parents=True, exist_ok=True)
    with opener(path, "wb") as fh:
        fh.write(header + array.tobytes())


def synthetic_images(labels: np.ndarray, rng: np.random.Generator, chunk: int = 10_000) -> np.ndarray:
    """Digits-like uint8 images [n, 28, 28] for `labels`: class k lights a distinct set of blocks;
    random dimming and sparse noise keep it from being trivial. Built in chunks (small memory)."""
    prototypes = np.zeros((10, 28, 28), dtype=np.float32)
    for k in range(10):
        r, c = divmod(k, 5)
        prototypes[k, 2 + 12 * r : 12 + 12 * r, 1 + 5 * c : 6 + 5 * c] = 1.0
        prototypes[k, 24:27, 2 * k + 3 : 2 * k + 6] = 1.0
    out = np.empty((len(labels), 28, 28), dtype=np.uint8)
    for start in range(0, len(labels), chunk):
        lab = labels[start : start + chunk]
        scale = rng.uniform(0.6, 1.0, size=(len(lab), 1, 1))
        noise = rng.uniform(0.0, 0.3, size=(len(lab), 28, 28))
        images = np.clip(prototypes[lab] * scale + noise * (rng.random((len(lab), 28, 28)) < 0.2), 0, 1)
        out[start : start + len(lab)] = (images * 255).round().astype(np.uint8)
    return out


def make_synthetic(root: Path | str, n_train: int = 2000, n_test: int = 500, seed: int = 0,
                   dataset: DatasetName = DatasetName.MNIST) -> Path:
    """A small learnable dataset (`synthetic_images`) in torchvision's file layout under `root`,
    for tests and demos on machines that have no MNIST."""
    rng = np.random.default_rng(seed)
    raw = Path(root) / FOLDERS[DatasetName(dataset)] / "raw"
    for split, n in (("train", n_train), ("test", n_test)):
        labels = rng.integers(0, 10, size=n).astype(np.uint8)
        img_name, lbl_name = FILES[split]
        write_idx(raw / img_name, synthetic_images(labels, rng))
        write_idx(raw / lbl_name, labels)
    return Path(root)
