"""Counts the issue "one owner per setting and per fact" asks to be reported before and after.

    python tools/code_metrics.py [ROOT]

- rerun keys typed in rules: string literals naming config keys inside ``settings(...)`` calls and ``*_KEYS``
  tuples of ``rules/*.smk`` (the stage name excluded);
- restated defaults: ``.get("name", <literal>)`` calls with a non-None literal default in ``src/`` and
  ``workflow/scripts/``, plus dataclass fields with a literal default in classes named ``*Config``/``*Settings``/
  ``*Windows`` in ``src/``;
- functions over 60 lines in ``src/`` and ``workflow/scripts/``;
- import cycles between the packages and top-level modules of ``vlencode`` (strongly connected components);
- ``fmt: skip`` / ``fmt: off`` markers in every Python file.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
PY = [p for d in ("src", "workflow", "tests", "benchmarks", "envs", "tools") for p in (ROOT / d).rglob("*.py")]
LIB = list((ROOT / "src").rglob("*.py")) + list((ROOT / "workflow" / "scripts").rglob("*.py"))


def _balanced(text: str, start: int) -> str:
    depth = 0
    for i in range(start, len(text)):
        depth += {"(": 1, ")": -1}.get(text[i], 0)
        if depth == 0:
            return text[start : i + 1]
    return text[start:]


def rerun_keys() -> int:
    count = 0
    for smk in (ROOT / "rules").glob("*.smk"):
        text = smk.read_text()
        for match in re.finditer(r"\bsettings\(", text):
            args = _balanced(text, match.end() - 1)
            count += max(len(re.findall(r'"[a-z_][a-z0-9_.]*"', args)) - 1, 0)
        for match in re.finditer(r"^[A-Z_]*KEYS\s*=\s*[(\[]", text, re.M):
            args = _balanced(text, match.end() - 1) if text[match.end() - 1] == "(" else text[match.end() :]
            count += len(re.findall(r'"[a-z_][a-z0-9_.]*"', args.split("]")[0]))
    return count


def restated_defaults() -> int:
    count = 0
    for path in LIB:
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get"
                and len(node.args) == 2
                and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[0].value, str)
                and isinstance(node.args[1], (ast.Constant, ast.List, ast.Tuple, ast.Dict))
                and not (isinstance(node.args[1], ast.Constant) and node.args[1].value is None)
            ):
                count += 1
            if isinstance(node, ast.ClassDef) and re.search(r"(Config|Settings|Windows)$", node.name):
                decorated = any("dataclass" in ast.unparse(d) for d in node.decorator_list)
                for item in node.body if decorated else []:
                    if isinstance(item, ast.AnnAssign) and isinstance(item.value, (ast.Constant, ast.Tuple)):
                        count += 1
    return count


def long_functions(limit: int = 60) -> list[str]:
    found = []
    for path in LIB:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > limit:
                    found.append(f"{path.relative_to(ROOT)}:{node.name}:{length}")
    return found


def import_cycles() -> list[list[str]]:
    pkg = ROOT / "src" / "vlencode"

    def unit(module: str) -> str | None:
        parts = module.split(".")
        return parts[1] if parts[0] == "vlencode" and len(parts) > 1 else None

    graph: dict[str, set[str]] = {}
    for path in pkg.rglob("*.py"):
        rel = path.relative_to(pkg.parent).with_suffix("")
        here = unit(".".join(rel.parts))
        if here is None or here == "__init__":
            continue
        package = ".".join(rel.parts[:-1]) if path.name != "__init__.py" else ".".join(rel.parts[:-1])
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                names = [base] + [f"{base}.{a.name}" for a in node.names]
            for name in names:
                there = unit(name)
                if there and there != here and (pkg / there).exists() or (there and (pkg / f"{there}.py").exists()):
                    if there != here:
                        graph.setdefault(here, set()).add(there)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    components = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in list(graph):
        if v not in index:
            visit(v)
    return components


def fmt_markers() -> int:
    return sum(len(re.findall(r"#\s*fmt:\s*(skip|off)", p.read_text())) for p in PY)


if __name__ == "__main__":
    long = long_functions()
    cycles = import_cycles()
    print(f"rerun keys typed in rules:  {rerun_keys()}")
    print(f"restated defaults:          {restated_defaults()}")
    print(f"functions over 60 lines:    {len(long)}  {' '.join(long)}")
    print(f"import cycles:              {len(cycles)}  {cycles}")
    print(f"fmt: skip/off markers:      {fmt_markers()}")
