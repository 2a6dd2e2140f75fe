"""vbzarr's benchmarks: scripts, not tests. Each measures vbzarr and its peer side by side in the
same run and reports a ratio; see ``benchmarks/README.md`` and ``python -m benchmarks --help``.

This package imports only the standard library: a benchmark module is also imported in
interpreters that have nothing else (peers' virtual environments).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

HERE = Path(__file__).resolve().parent
PREFIX = "bench_"


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: the module ``benchmarks/bench_<name>.py``, whose ``main(argv)`` runs it."""

    name: str

    @property
    def stem(self) -> str:
        return PREFIX + self.name

    @property
    def module(self) -> str:
        return f"benchmarks.{self.stem}"

    @property
    def path(self) -> Path:
        return HERE / f"{self.stem}.py"

    @property
    def results(self) -> Path:
        return HERE / "results" / f"{self.stem}.md"

    @cached_property
    def docstring(self) -> str:
        """The module's docstring, read without importing it (imports may be heavy)."""
        return ast.get_docstring(ast.parse(self.path.read_text())) or ""

    @property
    def summary(self) -> str:
        return self.docstring.split("\n", 1)[0].removeprefix("Benchmark: ")


def catalogue() -> dict[str, Benchmark]:
    """Every benchmark, by name (the file name without ``bench_``)."""
    return {
        p.stem.removeprefix(PREFIX): Benchmark(p.stem.removeprefix(PREFIX))
        for p in sorted(HERE.glob(f"{PREFIX}*.py"))
    }
