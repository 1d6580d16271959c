"""`webui.report_render`: the one drawing of a lab report that the page and the HTML export share."""

from __future__ import annotations

import html

import pytest

from tests.labkit import loss_lab
from webui import report_render as rr
from workers import labs
from workers.lab_report import build_report


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
