"""The README's CPU-only install names the versions requirements.txt pins (issue 8, item 12)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def pins(path: Path) -> dict[str, str]:
    return dict(re.findall(r"(?m)^([A-Za-z0-9_.-]+)==([^\s#]+)", path.read_text()))


def test_the_cpu_only_install_matches_the_pins():
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("### A CPU-only install"):]
    section = section[:section.index("\n## ")]
    command = re.search(r"pip install (torch==\S+) (torchvision==\S+) --index-url (\S+)", section)
    assert command, section[:400]
    required = pins(ROOT / "requirements.txt")
    assert command.group(1) == f"torch=={required['torch']}"
    assert command.group(2) == f"torchvision=={required['torchvision']}"
    assert command.group(3).endswith("/whl/cpu")
    assert "pip install -r requirements.txt" in section and "requirements-web.txt" in section
