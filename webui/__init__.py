"""Helpers for the Streamlit pages: the shared Redis connection, chart builders, form parsing
and table shaping. Nothing here imports torch; Redis is reached only through `workers.store`
and the workers modules the UI calls (`connection`, `submission`, `transfer`, `capacity`, `labs`)."""

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

# Streamlit sees the `pages/` folder and, until `st.navigation` has run once in this server,
# routes a first request for /compare, /run, ... to pages/<name>.py alone (its legacy multipage
# mode): no app.py, no navigation groups. Every page imports this package, so the first such
# request switches the server to app.py's navigation and reruns itself through it.
if PagesManager.uses_pages_directory:
    PagesManager.uses_pages_directory = False
    st.rerun()
