"""Execute the notebooks (jupytext percent scripts) and write the executed ``.ipynb`` copies, with
their outputs, and their figures (PNG).

    python -m notebooks                # every notebook, into notebooks/ (the committed copies)
    python -m notebooks 03 05          # the notebooks whose names start so
    python -m notebooks --output DIR   # elsewhere (tests/test_notebooks.py writes to a temp dir)

Each runs in a fresh ``python3`` Jupyter kernel whose working directory is ``notebooks/``; its
figures go to ``--output`` (the kernel's ``VBZARR_FIGURES``). The synthetic projects the notebooks
use are built once and shared (``VBZARR_DEMO_CACHE``, see :mod:`vbzarr.testing.demo_projects`).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
#: Seconds a cell may take.
CELL_TIMEOUT = 600


def notebook_paths() -> list[Path]:
    """The notebooks, in order: ``notebooks/NN_*.py``."""
    return sorted(HERE.glob("[0-9][0-9]_*.py"))


def execute(path: Path, output: Path, env: dict[str, str] | None = None) -> tuple[Path, float]:
    """Run the notebook ``path`` in a new kernel (working directory ``notebooks/``), its figures
    written to ``output``; write the executed notebook to ``output/<name>.ipynb``.

    Returns the executed notebook's path and the seconds it took (kernel start included). Raises
    ``nbclient.exceptions.CellExecutionError`` (with the cell and its traceback) when a cell fails.
    """
    import jupytext
    import nbclient
    import nbformat

    output.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(path)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        record_timing=False,  # no per-cell timestamps: the committed copies change only with content
        resources={"metadata": {"path": str(HERE)}},
    )
    start = time.perf_counter()
    client.execute(env={**os.environ, "VBZARR_FIGURES": str(output), **(env or {})})
    seconds = time.perf_counter() - start
    executed = output / f"{path.stem}.ipynb"
    nbformat.write(notebook, executed)
    return executed, seconds


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m notebooks", description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", help="run only the notebooks whose names start so (e.g. 03)")
    parser.add_argument(
        "--output", type=Path, default=HERE, help="folder of the executed notebooks and figures"
    )
    args = parser.parse_args(argv)
    paths = [p for p in notebook_paths() if not args.names or p.name.startswith(tuple(args.names))]
    if not paths:
        parser.error(f"no notebook in {HERE} starts with {args.names}")
    for path in paths:
        executed, seconds = execute(path, args.output)
        print(f"{path.name}: {seconds:.1f} s -> {executed}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
