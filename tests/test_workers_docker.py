"""Compose and Dockerfiles, checked without Docker.

The compose files parse and match the design; and each image is checked container-free: a temporary
folder holds exactly what its Dockerfile COPYs (honouring .dockerignore), and the image's CMD runs there
with this interpreter, from that folder only (nothing from the repository on sys.path; the web image's
interpreter cannot import what only requirements.txt installs). The web app must answer
/_stcore/health and render its Launch page in chromium; the worker must train a queued run.
The real build and `docker-compose up` are bench/compose_check.sh (opt-in).
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from workers.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"


# -- reading Dockerfiles -------------------------------------------------------------------------------

def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    out, pending = [], ""
    for line in (ROOT / name).read_text().splitlines():
        if not pending and (not line.strip() or line.lstrip().startswith("#")):
            continue
        pending += line.rstrip()
        if pending.endswith("\\"):
            pending = pending[:-1] + " "
            continue
        word, _, rest = pending.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        pending = ""
    return out


def exec_form(args: str) -> list[str]:
    return json.loads(args) if args.startswith("[") else ["/bin/sh", "-c", args]


def dockerfile_cmd(name: str) -> list[str]:
    return exec_form([a for i, a in instructions(name) if i == "CMD"][-1])


def dockerfile_env(name: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for ins, args in instructions(name):
        if ins == "ENV":
            parts = shlex.split(args)
            if len(parts) == 2 and "=" not in parts[0]:  # legacy `ENV KEY value`
                parts = [f"{parts[0]}={parts[1]}"]
            env.update(part.split("=", 1) for part in parts)
    return env


def dockerignore() -> list[str]:
    path = ROOT / ".dockerignore"
    lines = path.read_text().splitlines() if path.exists() else []
    return [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]


def _pattern_regex(pattern: str) -> re.Pattern:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex over a context-relative path."""
    out, i = "", 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out, i = out + "(?:.*/)?", i + 3
        elif pattern.startswith("**", i):
            out, i = out + ".*", i + 2
        elif pattern[i] == "*":
            out, i = out + "[^/]*", i + 1
        elif pattern[i] == "?":
            out, i = out + "[^/]", i + 1
        else:
            out, i = out + re.escape(pattern[i]), i + 1
    return re.compile(out)


def ignored(rel: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `rel` out of the build context: the last matching pattern wins, `!` re-includes,
    and a pattern that matches a folder matches everything under it."""
    parts = rel.split("/")
    prefixes = ["/".join(parts[:n]) for n in range(1, len(parts) + 1)]
    verdict = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        cleaned = os.path.normpath(pattern.lstrip("!").strip()).lstrip("/")
        regex = _pattern_regex(cleaned)
        if any(regex.fullmatch(p) for p in prefixes):
            verdict = not negate
    return verdict


def copies(name: str) -> list[tuple[list[str], str]]:
    """([sources], destination) of each COPY/ADD from the build context, destination made absolute."""
    workdir, out = "/", []
    for ins, args in instructions(name):
        if ins == "WORKDIR":
            workdir = os.path.join(workdir, args)
        elif ins in ("COPY", "ADD"):
            parts = exec_form(args) if args.startswith("[") else shlex.split(args)
            flags = [p for p in parts if p.startswith("--")]
            assert not any(f.startswith("--from") for f in flags), f"{name}: COPY --from is not laid out: {args}"
            *sources, dest = [p for p in parts if not p.startswith("--")]
            out.append((sources, os.path.join(workdir, dest)))
    return out


def workdir_of(name: str) -> str:
    workdir = "/"
    for ins, args in instructions(name):
        if ins == "WORKDIR":
            workdir = os.path.join(workdir, args)
    return workdir


def lay_out(name: str, root: Path) -> Path:
    """Copy into `root` (the image's /) exactly the context files `name` COPYs; returns root/WORKDIR."""
    patterns = dockerignore()
    for sources, dest in copies(name):
        many = len(sources) > 1
        assert not many or dest.endswith("/"), f"{name}: several sources need a folder destination: {dest}"
        for source in sources:
            matches = sorted(ROOT.glob(source.rstrip("/"))) if any(c in source for c in "*?[") else [ROOT / source]
            assert matches and all(m.exists() for m in matches), f"{name}: COPY source {source} is not in the context"
            for src in matches:
                target = root / dest.lstrip("/")
                if src.is_dir():  # a folder's contents go into the destination folder
                    files = [f for f in src.rglob("*") if f.is_file()]
                    for f in files:
                        rel = f.relative_to(ROOT).as_posix()
                        if not ignored(rel, patterns):
                            out = target / f.relative_to(src)
                            out.parent.mkdir(parents=True, exist_ok=True)
                            shutil.copy2(f, out)
                else:
                    assert not ignored(src.relative_to(ROOT).as_posix(), patterns), f"{source} is .dockerignored"
                    out = target / src.name if (dest.endswith("/") or many) else target
                    out.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(src, out)
    app = root / workdir_of(name).lstrip("/")
    app.mkdir(parents=True, exist_ok=True)
    return app


def requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#")[0].strip()
        if line.startswith("-r "):
            names |= requirement_names(path.parent / line[3:].strip())
        elif line:
            names.add(re.split(r"[=<>!~\[; ]", line)[0].lower().replace("-", "_"))
    return names


# The image's interpreter, approximated: no path into the repository, and (for the web image) the
# packages only requirements.txt installs cannot be imported.
SITECUSTOMIZE = '''
import importlib.abc, os, sys
_repo = os.path.realpath(os.environ["IMAGE_CHECK_REPO"])
_env = os.path.realpath(sys.prefix)  # a virtual environment may live inside the repository (.venv)
def _in_repo(p):
    p = os.path.realpath(p or ".")
    inside = lambda root: p == root or p.startswith(root + os.sep)
    return inside(_repo) and not inside(_env)
sys.path[:] = [p for p in sys.path if not _in_repo(p)]
_blocked = {m for m in os.environ.get("IMAGE_CHECK_BLOCK", "").split(",") if m}
class _NotInImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _blocked:
            raise ModuleNotFoundError(f"No module named {name!r} (not installed in this image)", name=name)
        return None
sys.meta_path.insert(0, _NotInImage())
'''


def image_env(name: str, tmp: Path, block: set[str], **extra: str) -> dict[str, str]:
    site = tmp / "site"
    site.mkdir(exist_ok=True)
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP")}
    env.update(dockerfile_env(name))
    env.update(PYTHONPATH=str(site), IMAGE_CHECK_REPO=str(ROOT), IMAGE_CHECK_BLOCK=",".join(sorted(block)), **extra)
    return env


def interpreter(cmd: list[str]) -> list[str]:
    """An image's CMD with this interpreter: `python ...` as is, a console script as `python -m`."""
    if cmd[0] in ("python", "python3"):
        return [sys.executable, *cmd[1:]]
    return [sys.executable, "-m", cmd[0], *cmd[1:]]


# -- compose ------------------------------------------------------------------------------------------

def compose(name: str = "docker-compose.yml") -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def test_compose_services_match_the_design():
    spec = compose()
    assert "name" not in spec, "docker-compose 1.29 rejects a top-level name: give it with -p"
    services = spec["services"]
    assert set(services) == {"redis", "worker", "search", "web"}
    search = services["search"]  # the search driver: the worker image, its own command, one of it
    assert search["command"] == ["python", "-m", "workers", "search-driver"]
    assert search["build"] == services["worker"]["build"] and "REDIS_PASSWORD" in search["environment"]["REDIS_URL"]
    assert search["depends_on"]["redis"]["condition"] == "service_healthy"
    r = services["redis"]
    assert r["image"].startswith("redis:") and "ports" not in r
    assert "--appendonly" in r["command"] and r["command"][r["command"].index("--appendonly") + 1] == "yes"
    assert any("REDIS_PASSWORD" in part for part in r["command"]) and "healthcheck" in r
    assert r["volumes"][0].split(":")[0] in spec["volumes"]
    for name in ("worker", "web"):
        s = services[name]
        assert "REDIS_PASSWORD" in s["environment"]["REDIS_URL"]
        assert s["depends_on"]["redis"]["condition"] == "service_healthy"
        assert (ROOT / s["build"]["dockerfile"]).is_file()
        assert s["command"] == dockerfile_cmd(s["build"]["dockerfile"])
    assert "ports" not in services["worker"] and "container_name" not in services["worker"]  # scalable
    assert "/_stcore/health" in " ".join(services["web"]["healthcheck"]["test"])
    # The app has no login: published on the host's loopback unless SPIKEBOARD_WEB_BIND says otherwise.
    [port] = services["web"]["ports"]
    assert port.startswith("${SPIKEBOARD_WEB_BIND:-127.0.0.1}:"), port
    gpu = compose("docker-compose.gpu.yml")["services"]["worker"]["deploy"]["resources"]["reservations"]
    assert gpu["devices"][0]["capabilities"] == ["gpu"]
    assert compose("docker-compose.redis-port.yml")["services"]["redis"]["ports"]


def test_web_image_installs_no_torch():
    text = (ROOT / "Dockerfile.web").read_text()
    installs = [a for i, a in instructions("Dockerfile.web") if i == "RUN" and "pip install" in a]
    assert installs and all("requirements-web.txt" in a and "requirements.txt" not in a.replace("requirements-web.txt", "")
                            for a in installs)
    assert not {"torch", "torchvision", "numba"} & requirement_names(ROOT / "requirements-web.txt")
    assert "requirements.txt" not in [s for sources, _ in copies("Dockerfile.web") for s in sources], text


def test_dockerignore_rules():
    patterns = [".git", "tests", "**/__pycache__", "*.pyc", "docs/*.png", "!docs/keep.png"]
    assert ignored(".git/config", patterns) and ignored("tests", patterns) and ignored("tests/a/b.py", patterns)
    assert ignored("workers/__pycache__/x.cpython-311.pyc", patterns) and ignored("__pycache__/y", patterns)
    assert ignored("x.pyc", patterns) and not ignored("workers/x.pyc", patterns)  # `*` does not cross a /
    assert ignored("docs/a.png", patterns) and not ignored("docs/keep.png", patterns)
    assert not ignored("workers/jobs.py", patterns) and not ignored("testsuite.py", patterns)


def test_layout_is_what_the_dockerfile_copies(tmp_path):
    (tmp_path / "Dockerfile.t").write_text("FROM x\nWORKDIR /app\nCOPY requirements.txt requirements-web.txt ./\n"
                                          "COPY workers/ workers/\nCOPY app.py ./main.py\n")
    name = os.path.relpath(tmp_path / "Dockerfile.t", ROOT)
    app = lay_out(name, tmp_path / "img")
    got = sorted(p.relative_to(app).as_posix() for p in app.rglob("*") if p.is_file())
    want = sorted(["requirements.txt", "requirements-web.txt", "main.py"]
                  + [f"workers/{p.relative_to(ROOT / 'workers').as_posix()}" for p in (ROOT / "workers").rglob("*")
                     if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"])
    assert got == want
    assert not (app / "snn_core").exists() and not (app / "tests").exists()


# -- each image's command, run from exactly what the image holds --------------------------------------------

@pytest.mark.timeout(90)
@pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_web_image_serves_and_renders_from_its_own_files(redis_server, tmp_path):
    app = lay_out("Dockerfile.web", tmp_path / "img")
    block = requirement_names(ROOT / "requirements.txt") - requirement_names(ROOT / "requirements-web.txt")
    assert "torch" in block
    cmd = interpreter(dockerfile_cmd("Dockerfile.web"))
    port = free_port()
    cmd[cmd.index("--server.port") + 1] = str(port)
    cmd[cmd.index("--server.address") + 1] = "127.0.0.1"
    log = tmp_path / "web.log"
    proc = subprocess.Popen(cmd, cwd=app, env=image_env("Dockerfile.web", tmp_path, block, REDIS_URL=redis_server.url),
                            stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 45
        while True:
            try:
                with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as resp:
                    assert resp.status == 200 and resp.read() == b"ok"
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, log.read_text()[-2000:]
                time.sleep(0.2)

        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox", "--disable-gpu"])
            page = browser.new_page()
            page.set_default_timeout(30_000)
            page.goto(url)
            # Either the Launch page renders or Streamlit shows the exception (a missing module, say).
            page.locator('h1:has-text("Launch a training run"), [data-testid="stException"]').first.wait_for()
            errors = page.locator('[data-testid="stException"]').all_inner_texts()
            assert not errors, f"the web image's app failed: {errors[0][:600]}"
            page.get_by_role("button", name="Launch run").wait_for()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=15)


EVERY_PAGE = """
import sys
from pathlib import Path
from streamlit.testing.v1 import AppTest
pages = sorted(str(p) for p in Path("pages").glob("*.py"))
at = AppTest.from_file("app.py", default_timeout=60).run()
assert not at.exception, [e.value for e in at.exception]
for path in pages:
    at.switch_page(path)
    at.query_params["run"] = sys.argv[1]
    at.run()
    assert not at.exception, (path, [e.value for e in at.exception])
    assert not at.error, (path, [e.value for e in at.error])
print("ok", len(pages))
"""


@pytest.mark.timeout(90)
def test_web_image_runs_every_page_from_its_own_files(redis_server, redis_conn, tmp_path):
    from snn_core.config import RunConfig
    from workers.store import RunStatus, RunStore

    store = RunStore(redis_conn)
    run_id = store.create_run(RunConfig(epochs=1)).id
    store.append_metric(run_id, "epoch", {"epoch": 1, "train_loss": 1.0, "train_acc": 0.5, "test_loss": 1.0,
                                          "test_acc": 0.5, "firing_rates": [0.2, 0.1, 0.1], "epoch_seconds": 1.0,
                                          "samples_per_s": 10.0})
    store.set_status(run_id, RunStatus.FINISHED, started_at=time.time() - 1, finished_at=time.time())
    app = lay_out("Dockerfile.web", tmp_path / "img")
    block = requirement_names(ROOT / "requirements.txt") - requirement_names(ROOT / "requirements-web.txt")
    env = image_env("Dockerfile.web", tmp_path, block, REDIS_URL=redis_server.url)
    out = subprocess.run([sys.executable, "-c", EVERY_PAGE, run_id], cwd=app, env=env, capture_output=True,
                         text=True, timeout=80)
    n_pages = len(list((ROOT / "pages").glob("*.py")))
    assert out.returncode == 0 and out.stdout.split() == ["ok", str(n_pages)], out.stderr[-3000:]


@pytest.mark.timeout(90)
def test_worker_image_trains_a_run_from_its_own_files(redis_server, synthetic_data_dir, tmp_path):
    from snn_core.config import RunConfig
    from workers import connection, submission
    from workers.store import RunStatus, RunStore

    app = lay_out("Dockerfile", tmp_path / "img")
    cmd = interpreter(dockerfile_cmd("Dockerfile"))
    assert cmd[1:3] == ["-m", "workers"]
    conn = connection.connect(redis_server.url)
    run = submission.submit_run(conn, RunConfig(T=4, epochs=1, train_limit=64, test_limit=32, batch_size=32)).record
    # The plain PyTorch engine: numba would compile its kernels afresh in this new folder (~20 s), and what
    # is checked here is which files the image holds (snn_core.kernels and numba are imported either way).
    env = image_env("Dockerfile", tmp_path, set(), REDIS_URL=redis_server.url, SPIKEBOARD_ENGINE="torch",
                    SPIKEBOARD_DATA_DIR=str(synthetic_data_dir), SPIKEBOARD_TORCH_THREADS="1", OMP_NUM_THREADS="1")
    out = subprocess.run([*cmd, "--burst"], cwd=app, env=env, capture_output=True, text=True, timeout=75)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "training on cpu" in out.stdout or "training on cuda" in out.stdout
    record = RunStore(conn).require_run(run.id)
    assert record.status is RunStatus.FINISHED, (record.status, record.error, out.stderr[-2000:])
