"""The core knows only zarr, numpy, numcodecs and fsspec: no host library is imported by it, even lazily."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import zarrbridge.core

ALLOWED_TOP = {"zarr", "numpy", "numcodecs", "fsspec", "zarrbridge", "typing_extensions"}
HOSTS = ("dask", "distributed", "h5py", "hdmf", "pynwb", "datajoint", "s3fs")


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_core_sources_import_no_host_library() -> None:
    core_dir = Path(zarrbridge.core.__file__).parent
    stdlib = set(sys.stdlib_module_names)
    for path in sorted(core_dir.glob("*.py")):
        foreign = _imported_modules(path) - stdlib - ALLOWED_TOP
        assert not foreign, f"{path.name} imports {sorted(foreign)}"


def test_importing_every_core_module_loads_no_host_library() -> None:
    core_dir = Path(zarrbridge.core.__file__).parent
    modules = [f"zarrbridge.core.{p.stem}" for p in sorted(core_dir.glob("*.py")) if p.stem != "__init__"]
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        f"print(sorted(h for h in {HOSTS!r} if h in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
