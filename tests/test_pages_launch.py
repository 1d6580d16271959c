"""The Launch page offers the encoders and surrogates of the tables (`snn_core.encoder_table`,
`snn_core.surrogate_table`), and sweeps the surrogate: nothing in the form lists them by hand."""

from __future__ import annotations

from tests.pagekit import page, texts, widget


def test_launch_offers_the_tables_encoders_and_surrogates_and_sweeps_the_surrogate(store):
    from snn_core.encoder_table import ENCODERS
    from snn_core.surrogate_table import SURROGATES

    at = page("pages/launch.py")
    assert widget(at, "radio", "f_encoder").options == [e.value for e in ENCODERS]
    assert widget(at, "selectbox", "f_surrogate").options == [s.value for s in SURROGATES]
    assert widget(at, "selectbox", "f_surrogate").value == "sigmoid"
    widget(at, "selectbox", "f_surrogate").set_value("fast_sigmoid").run()
    widget(at, "button", "launch_run").click().run()
    assert not at.exception and store.list_runs()[0].config["surrogate"] == "fast_sigmoid"

    at = page("pages/launch.py")
    widget(at, "toggle", "sweep_mode").set_value(True).run()
    widget(at, "multiselect", "sweep_axes").set_value(["surrogate"]).run()
    assert widget(at, "text_input", "sweep_values_surrogate").value == ", ".join(s.value for s in SURROGATES)
    assert "**3 runs** in **3 jobs**" in texts(at)  # a pack shares one surrogate
    widget(at, "button", "launch_sweep").click().run()
    assert not at.exception
    runs = [store.get_run(i) for i in store.list_sweeps()[0]["run_ids"]]  # fast_sigmoid's: the run launched above
    assert sorted(r.config["surrogate"] for r in runs) == sorted(s.value for s in SURROGATES)
