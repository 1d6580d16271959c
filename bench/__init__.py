"""Benchmarks: `python -m bench.speed` times the lab loop, snnTorch and Spikeboard side by side.

Benchmark-only code. Nothing in `snn_core`, `workers` or the web app imports from here;
snnTorch (requirements-bench.txt) is needed only by the snnTorch rows.
"""
