"""The web side never imports torch: app.py and every page, run through AppTest in a fresh
interpreter against a real Redis holding a run, and every webui module imported on its own."""

import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "pages").glob("*.py"))
MODULES = sorted(f"webui.{p.stem}" for p in (ROOT / "webui").glob("*.py") if p.stem != "__init__")

PAGES_SCRIPT = """
import sys
sys.path.insert(0, {root!r})
from streamlit.testing.v1 import AppTest

def torch_loaded():
    return sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "torchvision"))[:3]

at = AppTest.from_file({app!r}, default_timeout=60).run()
assert not at.exception, at.exception
assert not torch_loaded(), ("app.py", torch_loaded())
for path in {pages!r}:
    at.switch_page(path)
    at.query_params["run"] = {run_id!r}
    at.run()
    assert not at.exception, (path, [e.value for e in at.exception])
    assert not at.error, (path, [e.value for e in at.error])
    assert not torch_loaded(), (path, torch_loaded())
print("ok", len({pages!r}))
"""


def run_python(code: str, redis_url: str = "redis://127.0.0.1:1/0") -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "REDIS_URL": redis_url, "HOME": str(ROOT)}
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          timeout=180, env=env)


def test_there_are_pages_to_check():
    assert len(PAGES) >= 7 and "pages/report.py" in PAGES and "webui.charts" in MODULES


def test_running_every_page_never_imports_torch(redis_server, redis_conn):
    from snn_core.config import RunConfig
    from workers.store import RunStatus, RunStore

    store = RunStore(redis_conn)
    run_id = store.create_run(RunConfig(epochs=1)).id
    store.append_metric(run_id, "epoch", {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.0,
                                          "test_acc": 0.5, "firing_rates": [0.2, 0.1, 0.1], "epoch_seconds": 1.0,
                                          "samples_per_s": 10.0})
    store.set_status(run_id, RunStatus.FINISHED, started_at=time.time() - 1, finished_at=time.time())
    code = PAGES_SCRIPT.format(root=str(ROOT), app=str(ROOT / "app.py"), pages=PAGES, run_id=run_id)
    out = run_python(code, redis_server.url)
    assert out.returncode == 0 and out.stdout.strip() == f"ok {len(PAGES)}", out.stderr[-3000:]


@pytest.mark.parametrize("module", [*MODULES, "workers.store", "workers.connection", "workers.submission",
                                    "workers.transfer", "workers.capacity", "workers.lab_report", "snn_core.flops",
                                    "snn_core.encoder_table", "snn_core.surrogate_table"])
def test_importing_a_web_module_never_imports_torch(module):
    out = run_python(f"import sys; sys.path.insert(0, {str(ROOT)!r}); import {module}; "
                     "bad = [m for m in sys.modules if m.split('.')[0] == 'torch']; assert not bad, bad[:3]")
    assert out.returncode == 0, out.stderr[-2000:]


def test_the_check_would_catch_torch():
    out = run_python("import sys, torch; bad = [m for m in sys.modules if m.split('.')[0] == 'torch']; "
                     "assert not bad, bad[:3]")
    assert out.returncode != 0 and "AssertionError" in out.stderr
