"""Run hdmf-zarr's ``NWBZarrIO.export`` (today's NWB -> Zarr tool) in its own venv.

Why a separate environment: hdmf-zarr 0.13 pins ``zarr<3`` while this project
uses zarr 3, and hdmf-zarr 0.14 needs Python >= 3.12.  So the peer runs on
hdmf-zarr 0.13.0 / zarr 2.18 in a venv built from the same Python 3.11, and is
driven through a child process.

hdmf-zarr 0.13 also breaks with numcodecs >= 0.15 unless
``NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE=1`` is set (it writes object-dtype
compound columns, e.g. ``TimeSeriesReferenceVectorData``, with the Pickle codec
and re-reads their metadata during the write); the child gets that variable.

Usage::

    from benchmarks.peers.hdmf_zarr_env import ensure_venv, export_nwb_to_zarr
    py = ensure_venv()                       # ./.venv-hdmf-zarr, created once
    r = export_nwb_to_zarr("x.nwb", "/tmp/x.zarr", py)
    r["seconds"], r["peak_rss_mb"], r["bytes"]

or from the repository root::

    python -m benchmarks.peers.hdmf_zarr_env X.nwb /tmp/X.zarr [--venv DIR]
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.harness import du_bytes
from benchmarks.peers.venvs import PeerVenv, PeerVenvError, tail

PathLike = str | os.PathLike

# The full set the resolver picked for ``pip install hdmf-zarr==0.13.0`` on
# CPython 3.11 (verified: exports the synthetic and the AllenSDK-written
# behavior_ophys_experiment files, and the result reads back with NWBZarrIO).
# Pinned in full so the peer does not drift when PyPI moves.
PINS: tuple = (
    "hdmf-zarr==0.13.0",
    "hdmf==6.2.0",
    "pynwb==4.2.0",
    "zarr==2.18.7",
    "numcodecs==0.15.2",
    "numpy==2.4.6",
    "h5py==3.16.0",
    "pandas==3.1.1",
    "threadpoolctl==3.8.0",
    "asciitree==1.0.0",
    "fasteners==0.20",
    "attrs==26.1.0",
    "Deprecated==1.3.1",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "referencing==0.37.0",
    "rpds-py==2026.9.1",
    "platformdirs==4.14.7",
    "python-dateutil==4.0.0",
    "ruamel.yaml==0.19.1",
    "typing_extensions==4.16.0",
    "tzdata==2026.6",
    "wrapt==2.5.2",
)

CHILD_SCRIPT = Path(__file__).with_name("_hdmf_zarr_export_child.py")

VENV = PeerVenv(
    "hdmf-zarr",
    PINS,
    check="import hdmf_zarr.nwb, pynwb, zarr; assert zarr.__version__.startswith('2.')",
    env={"NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE": "1"},  # the export needs it anyway
)


def ensure_venv(
    path: Path = Path(".venv-hdmf-zarr"),
    base_python: PathLike | None = None,
    quiet: bool = True,
) -> Path:
    """Create (if missing) the hdmf-zarr venv at ``path``; return its python (see
    :meth:`benchmarks.peers.venvs.PeerVenv.ensure`)."""
    return VENV.ensure(path, base_python, quiet)


def _is_zarr_dir(p: Path) -> bool:
    return (p / ".zgroup").exists() or (p / "zarr.json").exists()


def export_nwb_to_zarr(
    nwb_path: PathLike,
    zarr_path: PathLike,
    python: PathLike,
    overwrite: bool = True,
    timeout: float | None = None,
) -> dict:
    """Export ``nwb_path`` to a Zarr store at ``zarr_path`` with hdmf-zarr.

    Runs ``NWBHDF5IO(nwb, 'r', load_namespaces=True)`` +
    ``NWBZarrIO(zarr, mode='w').export(src_io=..., write_args={'link_data': False})``
    in a child process using ``python`` (from :func:`ensure_venv`).

    Returns ``{"seconds", "peak_rss_mb", "bytes"}`` plus extras:
    ``n_files``, ``open_seconds`` (opening the NWB file, included in
    ``seconds``), ``import_seconds`` (not included), ``rss_before_export_mb``
    (the child's RSS after imports), ``warnings`` (unique messages with counts)
    and ``versions``.  ``seconds`` is wall time measured inside the child from
    opening the source to closing the Zarr store; ``peak_rss_mb`` is the
    child's ``ru_maxrss`` (includes the interpreter and imports).

    Raises :class:`PeerVenvError` with the child's stderr if it fails.
    """
    nwb_path = Path(nwb_path).absolute()
    zarr_path = Path(zarr_path).absolute()
    if not nwb_path.is_file():
        raise FileNotFoundError(nwb_path)
    if zarr_path.exists():
        if not overwrite:
            raise FileExistsError(f"{zarr_path} exists (pass overwrite=True)")
        if zarr_path.is_dir() and (_is_zarr_dir(zarr_path) or not any(zarr_path.iterdir())):
            shutil.rmtree(zarr_path)
        else:
            raise FileExistsError(f"{zarr_path} exists and does not look like a Zarr store; not removing it")
    zarr_path.parent.mkdir(parents=True, exist_ok=True)

    env = VENV.environ()
    with tempfile.TemporaryDirectory(prefix="hdmf-zarr-export-") as tmp:
        result_file = Path(tmp) / "result.json"
        cmd = [str(python), str(CHILD_SCRIPT), str(nwb_path), str(zarr_path), str(result_file)]
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=tmp)
        except subprocess.TimeoutExpired as e:
            stderr = e.stderr if isinstance(e.stderr, str) else (e.stderr or b"").decode(errors="replace")
            raise PeerVenvError(
                f"hdmf-zarr export of {nwb_path} timed out after {timeout}s\n--- stderr ---\n{tail(stderr)}"
            ) from None
        if proc.returncode != 0 or not result_file.exists():
            raise PeerVenvError(
                f"hdmf-zarr export of {nwb_path} -> {zarr_path} failed (exit {proc.returncode}); "
                f"partial output may remain at {zarr_path}\n"
                f"--- child stderr ---\n{tail(proc.stderr)}\n--- child stdout ---\n{tail(proc.stdout)}"
            )
        result = json.loads(result_file.read_text())
    result["bytes"], result["n_files"] = du_bytes(zarr_path)
    result["stderr"] = tail(proc.stderr, 4000)
    return result


def main(argv: list | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("nwb")
    ap.add_argument("zarr")
    ap.add_argument("--venv", default=".venv-hdmf-zarr")
    args = ap.parse_args(argv)
    py = ensure_venv(Path(args.venv))
    r = export_nwb_to_zarr(args.nwb, args.zarr, py)
    r.pop("stderr", None)
    print(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
