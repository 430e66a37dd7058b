"""The layer order of ``vlencode``: each package or top-level module imports only its own layer and lower ones."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "vlencode"

#: The layers, lowest first.  A unit is a subpackage or a top-level module of ``vlencode``.  ``stores`` sits above
#: ``epochs`` because the epochs store names the epochs it lays out; the step specs (and ``versions``, derived from
#: them) are the workflow's side of the library, on top: they build the settings objects of the layers below.
LAYERS = [
    {"config", "store", "locks", "runlog", "device", "pearson", "outputs", "keyed"},
    {"simulation"},
    {"datasets"},
    {"stimuli", "models"},
    {"epochs"},
    {"stores"},
    {"neural", "features"},
    {"ridge"},
    {"bootstrap"},
    {"encoding"},
    {"stats"},
    {"regions", "qc"},
    {"plots", "reporting", "figures"},
    {"validation"},
    {"steps", "versions"},
]
LEVEL = {unit: level for level, units in enumerate(LAYERS) for unit in units}


def _units(package: Path = PACKAGE) -> set[str]:
    return {p.stem for p in package.glob("*.py") if p.stem != "__init__"} | {
        p.name for p in package.iterdir() if (p / "__init__.py").exists()
    }


def _imported_units(path: Path, package_dir: Path = PACKAGE) -> set[str]:
    """The units a module imports anywhere in its body (functions and ``TYPE_CHECKING`` blocks included)."""
    module = path.relative_to(package_dir.parent).with_suffix("").parts
    package = module[:-1]
    names: list[str] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            parts = list(package[: len(package) - node.level + 1]) if node.level else []
            base = ".".join(parts + ([node.module] if node.module else []))
            names += [base] + [f"{base}.{alias.name}" for alias in node.names]
    units = _units(package_dir)
    return {name.split(".")[1] for name in names if name.startswith("vlencode.") and name.split(".")[1] in units}


def _load_code_metrics(monkeypatch: pytest.MonkeyPatch, root: Path) -> ModuleType:
    monkeypatch.setattr(sys, "argv", ["code_metrics.py", str(root)])
    spec = importlib.util.spec_from_file_location("code_metrics", ROOT / "tools" / "code_metrics.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_unit_has_one_layer():
    placed = [unit for units in LAYERS for unit in units]
    assert len(placed) == len(set(placed))
    assert _units() == set(placed)


def test_each_layer_imports_only_itself_and_lower_layers():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = path.relative_to(PACKAGE).parts[0].removesuffix(".py")
        if here == "__init__":
            continue
        for there in sorted(_imported_units(path)):
            if LEVEL[there] > LEVEL[here]:
                upward.append(f"{path.relative_to(ROOT)} imports vlencode.{there} from a higher layer")
    assert upward == []


def test_the_layer_check_sees_imports_inside_functions_and_relative_imports(tmp_path):
    package = tmp_path / "vlencode"
    for unit in ("encoding", "stats", "validation"):
        (package / unit).mkdir(parents=True)
        (package / unit / "__init__.py").write_text("")
    probe = package / "encoding" / "probe.py"
    probe.write_text("def f():\n    from vlencode.validation import harness\n    from ..stats import keep\n")
    assert _imported_units(probe, package) == {"validation", "stats"}


def test_code_metrics_reports_no_import_cycles(monkeypatch):
    assert _load_code_metrics(monkeypatch, ROOT).import_cycles() == []


def test_code_metrics_finds_a_planted_cycle(monkeypatch, tmp_path):
    package = tmp_path / "src" / "vlencode"
    package.mkdir(parents=True)
    (package / "low.py").write_text("def f():\n    from vlencode.high import g\n")
    (package / "high.py").write_text("from vlencode import low\n")
    assert _load_code_metrics(monkeypatch, tmp_path).import_cycles() == [["high", "low"]]
