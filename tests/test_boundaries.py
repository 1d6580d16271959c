"""The house's walls: snn_core imports neither redis nor streamlit (checked in a fresh interpreter), and only
workers/keys.py builds a Redis key string."""

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


def test_only_workers_keys_builds_a_redis_key_string():
    """The app's code (not tests or bench probes) writes the `spikeboard:` prefix only in workers/keys.py;
    the store's parts (store.py, fencing.py, store_tables.py) take every key from its `Keys`."""
    import ast
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    files = [root / "app.py", *[p for d in ("workers", "webui", "pages", "snn_core") for p in (root / d).rglob("*.py")]]
    builders = []
    for path in files:
        tree = ast.parse(path.read_text())
        docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                      if isinstance(n, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
                      and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
        if any(isinstance(n, ast.Constant) and isinstance(n.value, str) and "spikeboard:" in n.value
               and id(n) not in docstrings for n in ast.walk(tree)):
            builders.append(path.relative_to(root).as_posix())
    assert builders == ["workers/keys.py"], builders
