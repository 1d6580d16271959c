"""Fidelity fixes of issue 9: distinct random streams, one surrogate on both engines, clean FLOP numbers,
and stored runs keeping the membrane start they trained with."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from snn_core import kernels
from snn_core.config import MembraneInit, RunConfig
from snn_core.neurons import surrogate_grad
from snn_core.streams import STREAMS, stream_seed


# -- random streams -----------------------------------------------------------------

SEEDS = [*range(0, 60), 999, 1000, 1001, 2**31 - 2, 2**31 - 1]
EPOCHS = range(0, 31)


def all_stream_seeds():
    for seed in SEEDS:
        for stream in STREAMS:
            epochs = EPOCHS if stream == "eval" else [0]
            for epoch in epochs:
                yield (stream, seed, epoch), stream_seed(stream, seed, epoch)


def test_no_two_streams_share_a_seed_for_any_seed_and_epoch():
    seen: dict[int, tuple] = {}
    for where, value in all_stream_seeds():
        assert 0 <= value < 2**63
        assert value not in seen, f"{where} and {seen[value]} share the seed {value}"
        seen[value] = where
    assert len(seen) == len(SEEDS) * (3 + len(EPOCHS))


def test_the_first_evaluation_no_longer_replays_the_first_training_batch():
    # Old derivation: training input seed + 1, evaluation seed * 1000 + epoch: equal for seed 0, epoch 1.
    images = torch.rand(8, 784, generator=torch.Generator().manual_seed(5))
    from snn_core.encoders import encode

    for seed in range(4):
        for epoch in (1, 2):
            train = encode(images, "bernoulli", 5, torch.Generator().manual_seed(stream_seed("train", seed)))
            test = encode(images, "bernoulli", 5, torch.Generator().manual_seed(stream_seed("eval", seed, epoch)))
            assert not torch.equal(train, test), (seed, epoch)


def test_training_seeds_its_generators_from_the_derived_streams(monkeypatch):
    """fit draws its shuffling, training and evaluation streams from stream_seed, at the right epochs."""
    from snn_core import training
    from snn_core.data import DataBundle, Split

    asked: list[tuple] = []
    real = training.stream_seed

    def spy(stream, seed, epoch=0):
        asked.append((stream, seed, epoch))
        return real(stream, seed, epoch)

    monkeypatch.setattr(training, "stream_seed", spy)
    gen = torch.Generator().manual_seed(0)
    split = lambda n: Split(torch.randint(0, 256, (n, 784), generator=gen, dtype=torch.uint8),  # noqa: E731
                            torch.randint(0, 10, (n,), generator=gen))
    training.fit(RunConfig(T=3, epochs=2, seed=7, batch_size=16), data=DataBundle(train=split(32), test=split(20)))
    assert sorted(set(asked)) == [("eval", 7, 1), ("eval", 7, 2), ("init", 7, 0), ("shuffle", 7, 0), ("train", 7, 0)]


@pytest.mark.parametrize("stream, seed, epoch, field", [("nope", 0, 0, "stream"), ("train", -1, 0, "seed"),
                                                        ("eval", 0, -2, "epoch"), ("eval", 1.5, 0, "seed")])
def test_bad_stream_arguments_name_the_field(stream, seed, epoch, field):
    with pytest.raises(ValueError, match=f"^{field} must be"):
        stream_seed(stream, seed, epoch)


# -- the surrogate on both engines --------------------------------------------------

@pytest.mark.skipif(kernels.numba is None, reason="needs numba")
def test_numba_and_torch_surrogates_agree_beyond_the_cutoff():
    z = 2.0
    y = np.array([0.0, 1.0, 10.0, 39.0, 39.99, 40.0, 40.5, 44.0, 60.0, 500.0, 1e6], dtype=np.float32)  # z*y: 0..2e6
    membranes = np.concatenate([1.0 + y, 1.0 - y]).astype(np.float32)[None, :]  # V_th = 1, both signs
    M = membranes.shape[1]
    ones = lambda v: np.full(M, v, dtype=np.float32)  # noqa: E731
    # Two steps with beta = 0: the current's gradient at step 0 is a_1 = local_1, the surrogate itself.
    two = np.concatenate([membranes, membranes])
    out = np.empty_like(two)
    kernels.lif_backward(np.ones_like(two), two, ones(0.0), ones(1.0), ones(z), out)
    numba_local = out[0]
    torch_local = surrogate_grad(torch.from_numpy(membranes[0]) - 1.0, z).numpy()
    beyond = np.abs(z * (membranes[0] - 1.0)) >= kernels.SURROGATE_CUTOFF
    assert beyond.sum() == 12 and (~beyond).sum() == 10
    assert np.all(numba_local[beyond] == 0.0) and np.all(torch_local[beyond] == 0.0)
    np.testing.assert_allclose(numba_local[~beyond], torch_local[~beyond], rtol=1e-5, atol=0)
    assert np.all(numba_local[~beyond] > 0)


# -- FLOPs CLI ------------------------------------------------------------------------

def test_flops_json_prints_clean_numbers():
    out = subprocess.run([sys.executable, "-m", "snn_core.flops", "--T", "50", "--rates", "0.08,0.02", "--json"],
                         check=True, capture_output=True, text=True).stdout
    assert '"synaptic_ops": 31460,' in out and "0000000" not in out and "9999999" not in out, out
    data = json.loads(out)
    assert data["snn_total"] == 63920 and data["snn_per_layer_per_step"] == [1264.4, 14]


# -- stored runs keep their membrane start --------------------------------------------

def test_the_default_is_the_labs_start_and_stored_configs_keep_theirs():
    assert RunConfig().membrane_init is MembraneInit.KAIMING
    old = {k: v for k, v in RunConfig().to_dict().items() if k != "membrane_init"}  # written before the field
    assert RunConfig.from_stored(old).membrane_init is MembraneInit.ZERO
    assert RunConfig.from_stored({**old, "membrane_init": "kaiming"}).membrane_init is MembraneInit.KAIMING
    assert RunConfig.from_dict(old).membrane_init is MembraneInit.KAIMING  # a new config gets today's default


def test_an_old_record_reads_as_zero_start(store):
    from workers.store import Keys

    config = RunConfig(epochs=1)
    record = store.create_run(config)
    old = {k: v for k, v in config.to_dict().items() if k != "membrane_init"}
    store.conn.hset(Keys.run(record.id), "config", json.dumps(old))
    back = store.get_run(record.id)
    assert back.config["membrane_init"] == "zero" and back.run_config().membrane_init is MembraneInit.ZERO
    assert store.get_run(store.create_run(config).id).config["membrane_init"] == "kaiming"
