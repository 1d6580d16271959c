"""The house's walls: snn_core imports neither redis nor streamlit (checked in a fresh interpreter)."""

import subprocess
import sys


def test_snn_core_imports_no_redis_rq_or_streamlit():
    code = (
        "import sys, importlib\n"
        "for m in ['config','neurons','encoders','model','data','training','recording','checkpoint','flops','train','packed','kernels','health','latency']:\n"
        "    importlib.import_module('snn_core.' + m)\n"
        "bad = [m for m in ('redis', 'rq', 'streamlit') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
