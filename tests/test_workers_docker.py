"""Compose and Dockerfiles, checked without Docker: they parse, name commands that exist, and the
images' entry commands run here."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from workers.redis_server import free_port

ROOT = Path(__file__).resolve().parents[1]


def compose(name: str = "docker-compose.yml") -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def dockerfile_cmd(name: str) -> list[str]:
    lines = [line for line in (ROOT / name).read_text().splitlines() if line.startswith("CMD ")]
    return json.loads(lines[-1][4:])


def test_compose_services_match_the_design():
    services = compose()["services"]
    assert set(services) == {"redis", "worker", "web"}
    r = services["redis"]
    assert r["image"].startswith("redis:") and "ports" not in r
    assert "--appendonly" in r["command"] and r["command"][r["command"].index("--appendonly") + 1] == "yes"
    assert any("REDIS_PASSWORD" in part for part in r["command"]) and "healthcheck" in r
    assert r["volumes"][0].split(":")[0] in compose()["volumes"]
    for name in ("worker", "web"):
        s = services[name]
        assert "REDIS_PASSWORD" in s["environment"]["REDIS_URL"]
        assert s["depends_on"]["redis"]["condition"] == "service_healthy"
        assert (ROOT / s["build"]["dockerfile"]).is_file()
        assert s["command"] == dockerfile_cmd(s["build"]["dockerfile"])
    assert "ports" not in services["worker"] and "container_name" not in services["worker"]  # scalable
    assert "/_stcore/health" in " ".join(services["web"]["healthcheck"]["test"])
    gpu = compose("docker-compose.gpu.yml")["services"]["worker"]["deploy"]["resources"]["reservations"]
    assert gpu["devices"][0]["capabilities"] == ["gpu"]
    assert compose("docker-compose.redis-port.yml")["services"]["redis"]["ports"]


def test_web_image_installs_no_torch():
    text = (ROOT / "Dockerfile.web").read_text()
    assert "requirements-web.txt" in text and "requirements.txt" not in text.replace("requirements-web.txt", "")
    web_reqs = (ROOT / "requirements-web.txt").read_text()
    assert not re.search(r"^torch", web_reqs, re.M)
    for path in re.findall(r"^COPY (\S+)", text, re.M):
        assert (ROOT / path.rstrip("/")).exists(), path


@pytest.mark.timeout(60)
def test_worker_image_command_runs(redis_server):
    cmd = dockerfile_cmd("Dockerfile")
    assert cmd[:3] == ["python", "-m", "workers"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_server.url}
    out = subprocess.run([sys.executable, *cmd[1:], "--burst"], cwd=ROOT, env=env, capture_output=True,
                         text=True, timeout=45)
    assert out.returncode == 0, out.stderr
    assert "training on cpu" in out.stdout or "training on cuda" in out.stdout


@pytest.mark.timeout(60)
def test_web_image_command_serves_health(redis_server):
    cmd = dockerfile_cmd("Dockerfile.web")
    port = free_port()
    cmd[cmd.index("--server.port") + 1] = str(port)
    cmd[cmd.index("--server.address") + 1] = "127.0.0.1"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "REDIS_URL": redis_server.url}
    proc = subprocess.Popen([sys.executable, "-m", *cmd], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 45
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as resp:
                    assert resp.status == 200
                    break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "web command never became healthy"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
