"""`SearchSpec`: validated at the boundary (one ValueError naming the field and value), JSON round trip."""

from __future__ import annotations

import pytest

from snn_core.config import RunConfig
from workers.search_spec import Param, SearchSpec, parse_param

from tests.searchkit import tiny_spec


def test_parse_param_reads_ranges_log_ranges_ints_and_choices():
    assert parse_param("beta=0.5:0.95") == Param("beta", "float", 0.5, 0.95)
    assert parse_param("lr=1e-4:1e-2:log") == Param("lr", "float", 1e-4, 1e-2, log=True)
    assert parse_param("T=10:50") == Param("T", "int", 10, 50)
    assert parse_param("encoder=bernoulli,image") == Param("encoder", "choice", choices=("bernoulli", "image"))
    assert parse_param("hidden=32,64") == Param("hidden", "choice", choices=(32, 64))


@pytest.mark.parametrize("text, message", [
    ("beta=0.9:0.5", r"space beta: range must have low < high, got 0.9:0.5 \(reversed\)"),
    ("beta=0.5:0.5", r"space beta: range must have low < high, got 0.5:0.5 \(empty\)"),
    ("lr=0:0.1:log", "space lr: a log range needs low > 0, got 0.0"),
    ("gamma=1:2", "space field must be one of .*got 'gamma'"),
    ("encoder=bernoulli,morse", "space encoder: choice must be one of .*got 'morse'"),
    ("T=1.5:4", "space T: range ends must be ints"),
    ("beta", "space must read field=low:high"),
    ("loss=0:1", "space loss: loss takes choices"),
])
def test_bad_space_names_the_field_and_value(text, message):
    with pytest.raises(ValueError, match=message):
        parse_param(text)


@pytest.mark.parametrize("changes, message", [
    (dict(budget_epochs=0, budget_seconds=0.0), "budget must be > 0"),
    (dict(budget_epochs=-3), "budget_epochs must be an integer >= 0, got -3"),
    (dict(budget_seconds=float("nan")), "budget_seconds must be a number >= 0"),
    (dict(objective="speed"), "objective must be one of accuracy, accuracy\\+sops, accuracy\\+flops, got 'speed'"),
    (dict(max_running=0), "max_running must be in 1..64, got 0"),
    (dict(rungs=(3, 1)), r"rungs must be increasing epochs >= 1, got \[3, 1\]"),
    (dict(eta=1), "eta must be an integer >= 2, got 1"),
    (dict(space=()), "space must name at least one field"),
    (dict(space=(Param("beta", "float", 0.5, 1.5),)), "space beta: value 1.5 is invalid: beta must be in"),
    (dict(space=(Param("T", "int", 0, 4),)), "space T: value 0 is invalid"),
    (dict(space=(Param("beta", "float", 0.5, 0.9), Param("beta", "float", 0.6, 0.7))), "space names a field twice"),
    (dict(rungs=tuple(range(1, 18))), "rungs: at most 16, got 17"),
    (dict(start_from=("r",) * 1001), "start_from: at most 1000 ids, got 1001"),
])
def test_bad_spec_names_the_field_and_value(changes, message):
    with pytest.raises(ValueError, match=message):
        tiny_spec(**changes)


def test_json_round_trip_and_the_configs_it_makes():
    spec = tiny_spec(space=(Param("beta", "float", 0.5, 0.95), Param("hidden", "int", 8, 32),
                            Param("encoder", "choice", choices=("bernoulli", "image"))), objective="accuracy+sops")
    again = SearchSpec.from_json(spec.to_json())
    assert again == spec and again.multi and again.cost == "synops"
    assert spec.base.epochs == 4  # the last rung
    config = spec.to_config({"beta": 0.6, "hidden": 16, "encoder": "bernoulli"})
    assert config == spec.base.replace(beta=0.6, hidden=(16,), encoder="bernoulli")
    assert spec.params_of(config.to_dict()) == {"beta": 0.6, "hidden": 16, "encoder": "bernoulli"}
    assert spec.params_of(config.replace(beta=0.99).to_dict()) is None  # outside the space
    assert spec.params_of(config.replace(T=9).to_dict()) is None  # differs from the base elsewhere
    with pytest.raises(ValueError, match="search spec has unknown field"):
        SearchSpec.from_dict({**spec.to_dict(), "budget": 3})
    with pytest.raises(ValueError, match="data_dir"):
        tiny_spec(base=RunConfig(data_dir="/etc"))


def test_oversized_specs_are_refused_before_they_are_parsed():
    with pytest.raises(ValueError, match="space T: at most 64 choices, got 65"):
        parse_param("T=" + ",".join(str(t) for t in range(1, 66)))
    with pytest.raises(ValueError, match=r"search spec is 70,0\d\d bytes; at most 65,536"):
        SearchSpec.from_json('{"space": [], "pad": "' + "x" * 70_000 + '"}')
