"""The benchmark's data: one MNIST-like 60,000 x 784 training set shared by every implementation.

Fashion-MNIST from Debian's `dataset-fashion-mnist` when installed (flat layout in
/usr/share/datasets/fashion-mnist), else generated digits-like data of the same size.
Spikeboard reads the uint8 arrays through `snn_core.data`; the baselines read the same
arrays through torchvision (`baselines.MemoryMNIST`). This module does not import
torchvision, so `bench.memory` measures what a worker holds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from snn_core.config import DatasetName
from snn_core.data import DataBundle, DataNotFoundError, Split, load_data, synthetic_images

FASHION_DIR = "/usr/share/datasets/fashion-mnist"
SOURCES = ("auto", "fashion-mnist", "synthetic")


@dataclass
class BenchData:
    bundle: DataBundle  # uint8 images [N, 784] and int64 labels, on the CPU
    source: str  # what the data is, for the report


def synthetic_split(n: int, seed: int) -> Split:
    """n digits-like 28x28 uint8 images (`snn_core.data.synthetic_images`) with their labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 10, size=n)
    images = synthetic_images(labels, rng).reshape(n, 784)
    return Split(torch.from_numpy(images), torch.from_numpy(labels.astype(np.int64)))


def load_bench_data(source: str = "auto", data_dir: str = FASHION_DIR, seed: int = 0) -> BenchData:
    """Fashion-MNIST from `data_dir` (never downloaded), else 60k/10k generated samples."""
    if source not in SOURCES:
        raise ValueError(f"data source must be one of {', '.join(SOURCES)}; got {source!r}")
    if source != "synthetic":
        try:
            bundle = load_data(DatasetName.FASHION_MNIST, data_dir, "cpu", download=False)
            return BenchData(bundle, f"Fashion-MNIST ({len(bundle.train)} x 784, from {data_dir})")
        except DataNotFoundError:
            if source == "fashion-mnist":
                raise
    bundle = DataBundle(train=synthetic_split(60_000, seed), test=synthetic_split(10_000, seed + 1))
    return BenchData(bundle, "generated digits-like data (60000 x 784; Fashion-MNIST not installed)")


def subset(split: Split, n: int) -> Split:
    """The first n samples of a split (a view, no copy)."""
    return Split(split.images[:n], split.labels[:n])
