"""The layout's rules, read from the source (no imports run): workers/ never imports the web side
(webui/, pages/), no project module takes part in an import cycle, and no .py file is over 400 lines.

The import graph is static: every `import` and `from ... import` anywhere in a file (inside a function,
under `if TYPE_CHECKING:`) counts, since a cycle hidden in a function is still a cycle in the design.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MAX_LINES = 400
# Files allowed over MAX_LINES, each with why. An entry must still be over the limit (checked), so the
# list shrinks as they are split and never hides a file that grew back.
OVER_LIMIT: dict[str, str] = {}


def python_files() -> list[Path]:
    skip = {".git", "__pycache__", ".venv", "venv", "node_modules", ".pytest_cache"}
    return sorted(p for p in ROOT.rglob("*.py") if not skip & set(p.relative_to(ROOT).parts))


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports (a `from package import name` names the module package.name
    when there is one, else the package)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1] if package else []
                base = ".".join([*anchor, *([base] if base else [])])
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in known:  # `import a.b.c` of a module a.b: the module a.b
                target = target.rpartition(".")[0]
            if target and target != name:
                out.add(target)
    return out


def import_graph() -> dict[str, set[str]]:
    files = python_files()
    known = {module_name(p) for p in files}
    return {module_name(p): imports_of(p, known) for p in files}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm, iteratively)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_the_checks_see_what_they_look_for():
    graph = import_graph()
    assert "workers.submission" in graph["pages.launch"] and "workers.capacity" in graph["workers.submission"]
    assert "workers.connection" in graph["workers.jobs"]  # relative imports resolved
    assert "webui.report_render" in graph["webui.__main__"]  # function-level imports count
    planted = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert cycles(planted) == [["a", "b", "c"]]


def test_workers_never_imports_the_web_side():
    reaching_up = {name: sorted(t for t in targets if t.split(".")[0] in ("webui", "pages", "app"))
                   for name, targets in import_graph().items() if name.split(".")[0] == "workers"}
    assert not {k: v for k, v in reaching_up.items() if v}


def test_no_import_cycle_among_project_modules():
    assert cycles(import_graph()) == []


def test_no_python_file_over_400_lines():
    lines = {p.relative_to(ROOT).as_posix(): len(p.read_text(encoding="utf-8").splitlines()) for p in python_files()}
    over = {path: n for path, n in lines.items() if n > MAX_LINES and path not in OVER_LIMIT}
    assert not over, f"split these before they pass {MAX_LINES} lines: {over}"
    stale = [path for path in OVER_LIMIT if lines.get(path, 0) <= MAX_LINES]
    assert not stale, f"now within {MAX_LINES} lines, so drop them from OVER_LIMIT: {stale}"


def test_the_shared_helpers_are_defined_once():
    """Each was copied into several files once; one definition each now (the others import it)."""
    wanted = {"fmt_duration": "workers/capacity.py", "wait_for": "bench/procs.py", "wait_health": "bench/procs.py",
              "start_redis": "workers/redis_server.py", "free_port": "workers/redis_server.py",
              "cpu_model": "bench/machine.py", "load_average": "bench/machine.py", "max_pack_size": "workers/packing.py",
              "rates_from_history": "workers/insight_data.py", "health_text": "workers/insight_data.py"}
    found: dict[str, list[str]] = {name: [] for name in wanted}
    for path in python_files():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in found:
                found[node.name].append(path.relative_to(ROOT).as_posix())
    assert found == {name: [where] for name, where in wanted.items()}
