"""Spikeboard: launch, watch and compare spiking-network runs on MNIST.

    streamlit run app.py        (or `python -m workers.stack` for Redis + worker + app)

This file only declares the pages; each page talks to Redis through `workers.store` and
what it calls in `workers` (`submission`, `transfer`, `capacity`). The web side never imports torch.
"""

import redis
import streamlit as st

from webui import connection
from workers.connection import redact

st.set_page_config(page_title="Spikeboard", page_icon="⚡", layout="wide")

page = st.navigation({
    "Train": [
        st.Page("pages/launch.py", title="Launch", icon=":material/rocket_launch:", default=True),
        st.Page("pages/run.py", title="Run (live)", icon=":material/monitoring:", url_path="run"),
        st.Page("pages/runs.py", title="Runs", icon=":material/table_rows:", url_path="runs"),
        st.Page("pages/search.py", title="Search", icon=":material/travel_explore:", url_path="search"),
    ],
    "Analyse": [
        st.Page("pages/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
        st.Page("pages/spikes.py", title="Spikes", icon=":material/scatter_plot:", url_path="spikes"),
        st.Page("pages/flops.py", title="FLOPs", icon=":material/calculate:", url_path="flops"),
        st.Page("pages/insights.py", title="Insights", icon=":material/insights:", url_path="insights"),
        st.Page("pages/report.py", title="Lab report", icon=":material/summarize:", url_path="report"),
    ],
})
st.sidebar.caption(f"Redis: `{redact(connection.redis_url())}`")

try:
    page.run()
except redis.ConnectionError as exc:  # Redis went away mid-page: say so instead of a traceback
    connection.show_unreachable(exc)
