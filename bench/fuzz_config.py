"""Config fuzz: a few hundred random, hostile and edge-case configs through the Python API and the CLI.

    python -m bench.fuzz_config [--inputs 300] [--sweeps 60] [--processes 20] [--seed 0]

Against a real redis-server (no workers), each input is submitted
- through the Python API: `submission.submit_run(conn, config)` with the config as a dict (or not a
  dict at all), and `submission.submit_sweep` with random axes;
- through the CLI: `workers.__main__.main(["submit", ...])` in this process (the same code as
  `python -m workers submit`), and a sample of `--processes` inputs as real `python -m workers` processes.

Inputs mix valid values with random types, huge / NaN / inf / negative numbers, unknown and
non-string keys, and nested junk. Each outcome is one of: accepted; refused with a clear error (a
ValueError, or for the CLI exit 2 with one `error:` line, naming a field); refused unclearly; crashed
(any other exception, a traceback, another exit status). Target: crashed 0, unclear 0.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import random
import subprocess
import sys
import tempfile
from dataclasses import fields
from pathlib import Path

import redis

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from snn_core.config import RunConfig  # noqa: E402
from workers import submission  # noqa: E402
from workers.redis_server import start_redis  # noqa: E402

FIELDS = [f.name for f in fields(RunConfig)]
GOOD = {
    "beta": [0.5, 0.7, 0.9, 1.0], "T": [1, 5, 10, 50, 1000], "z": [0.5, 2.0, 100.0], "v_th": [0.5, 1.5],
    "encoder": ["image", "threshold", "bernoulli"], "loss": ["mse", "ce"], "hidden": [[10], [], [64, 32], [16384]],
    "epochs": [1, 10, 1000], "lr": [1e-3, 0.1], "batch_size": [1, 64, 4096], "test_batch_size": [1, 100, 10000],
    "seed": [0, 7, 2**31 - 1], "dataset": ["mnist", "fashion-mnist"], "membrane_init": ["zero", "kaiming"],
    "train_limit": [0, 100], "test_limit": [0, 50], "data_dir": [""], "device": ["auto", "cpu"],
}
JUNK = [
    None, True, False, "", "x", "0.5", "1e400", "nan", "-1", " ", "\0", "ü" * 40, "a" * 5000, [], [1], [[[]]],
    ["10"], [1.5], [-1], [0], [10**9], {}, {"a": 1}, {"__class__": "os.system"}, 0, -1, 1, 2, 7, 2**31, 2**53 + 1,
    2**63, 2**64, 10**400, -10**400, float("nan"), float("inf"), -float("inf"), 1e308, -0.0, 5e-324, 0.5, 3.7, -2.5,
    [10] * 100, [16385], [1_000_000], [2**70], "/etc", "../../etc", "~/data",
]


def random_value(rng: random.Random, name: str):
    if rng.random() < 0.35 and name in GOOD:
        return rng.choice(GOOD[name])
    if rng.random() < 0.1:  # nested junk
        return [rng.choice(JUNK), {"k": rng.choice(JUNK)}]
    return rng.choice(JUNK)


def random_config(rng: random.Random):
    roll = rng.random()
    if roll < 0.04:
        return rng.choice([[1, 2], "beta=0.5", None, 5, ["beta", 0.5], b"{}"])  # not a dict at all
    config = {}
    for name in rng.sample(FIELDS, rng.randint(1, 4)):
        config[name] = random_value(rng, name)
    if roll > 0.85:  # unknown and non-string keys
        key = rng.choice(["betta", "Beta", "max_epochs", "__init__", "", "t", 1, None, (1, 2), 2.5])
        config[key] = rng.choice(JUNK)
    return config


def random_axes(rng: random.Random):
    roll = rng.random()
    if roll < 0.1:
        return rng.choice([None, [], "beta", {"beta": "0.5"}, {1: [1]}, {"beta": []}, {"a": [1], "b": [2], "c": [3]}])
    axes = {}
    for name in rng.sample(FIELDS, rng.randint(1, 2)):
        n = rng.choice([1, 2, 3, 50, 700])
        axes[name] = [random_value(rng, name) for _ in range(min(n, 3))] * (n // min(n, 3))
    return axes


def is_clear(message: str) -> bool:
    """One line, short, naming a config field (or the config / sweep / option as a whole)."""
    names = FIELDS + ["config", "sweep", "axes", "argument", "unrecognized arguments", "base"]
    return "\n" not in message.strip() and len(message) < 800 and any(n in message for n in names)


def api_outcome(call) -> tuple[str, str]:
    try:
        call()
    except ValueError as exc:
        return ("refused" if is_clear(str(exc)) else "unclear"), str(exc)
    except Exception as exc:  # noqa: BLE001 - what the probe counts
        return "crashed", f"{type(exc).__name__}: {exc}"
    return "accepted", ""


def cli_args(config) -> list[str]:
    """The config as `python -m workers submit` options (what a shell user could type)."""
    if not isinstance(config, dict):
        return ["submit", "--config", str(config)]
    args = ["submit"]
    for key, value in config.items():
        flag = "--" + str(key).replace("_", "-") if key != "T" else "--T"
        text = ",".join(map(str, value)) if isinstance(value, list) else str(value)
        args += [flag, text]
    return args


def cli_outcome(argv: list[str]) -> tuple[str, str]:
    from workers.__main__ import main

    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = main(argv)
    except SystemExit as exc:
        code = exc.code
    except Exception as exc:  # noqa: BLE001
        return "crashed", f"{type(exc).__name__}: {exc}"
    return _classify(code, err.getvalue())


def _classify(code, stderr: str) -> tuple[str, str]:
    if "Traceback" in stderr or code not in (0, 2):
        return "crashed", f"exit {code}: {stderr[-300:]}"
    if code == 0:
        return "accepted", ""
    lines = stderr.strip().splitlines()
    ok = len(lines) == 1 and lines[0].startswith("error: ") and is_clear(lines[0])
    return ("refused" if ok else "unclear"), stderr.strip()


def report(name: str, outcomes: list[tuple[str, str]]) -> dict[str, int]:
    counts = {k: sum(o == k for o, _ in outcomes) for k in ("accepted", "refused", "unclear", "crashed")}
    print(f"{name}: {len(outcomes)} inputs: accepted {counts['accepted']}, refused with a clear error "
          f"{counts['refused']}, refused unclearly {counts['unclear']}, crashed {counts['crashed']}")
    for kind in ("crashed", "unclear"):
        for o, text in [x for x in outcomes if x[0] == kind][:5]:
            print(f"  {kind}: {text[:300]}")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=300)
    parser.add_argument("--sweeps", type=int, default=60)
    parser.add_argument("--processes", type=int, default=20, help="inputs also run as real CLI processes")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    configs = [random_config(rng) for _ in range(args.inputs)]
    axes = [random_axes(rng) for _ in range(args.sweeps)]
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        proc, url = start_redis(Path(tmp) / "redis")
        os.environ["REDIS_URL"] = url
        try:
            conn = redis.Redis.from_url(url)
            api = [api_outcome(lambda c=c: submission.submit_run(conn, c)) for c in configs]
            sweeps = [api_outcome(lambda a=a: submission.submit_sweep(conn, RunConfig(epochs=1), a)) for a in axes]
            cli = [cli_outcome(cli_args(c)) for c in configs]
            env = {**os.environ, "PYTHONPATH": str(ROOT)}
            sample = rng.sample(configs, min(args.processes, len(configs)))
            procs = []
            for c in sample:
                done = subprocess.run([sys.executable, "-m", "workers", *cli_args(c)], cwd=ROOT, env=env,
                                      capture_output=True, text=True, timeout=60)
                procs.append(_classify(done.returncode, done.stderr))
            for name, outcomes in (("submission.submit_run", api), ("submission.submit_sweep", sweeps),
                                   ("CLI submit (in-process)", cli), ("CLI submit (processes)", procs)):
                counts = report(name, outcomes)
                bad += counts["crashed"] + counts["unclear"]
            print(f"runs stored: {redis.Redis.from_url(url).zcard('spikeboard:runs')}")
        finally:
            proc.terminate()
            proc.wait(timeout=10)
    return 0 if bad == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
