"""The benchmarks are scripts that CI does not run: a name they import from vbzarr that moved
breaks one silently, an hour into its run. Every such import must resolve."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).parents[1] / "benchmarks"


def _imports(path: Path) -> list[tuple[str, str | None]]:
    """``(module, name)`` of every import of vbzarr or benchmarks code in ``path`` (name None for
    ``import module``), at any depth (the children import inside functions)."""
    found: list[tuple[str, str | None]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in {"vbzarr", "benchmarks"}
        ):
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, None) for alias in node.names if alias.name.split(".")[0] == "vbzarr"]
    return found


@pytest.mark.parametrize(
    "path", sorted(BENCHMARKS.rglob("*.py")), ids=lambda p: str(p.relative_to(BENCHMARKS))
)
def test_every_name_a_benchmark_imports_exists(path):
    missing = []
    for module_name, name in _imports(path):
        module = importlib.import_module(module_name)
        if name is not None and not hasattr(module, name):
            try:
                importlib.import_module(f"{module_name}.{name}")  # a submodule
            except ImportError:
                missing.append(f"from {module_name} import {name}")
    assert not missing, missing
