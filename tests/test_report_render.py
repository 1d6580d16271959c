"""`webui.report_render`: the one drawing of a lab report that the page and the HTML export share."""

from __future__ import annotations

import html
import re

import pytest

from tests.labkit import loss_lab, study_lab
from webui import report_render as rr
from workers import labs
from workers.lab_report import build_report
from workers.store import RunStatus


def test_the_html_export_writes_every_block_the_page_lays_out(store):
    lab_id = loss_lab(store, ce_acc=0.78, mse_acc=0.80)  # CE worse: does not hold, with explanations
    data = labs.lab_data(store, lab_id)
    report = build_report(data)
    blocks = rr.report_blocks(report)
    kinds = {type(b) for b in blocks}
    assert kinds == {rr.Heading, rr.Quote, rr.Verdict, rr.Table, rr.Bullets, rr.Figures, rr.Note}
    assert [b.anchor for b in blocks if isinstance(b, rr.Heading)] == ["summary", "study-loss", "flops"]
    assert [b.verdict for b in blocks if isinstance(b, rr.Verdict)] == ["does not hold", report.flops.verdict]
    keys = [b.key for b in blocks if isinstance(b, rr.Table)] + [k for b in blocks if isinstance(b, rr.Figures)
                                                                 for k in b.keys]
    assert len(keys) == len(set(keys))  # the page's widget keys never clash
    text = rr.report_html(report)
    for block in blocks:
        if isinstance(block, (rr.Heading, rr.Quote, rr.Note)):
            assert html.escape(block.text) in text, block
        elif isinstance(block, rr.Table):
            assert all(html.escape(v) in text for row in block.rows for v in row.values()), block.key
        elif isinstance(block, rr.Bullets):
            assert all(html.escape(x) in text for x in block.items)
    assert text.count('class="js-plotly-plot"') + text.count("Plotly.newPlot") >= 4  # 3 curves + the FLOPs bars
    rows = rr.report_csv(report, data).splitlines()
    assert len(rows) == 1 + 8 and rows[0].startswith("study,field,value,seed,run_id")


def test_a_block_it_does_not_know_is_refused():
    with pytest.raises(TypeError, match="block must be one of"):
        rr.block_html("a string")


def test_the_renderer_itself_imports_neither_streamlit_nor_torch():
    from tests.test_layout import ROOT, import_graph

    source = (ROOT / "webui" / "report_render.py").read_text()
    assert "import streamlit" not in source and "import torch" not in source
    assert not {m for m in import_graph()["webui.report_render"] if m.startswith(("pages", "snn_core.training"))}


def _body_text(page: str) -> str:
    """The document's text outside its scripts (plotly.js and the figures' JSON), still HTML-escaped."""
    return re.sub(r"<script\b.*?</script>", "", page, flags=re.S)


def test_the_header_is_escaped_once_and_counts_seeds_in_the_singular(store):
    lab_id = study_lab(store, "loss", lambda loss, seed: 0.8, seeds=1)
    page = rr.report_html(build_report(labs.lab_data(store, lab_id)))
    body = _body_text(page)
    header = re.search(r'<h1>.*?</h1>\s*<p class="muted">(.*?)</p>', body, flags=re.S).group(1)
    assert html.unescape(header).endswith("; 1 seed per setting; the lab's settings; 2 of 2 runs finished.")
    assert "the lab&#x27;s settings" in header  # one escape: the browser shows an apostrophe
    assert "&amp;" not in body and "1 seeds" not in body and "1 runs" not in body
    assert rr.lab_line({"seeds": 3, "settings": {"dataset": "fashion_mnist"}}) == \
        "3 seeds per setting; the lab's settings, except dataset fashion_mnist"


def test_a_one_seed_lab_says_where_its_verdicts_would_be_why_there_are_none(store):
    lab_id = study_lab(store, "beta", lambda beta, seed: 0.6 + 0.3 * beta, seeds=1, epochs=None)
    report = build_report(labs.lab_data(store, lab_id))
    blocks = rr.report_blocks(report)
    verdicts = [b for b in blocks if isinstance(b, rr.Verdict)]
    assert [v.verdict for v in verdicts] == ["not shown by this data"] * 2  # beta, FLOPs
    for v in verdicts:
        assert v.why.startswith("Verdicts need finished runs of at least 2 seeds for every value a claim compares; "
                                "this lab ran 1 seed per setting. Launch it again with 3 seeds"), v.why
    assert "--study beta --seeds 3" in verdicts[0].why and "--study beta --seeds 3" in verdicts[1].why
    summary = blocks[2]  # right under the summary table, where the verdicts column reads "not shown"
    assert isinstance(summary, rr.Bullets) and summary.items == [f"Membrane leak beta, FLOPs: {verdicts[0].why}"]
    page = rr.report_html(report)
    assert page.count(f'<p class="why">{html.escape(verdicts[0].why)}</p>') == 2


def test_a_lab_still_training_says_how_many_seeds_have_finished(store):
    lab_id = loss_lab(store, ce_acc=0.84, mse_acc=0.80, seeds=2)
    ce_seed_1 = store.get_sweep(store.get_lab(lab_id)["studies"]["loss"])["run_ids"][3]
    store.set_status(ce_seed_1, RunStatus.RUNNING)
    study = build_report(labs.lab_data(store, lab_id)).studies[0]
    assert study.verdict == "not shown by this data"
    assert study.why.endswith("; so far 1 seed has them (3 of 4 runs finished).")
    store.set_status(ce_seed_1, RunStatus.FINISHED)
    assert build_report(labs.lab_data(store, lab_id)).studies[0].why == ""


def test_the_flops_claim_prints_the_ratio_the_flops_table_shows(store):
    lab_id = study_lab(store, "T", lambda T, seed: 0.8 + 0.001 * seed, seeds=2, epochs=None)
    report = build_report(labs.lab_data(store, lab_id))
    claim = rr.claim_rows([report.flops.claim])[0]
    base = [r for r in rr.flops_rows(report.flops) if r["T"] == "5"]
    assert len(base) == 2 and len({r["SNN / ANN"] for r in base}) == 1
    ratio = base[0]["SNN / ANN"]  # 1.493: the stored runs fire at 0.3 (input) and 0.12 (hidden)
    assert claim["numbers"] == f"{ratio} +- 0.000 x ANN (mean +- se over 2 seeds; 2 of 2 seeds above 1)"
    assert claim["per seed"] == f"s0: {ratio}, s1: {ratio}"
    assert report.flops.claim.mean == pytest.approx(float(ratio) - 1, abs=1e-3)  # the stat itself: ratio - 1
    assert "minus 1" not in claim["measured"] and "above 1" in claim["measured"]


def test_a_lab_without_the_sweep_base_says_why_the_flops_claim_has_no_verdict(store):
    report = build_report(labs.lab_data(store, loss_lab(store, ce_acc=0.84, mse_acc=0.80)))
    assert report.flops.verdict == "not shown by this data"
    assert report.flops.why == ("The FLOPs claim reads the runs at the sweep base (T=5), which the beta, T, z, vth, "
                                "vth-wide studies train and this lab's (loss) do not.")
    assert rr.why_unshown(report) == [f"FLOPs: {report.flops.why}"]
