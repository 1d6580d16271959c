import json

import pytest

from snn_core.config import Encoder, Loss, RunConfig, SWEEPS


def test_defaults_are_the_lab_baseline():
    c = RunConfig()
    assert (c.T, c.z, c.v_th, c.beta, c.encoder, c.loss) == (50, 2.0, 1.5, 0.7, Encoder.BERNOULLI, Loss.MSE)
    assert (c.lr, c.batch_size, c.test_batch_size, c.epochs, c.hidden) == (1e-3, 64, 100, 10, (10,))
    assert c.layer_sizes == (784, 10, 10)


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("beta", 1.7, "beta must be in (0, 1], got 1.7"),
        ("beta", 0, "beta must be in (0, 1], got 0"),
        ("beta", float("nan"), "beta must be in (0, 1], got nan"),
        ("T", 0, "T must be an integer in 1..1000, got 0"),
        ("T", 1001, "got 1001"),
        ("T", 2.5, "got 2.5"),
        ("z", 0, "z must be a number > 0, got 0"),
        ("z", -1.0, "got -1.0"),
        ("v_th", -0.5, "v_th must be a number > 0, got -0.5"),
        ("lr", 0.0, "lr must be a number > 0, got 0.0"),
        ("encoder", "poisson", "encoder must be one of image, threshold, bernoulli"),
        ("encoder", "poisson", "; got 'poisson'"),
        ("surrogate", "relu", "surrogate must be one of sigmoid, fast_sigmoid, arctan; got 'relu'"),
        ("loss", "nll", "loss must be one of mse, ce; got 'nll'"),
        ("dataset", "cifar", "dataset must be one of mnist, fashion-mnist; got 'cifar'"),
        ("device", "tpu", "device must be one of"),
        ("membrane_init", "ones", "membrane_init must be one of"),
        ("epochs", 0, "epochs must be an integer >= 1, got 0"),
        ("batch_size", 0, "batch_size must be an integer >= 1, got 0"),
        ("test_batch_size", -3, "test_batch_size must be an integer >= 1, got -3"),
        ("seed", -1, "seed must be an integer >= 0, got -1"),
        ("hidden", (10, 0), "hidden must be a list of integers >= 1, got (10, 0)"),
        ("train_limit", -5, "train_limit must be an integer >= 0, got -5"),
    ],
)
def test_each_bad_field_names_itself_and_the_value(field, value, message):
    with pytest.raises(ValueError) as err:
        RunConfig(**{field: value})
    assert message in str(err.value)


def test_boundaries_accepted():
    RunConfig(beta=1.0, T=1)
    RunConfig(T=1000, hidden=(), v_th=1e-3)


def test_json_round_trip_and_enums():
    c = RunConfig(beta=0.9, T=20, encoder="threshold", loss="ce", hidden=[32, 16], seed=3)
    assert c.encoder is Encoder.THRESHOLD and c.hidden == (32, 16)
    again = RunConfig.from_json(c.to_json())
    assert again == c
    assert json.loads(c.to_json())["encoder"] == "threshold"


def test_from_json_rejects_unknown_fields_and_garbage():
    with pytest.raises(ValueError, match="unknown config field"):
        RunConfig.from_dict({"betta": 0.5})
    with pytest.raises(ValueError, match="not valid JSON"):
        RunConfig.from_json("{nope")


def test_hash_is_stable_and_ignores_placement():
    a = RunConfig(beta=0.9)
    assert a.config_hash() == RunConfig(beta=0.9).config_hash()
    assert a.config_hash() == RunConfig(beta=0.9, data_dir="/elsewhere", device="cpu").config_hash()
    assert a.config_hash() != RunConfig(beta=0.9, seed=1).config_hash()
    assert a.config_hash() != RunConfig(beta=0.91).config_hash()
    # int and float spellings of the same value are the same experiment
    assert RunConfig(z=2).config_hash() == RunConfig(z=2.0).config_hash()


def test_frozen_and_diff():
    c = RunConfig()
    with pytest.raises(Exception):
        c.beta = 0.5  # type: ignore[misc]
    assert c.diff(c.replace(T=5, loss="ce")) == {"T": (50, 5), "loss": ("mse", "ce")}


def test_lab_sweeps_are_valid_configs():
    for field, values in SWEEPS.items():
        for v in values:
            RunConfig(**{field: v})


def test_a_stored_config_keeps_its_hash_and_reads_back_as_sigmoid():
    """Hashes written before the surrogate field existed (golden values from that version): dedup still
    finds those runs, and they read back with the sigmoid surrogate they trained with."""
    stored = {"T": 5, "beta": 0.8, "encoder": "image", "hidden": [16]}
    old = RunConfig.from_stored(stored)
    assert old.surrogate.value == "sigmoid"
    assert old.config_hash() == "db9217ae7922c0c0"
    assert RunConfig().config_hash() == "db3a136d78d4f1c8"
    assert RunConfig.from_stored({**stored, "surrogate": "sigmoid"}).config_hash() == "db9217ae7922c0c0"
    hashes = {RunConfig.from_stored({**stored, "surrogate": s}).config_hash() for s in ("sigmoid", "fast_sigmoid", "arctan")}
    assert len(hashes) == 3
    assert RunConfig.from_json(RunConfig(surrogate="arctan").to_json()).surrogate.value == "arctan"


def test_members_of_a_pack_share_one_surrogate():
    from snn_core.config import check_packable, pack_groups

    configs = [RunConfig(surrogate="sigmoid"), RunConfig(surrogate="arctan"), RunConfig(surrogate="arctan", beta=0.9)]
    with pytest.raises(ValueError, match="surrogate must be equal across a packed sweep"):
        check_packable(configs)
    assert pack_groups(configs) == [[0], [1, 2]]
