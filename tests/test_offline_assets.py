"""The web side names nothing on the internet: no URL in app.py, pages/ or webui/, and a favicon
Streamlit draws itself (an emoji becomes an inline SVG; a material icon is fetched from Google)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from streamlit.string_util import is_emoji

ROOT = Path(__file__).resolve().parents[1]


def test_no_web_source_names_an_internet_url():
    sources = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py")), *sorted((ROOT / "webui").glob("*.py"))]
    hits = [f"{p.name}: {m}" for p in sources for m in re.findall(r"https?://[^\s'\"]+", p.read_text())
            if not m.startswith(("http://localhost", "http://127.0.0.1"))]
    assert hits == []


def test_the_favicon_is_an_emoji_not_a_fetched_icon():
    tree = ast.parse((ROOT / "app.py").read_text())
    icons = [kw.value.value for node in ast.walk(tree) if isinstance(node, ast.Call)
             for kw in node.keywords if kw.arg == "page_icon"]
    assert icons and all(is_emoji(icon) for icon in icons), icons
