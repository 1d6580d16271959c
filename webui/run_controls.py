"""The Run page's buttons beyond Cancel: resume a cancelled run, download its trained model."""

from __future__ import annotations

import streamlit as st

from workers import model_export, run_actions
from workers.store import RunRecord, RunStatus, RunStore


def actions(store: RunStore, record: RunRecord) -> None:
    """Resume (a cancelled run, from its checkpoint) and Download model (weights + config as a zip)."""
    left, right = st.columns(2)
    if record.status is RunStatus.CANCELLED and left.button(
            "Resume this run", key="live_resume", icon=":material/play_arrow:",
            help="Queue it again: it goes on from its last checkpoint (the start, if it had none)."):
        try:
            run_actions.resume_run(store.conn, record.id)
        except ValueError as exc:
            left.error(str(exc), icon=":material/error:")
        else:
            st.rerun()
    if store.has_checkpoint(record.id):
        right.download_button(
            "Download model", lambda: model_export.model_bundle(store, record.id),
            model_export.model_filename(record.id), "application/zip", key="live_download_model",
            icon=":material/download:", on_click="ignore",
            help="The latest checkpoint (weights, optimizer state, history) with config.json and how to load "
                 "it with snn_core (README.txt in the zip).")
