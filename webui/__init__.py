"""Helpers for the Streamlit pages: the shared Redis connection, chart builders, form parsing
and table shaping. Nothing here imports torch; Redis is reached only through `workers.store`
and `workers.service`."""
