"""The lab's studies as presets (read against issue 9's values), and the verdicts on planted data."""

from __future__ import annotations

import copy
import random

import pytest

from snn_core.config import RunConfig
from snn_core.lab import FLOPS_CLAIM, STUDIES, SWEEP_BASE, TABLE1_BASE, lab_configs, study_keys
from workers import lab_report, report_text
from workers.lab_report import FAILS, HOLDS, UNSHOWN


# -- presets ----------------------------------------------------------------------------

def test_presets_are_the_labs_grids_and_settings():
    lab = {"epochs": 10, "lr": 1e-3, "batch_size": 64, "test_batch_size": 100, "membrane_init": "kaiming",
           "encoder": "bernoulli", "loss": "mse"}
    sweep_base = {**lab, "T": 5, "beta": 0.8, "z": 1.0, "v_th": 1.0}
    table1 = {**lab, "T": 50, "z": 2.0, "v_th": 1.5, "beta": 0.7}
    for name, base in (("sweep", SWEEP_BASE), ("table 1", TABLE1_BASE)):
        want = sweep_base if name == "sweep" else table1
        assert {k: base.to_dict()[k] for k in want} == want, name
    assert {k: (s.field, list(s.values), s.base) for k, s in STUDIES.items()} == {
        "beta": ("beta", [0.5, 0.7, 0.8, 0.9, 0.95, 0.99], SWEEP_BASE),
        "T": ("T", [5, 10, 20, 50, 100], SWEEP_BASE),
        "z": ("z", [0.5, 1, 2, 5, 10], SWEEP_BASE),
        "vth": ("v_th", [0.5, 0.75, 1.0, 1.25, 1.5], SWEEP_BASE),
        "vth-wide": ("v_th", [0.25, 0.5, 1, 2, 3], SWEEP_BASE),
        "encoder": ("encoder", ["image", "threshold", "bernoulli"], TABLE1_BASE),
        "loss": ("loss", ["mse", "ce"], TABLE1_BASE),
    }
    assert study_keys("all") == list(STUDIES) and study_keys("z") == ["z"]
    with pytest.raises(ValueError, match="study must be one of .*got 'gamma'"):
        study_keys("gamma")


def test_each_seed_is_a_separate_run_and_the_lab_shares_its_base():
    configs = lab_configs(["beta", "T"], seeds=3, dataset="fashion-mnist")
    assert [(c.beta, c.seed) for c in configs["beta"][:4]] == [(0.5, 0), (0.5, 1), (0.5, 2), (0.7, 0)]
    assert len(configs["beta"]) == 18 and len(configs["T"]) == 15
    assert all(c.dataset.value == "fashion-mnist" for cs in configs.values() for c in cs)
    shared = {c.config_hash() for c in configs["beta"]} & {c.config_hash() for c in configs["T"]}
    assert len(shared) == 3  # the sweep base (beta 0.8, T 5), once per seed
    all_configs = [c for cs in lab_configs(list(STUDIES)).values() for c in cs]
    assert len(all_configs) == 3 * (6 + 5 + 5 + 5 + 5 + 3 + 2)
    assert len({c.config_hash() for c in all_configs}) == 3 * 25
    with pytest.raises(ValueError, match="seeds must be an integer in 1..100, got 0"):
        lab_configs(["beta"], seeds=0)


# -- verdicts on planted data -----------------------------------------------------------------

def history(accs, losses=None, seconds=1.0, rates=(0.13, 0.2, 0.1)):
    losses = losses or [1 - a for a in accs]
    return [{"epoch": e, "train_loss": l * 1.1, "train_acc": a, "test_loss": l, "test_acc": a,
             "firing_rates": list(rates), "epoch_seconds": seconds, "samples_per_s": 5000 / seconds}
            for e, (a, l) in enumerate(zip(accs, losses), start=1)]


def planted(study_key: str, curve, seeds=3, noise=0.002, status="finished"):
    """Runs of a study whose accuracy curve is curve(value, seed) -> accs per epoch, plus a little noise."""
    study = STUDIES[study_key]
    rng = random.Random(0)
    runs = []
    for value in study.values:
        for seed in range(seeds):
            accs = [a + rng.uniform(-noise, noise) for a in curve(value, seed)]
            config = study.base.replace(**{study.field: value, "seed": seed}).to_dict()
            runs.append({"run_id": f"{study_key}-{value}-{seed}", "status": status, "value": value, "seed": seed,
                         "config": config, "history": history(accs, seconds=0.1 * config["T"])})
    return runs


def beta_lab(value, seed):  # higher beta faster early, the low ones catch up, gains shrink near 1
    early = {0.5: 0.50, 0.7: 0.60, 0.8: 0.64, 0.9: 0.67, 0.95: 0.69, 0.99: 0.70}[value]
    return [early, (early + 0.80) / 2, 0.80]


def test_beta_verdict_holds_on_data_like_the_labs_and_flips_when_planted_data_contradict():
    report = lab_report.study_report(STUDIES["beta"], planted("beta", beta_lab))
    assert report.verdict == HOLDS, [(c.text, c.verdict, c.mean) for c in report.claims]
    early = report.claims[0]
    assert early.n == 3 and early.agree == 3 and early.mean == pytest.approx(0.20, abs=0.01)
    assert report_text.describe(early) == (f"+{early.mean * 100:.2f} +- {early.se * 100:.2f} pts "
                                          "(mean +- se over 3 seeds; 3 of 3 seeds agree)")

    # Lower beta learns faster early instead: the first claim is contradicted, so the study does not hold.
    flipped = lab_report.study_report(STUDIES["beta"], planted("beta", lambda v, s: [1.2 - beta_lab(v, s)[0], 0.8, 0.8]))
    assert flipped.claims[0].verdict == FAILS and flipped.verdict == FAILS
    assert flipped.explanations, "a verdict that differs from the lab's says what in the setup could explain it"


def test_a_claim_within_the_seed_noise_is_not_shown_and_one_seed_is_never_enough():
    noisy = lab_report.study_report(STUDIES["loss"], planted("loss", lambda v, s: [0.8 + (0.03 if s % 2 else -0.03)
                                                                                   * (1 if v == "ce" else -1)] * 3))
    assert noisy.verdict == UNSHOWN and noisy.claims[0].reason.startswith("the seed-to-seed spread")
    ce_better = lambda v, s: [0.8 + (0.03 if v == "ce" else 0.0)] * 3  # noqa: E731
    assert lab_report.study_report(STUDIES["loss"], planted("loss", ce_better)).verdict == HOLDS
    one = lab_report.study_report(STUDIES["loss"], planted("loss", ce_better, seeds=1))
    assert one.verdict == UNSHOWN and "at least 2 seeds" in one.claims[0].reason
    # CE better by only half a point: the lab's "about 3 points" (at least 1) does not hold.
    small = lab_report.study_report(STUDIES["loss"], planted("loss", lambda v, s: [0.8 + (0.005 if v == "ce" else 0)] * 3,
                                                            noise=0.0005))
    assert small.verdict == FAILS and small.claims[0].reason == "the seeds show an effect smaller than claimed"


def test_unfinished_runs_do_not_count():
    ce_better = lambda v, s: [0.8 + (0.03 if v == "ce" else 0.0)] * 3  # noqa: E731
    runs = planted("loss", ce_better)
    for r in runs:
        if r["value"] == "ce":
            r["status"] = "running"
    report = lab_report.study_report(STUDIES["loss"], runs)
    assert report.verdict == UNSHOWN and report.finished == 3 and report.table[1].seeds == 0


@pytest.mark.parametrize("key, lab_like, contrary", [
    ("T", lambda v, s: [0.7 + 0.001 * v] * 3, lambda v, s: [0.9 - 0.001 * v] * 3),
    ("z", lambda v, s: [0.8 - 0.01 * abs(v - 2)] * 3, lambda v, s: [0.8 + 0.01 * abs(v - 2)] * 3),
    ("encoder", lambda v, s: [{"image": 0.7, "threshold": 0.75, "bernoulli": 0.8}[v]] * 3,
     lambda v, s: [{"image": 0.8, "threshold": 0.75, "bernoulli": 0.7}[v]] * 3),
])
def test_other_studies_follow_their_planted_data(key, lab_like, contrary):
    assert lab_report.study_report(STUDIES[key], planted(key, lab_like)).verdict == HOLDS
    assert lab_report.study_report(STUDIES[key], planted(key, contrary)).verdict == FAILS


def test_vth_claims_read_accuracy_and_both_losses():
    def curve(v, s):
        return [0.7 if v == 0.5 else 0.78 + 0.01 * v] * 3

    runs = planted("vth", curve)
    report = lab_report.study_report(STUDIES["vth"], runs)
    # planted losses are 1 - accuracy, so they fall as the threshold grows: the loss claims fail
    assert [c.verdict for c in report.claims] == [HOLDS, HOLDS, FAILS, FAILS]
    for r in runs:
        for e in r["history"]:
            e["test_loss"] = e["train_loss"] = 0.1 * r["value"]
    report = lab_report.study_report(STUDIES["vth"], runs)
    assert report.verdict == HOLDS and report.table[0].test_loss == pytest.approx(0.05)


def test_flops_verdict_reads_the_measured_rates_of_the_base_runs():
    runs = planted("T", lambda v, s: [0.8] * 3)
    data = {"id": "l000000000000", "studies": {"T": runs}}
    report = lab_report.build_report(data)
    rows = {r.run_id: r for r in report.flops.rows}
    assert len(rows) == 15
    row = rows["T-5-0"]
    # rates measured: input 0.13, hidden 0.2: SNN (2*784*0.13 - 1)*10 + 20 + (2*10*0.2 - 1)*10 + 20 per step, x5
    assert row.snn_flops == pytest.approx(((2 * 784 * 0.13 - 1) * 10 + 20 + (2 * 10 * 0.2 - 1) * 10 + 20) * 5)
    assert row.ann_flops == 15900 and row.ann_energy_nj == pytest.approx(7940 * 4.6 / 1000)
    assert row.snn_energy_nj == pytest.approx((784 * 0.13 * 10 + 10 * 0.2 * 10) * 5 * 0.9 / 1000)
    assert report.flops.verdict == FAILS  # measured input rate 0.13, not the assumed 1: fewer FLOPs than the ANN
    assert "assumed firing rates 1, 0.25" in report.flops.explanations[0]
    # Printed as the ratio the FLOPs table shows (about 0.25 here), not as ratio - 1 with "x ANN" after it.
    assert report_text.describe(report.flops.claim) == (f"{row.snn_over_ann:.3f} +- 0.000 x ANN (mean +- se over 3 "
                                                        "seeds; 0 of 3 seeds above 1)")
    assert report_text.per_seed_text(report.flops.claim).startswith(f"s0: {row.snn_over_ann:.3f}, s1: ")
    for r in runs:
        for e in r["history"]:
            e["firing_rates"] = [1.0, 0.25, 0.1]  # the lab's assumption, planted
    report = lab_report.build_report(data, {"mac_pj": 3.0, "ac_pj": 0.5})
    assert report.flops.verdict == HOLDS
    assert report.flops.claim.mean == pytest.approx(78750 / 15900 - 1)
    assert report.flops.rows[0].ann_energy_nj == pytest.approx(7940 * 3.0 / 1000)
    with pytest.raises(ValueError, match="ac_pj must be a number of picojoules > 0, got -1"):
        lab_report.build_report(data, {"mac_pj": 3.0, "ac_pj": -1})


def test_flops_claim_is_about_the_sweep_base():
    assert FLOPS_CLAIM.terms[0].values == (SWEEP_BASE.T,) and FLOPS_CLAIM.metric == "snn_over_ann"


def test_flat_results_read_as_not_holding_not_as_noise():
    """Every setting equal (seed noise of +-0.2 points only): no accuracy claim holds; they do not."""
    for key in STUDIES:
        report = lab_report.study_report(STUDIES[key], planted(key, lambda v, s: [0.5, 0.7, 0.8]))
        acc = [c.verdict for c in report.claims if c.metric == "test_acc"]
        assert acc and set(acc) == {FAILS}, (key, acc)
