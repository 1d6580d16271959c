"""Resource limits on configs (the operator's, from the environment) and the memory estimate."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from snn_core.config import RunConfig
from snn_core.limits import (ACTIVATION_COPIES, Limits, check_data_dir, check_fits, estimate_memory,
                             estimate_peak_bytes, largest_pack, weight_count)

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("field, value, message", [
    ("hidden", [1_000_000], "hidden widths must be at most 16384 (SPIKEBOARD_MAX_WIDTH), got [1000000]"),
    ("hidden", [10] * 9, "hidden must have at most 8 layers (SPIKEBOARD_MAX_LAYERS), got 9"),
    ("hidden", [16384, 16384], "hidden [16384, 16384] gives 281,477,130 weights, more than 32,000,000"),
    ("batch_size", 65536, "batch_size must be at most 4096 (SPIKEBOARD_MAX_BATCH), got 65536"),
    ("test_batch_size", 100_000, "test_batch_size must be at most 10000 (SPIKEBOARD_MAX_TEST_BATCH), got 100000"),
    ("epochs", 1_000_000, "epochs must be at most 1000 (SPIKEBOARD_MAX_EPOCHS), got 1000000"),
    ("T", 1001, "T must be an integer in 1..1000, got 1001"),
    ("seed", 2**60, "seed must be an integer in 0..2147483647, got 1152921504606846976"),
    ("train_limit", 10**30, "train_limit must be an integer in 0..1000000000"),
    ("beta", 10**400, "beta must be in (0, 1], got 1000000000"),
    ("lr", -10**400, "lr must be a number > 0, got -1000000000"),
    ("z", float("inf"), "z must be a number > 0, got inf"),
])
def test_limits_name_the_field_and_the_value(field, value, message):
    with pytest.raises(ValueError) as err:
        RunConfig(**{field: value})
    assert message in str(err.value)
    assert len(str(err.value)) < 400  # a huge value is cut short in the message


def test_the_largest_allowed_values_are_accepted():
    RunConfig(T=1000, epochs=1000, seed=2**31 - 1, hidden=[4096])
    RunConfig(T=500, hidden=[16384])
    RunConfig(batch_size=4096, test_batch_size=10000, T=10, hidden=[1024, 1024, 1024])
    RunConfig(hidden=[10] * 8)


def test_memory_estimate_refuses_a_run_that_eats_the_machine():
    with pytest.raises(ValueError, match=r"^batch_size 4096: this run needs about \d+\.\d GiB of memory .* "
                                         r"more than the limit of 32.0 GiB \(SPIKEBOARD_MAX_RUN_MEMORY_GB\)"):
        RunConfig(T=1000, batch_size=4096, hidden=[4096])
    with pytest.raises(ValueError, match=r"^test_batch_size 10000: "):
        RunConfig(T=1000, test_batch_size=10000, hidden=[4096])


def test_config_keys_and_shapes_that_are_not_fields_give_value_errors():
    for bad in ({1: 2}, {"beta": 0.5, (1, 2): 3}, {None: 1}):
        with pytest.raises(ValueError, match="unknown config field"):
            RunConfig.from_dict(bad)
    for bad in ([1, 2], "beta", None, 3):
        with pytest.raises(ValueError, match="config must be an object"):
            RunConfig.from_dict(bad)
    with pytest.raises(ValueError, match="config JSON must be an object"):
        RunConfig.from_json("[1, 2]")
    with pytest.raises(ValueError, match="config is not valid JSON: nested too deeply"):
        RunConfig.from_json("[" * 100_000 + "]" * 100_000)


def test_the_operator_sets_limits_through_the_environment(monkeypatch):
    monkeypatch.setenv("SPIKEBOARD_MAX_EPOCHS", "5")
    RunConfig(epochs=5)
    with pytest.raises(ValueError, match=r"epochs must be at most 5 \(SPIKEBOARD_MAX_EPOCHS\), got 6"):
        RunConfig(epochs=6)
    monkeypatch.setenv("SPIKEBOARD_MAX_RUN_MEMORY_GB", "0.5")
    with pytest.raises(ValueError, match="limit of 0.5 GiB"):
        RunConfig(epochs=1)  # the baseline needs ~0.8 GiB with the process
    monkeypatch.setenv("SPIKEBOARD_MAX_T", "lots")
    with pytest.raises(ValueError, match="SPIKEBOARD_MAX_T must be a number, got 'lots'"):
        RunConfig()
    # A submitter has no way in: the limits are no config fields.
    with pytest.raises(ValueError, match="unknown config field"):
        RunConfig.from_dict({"max_epochs": 10**6})


def test_estimate_formula_and_packs():
    est = estimate_memory(RunConfig(T=10, batch_size=100, test_batch_size=100, hidden=[90], encoder="image",
                                    train_limit=1000, test_limit=1000))
    assert est.train_activations == est.eval_activations == 4 * 10 * 100 * ACTIVATION_COPIES * 100
    assert est.weights == 32 * weight_count([90]) == 32 * (784 * 90 + 90 + 90 * 10 + 10)
    assert est.data == 2000 * 792
    bern = estimate_memory(RunConfig(T=10, batch_size=100, hidden=[90], train_limit=1000, test_limit=1000))
    assert bern.train_activations == est.train_activations + 4 * 10 * 100 * 784
    packed = estimate_memory(RunConfig(T=10, batch_size=100, hidden=[90], train_limit=1000, test_limit=1000), 4)
    assert packed.weights == 4 * bern.weights
    assert packed.train_activations == 4 * 10 * 100 * (784 + 4 * ACTIVATION_COPIES * 100)
    big = RunConfig(T=200, batch_size=2048, hidden=[2048])
    assert largest_pack(big, Limits(), 32) < 32
    assert estimate_peak_bytes(big, largest_pack(big, Limits(), 32)) <= Limits().max_run_memory_bytes


def test_worker_side_check_against_free_memory():
    config = RunConfig(T=100, batch_size=1024, hidden=[1000])
    need = estimate_memory(config).training
    check_fits(config, "cpu", available=need + 1)
    with pytest.raises(ValueError, match=r"batch_size 1024: this run needs about .* this worker has 1.0 GiB free"):
        check_fits(config, "cpu", available=2**30)
    check_fits(RunConfig(), "cpu")  # this machine's own free memory holds the baseline


def test_data_dir_only_inside_the_operators_roots(tmp_path):
    root = tmp_path / "datasets"
    (root / "mnist").mkdir(parents=True)
    check_data_dir("", [])
    check_data_dir(str(root / "mnist"), [str(root)])
    for bad in ("/etc", str(root / ".." / "elsewhere"), "relative/path", str(tmp_path)):
        with pytest.raises(ValueError, match="data_dir must be empty .* SPIKEBOARD_DATA_ROOTS"):
            check_data_dir(bad, [str(root.resolve())])
    (root / "link").symlink_to("/etc")
    with pytest.raises(ValueError, match="data_dir must be empty"):
        check_data_dir(str(root / "link"), [str(root.resolve())])
    with pytest.raises(ValueError, match=r"\(none set\), got '/data'"):
        check_data_dir("/data", [])


MEASURE = """
import json, sys, threading, time
import torch
from snn_core.config import RunConfig
from snn_core.data import load_data
from snn_core.limits import estimate_memory
from snn_core.training import fit


def anon() -> int:  # resident anonymous memory: what tensors use (file-backed library pages may be evicted)
    with open("/proc/self/status") as fh:
        return next(int(line.split()[1]) * 1024 for line in fh if line.startswith("RssAnon:"))


torch.set_num_threads(1)
config = RunConfig(**json.loads(sys.argv[1]))
data = load_data(config.dataset, config.data_dir, "cpu", config.train_limit, config.test_limit)
before, peak, done = anon(), [0], threading.Event()


def sample():
    while not done.is_set():
        peak[0] = max(peak[0], anon())
        time.sleep(0.002)


thread = threading.Thread(target=sample)
thread.start()
fit(config, data=data)
done.set()
thread.join()
est = estimate_memory(config)
print(json.dumps({"measured": peak[0] - before, "estimated": est.weights + est.activations}))
"""


@pytest.mark.timeout(120)
def test_estimate_matches_a_measured_run_roughly(synthetic_data_dir):
    config = dict(T=50, batch_size=512, test_batch_size=100, hidden=[500], epochs=1, train_limit=512,
                  test_limit=100, data_dir=str(synthetic_data_dir), device="cpu")
    out = subprocess.run([sys.executable, "-c", MEASURE, json.dumps(config)], cwd=ROOT, capture_output=True,
                         text=True, timeout=110, env={"PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
                                                      "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    ratio = got["measured"] / got["estimated"]
    assert 0.6 < ratio < 1.6, got


def test_limits_module_and_config_import_no_torch():
    code = "import sys, snn_core.config, snn_core.limits; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr


def test_a_sweep_too_big_is_refused_in_one_call_and_nothing_is_queued(redis_conn, monkeypatch):
    from workers import submission

    axes = {"beta": [round(0.01 * i, 2) for i in range(1, 41)], "seed": list(range(50))}
    with pytest.raises(ValueError, match=r"sweep would make 2000 runs \(40 beta x 50 seed\), more than 500 "
                                         r"\(SPIKEBOARD_MAX_SWEEP\)"):
        submission.submit_sweep(redis_conn, RunConfig(), axes)
    with pytest.raises(ValueError, match="sweep value .* hidden widths must be at most"):
        submission.submit_sweep(redis_conn, RunConfig(), {"hidden": [[10], [10**6]]})
    with pytest.raises(ValueError, match="sweep value .* data_dir must be empty"):
        submission.submit_sweep(redis_conn, RunConfig(), {"data_dir": ["", "/etc"]})
    assert redis_conn.dbsize() == 0
    monkeypatch.setenv("SPIKEBOARD_MAX_SWEEP", "2000")
    assert len(submission.sweep_configs(RunConfig(), axes)) == 2000  # the operator's choice


def test_a_sweep_packs_only_as_many_runs_as_fit_the_memory_limit(redis_conn, monkeypatch):
    from workers import connection, submission

    monkeypatch.setenv("SPIKEBOARD_MAX_RUN_MEMORY_GB", "4")
    base = RunConfig(T=100, batch_size=256, hidden=[1000])
    assert estimate_peak_bytes(base, 6) > 4 * 2**30 >= estimate_peak_bytes(base, 2)
    result = submission.submit_sweep(redis_conn, base, {"beta": [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]})
    jobs = connection.queue(redis_conn).jobs
    fit = largest_pack(base, Limits.from_env(), 6)
    assert len(result.results) == 6 and len(jobs) == -(-6 // fit)
    assert all(len(job.args[0]) <= fit for job in jobs if isinstance(job.args[0], list))
