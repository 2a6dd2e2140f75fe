"""Shared helpers of the benchmark scripts: machine description, timing, sizes, cached inputs.

Not a benchmark itself. Scratch data goes under ``/tmp/bench`` (``VBZARR_BENCH_DIR``), never into
the repository; results go to ``benchmarks/results/<name>.json|md``.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SCRATCH = Path(os.environ.get("VBZARR_BENCH_DIR", "/tmp/bench"))


def machine() -> dict:
    """nproc, RAM, CPU model and the versions that matter for the figures."""
    import h5py
    import numcodecs
    import numpy
    import pandas
    import xarray
    import zarr

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "unknown"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    except OSError:
        pass
    versions = {"python": platform.python_version(), "zarr": zarr.__version__,
                "xarray": xarray.__version__, "h5py": h5py.__version__,
                "hdf5": h5py.version.hdf5_version, "numcodecs": numcodecs.__version__,
                "numpy": numpy.__version__, "pandas": pandas.__version__}
    for mod in ("dask", "pynwb", "s3fs", "moto"):
        try:
            versions[mod] = __import__(mod).__version__
        except ImportError:
            pass
    return {"nproc": os.cpu_count(), "ram": ram, "cpu": cpu, "platform": platform.platform(),
            "versions": versions}


def command() -> str:
    """The exact command line this script was run with (from the repository root)."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), os.getcwd())
    return " ".join(["python", shlex.quote(script), *map(shlex.quote, sys.argv[1:])])


def du_bytes(path: str | os.PathLike) -> tuple[int, int]:
    """(apparent bytes, number of files) of everything under ``path`` (a file or a folder)."""
    path = Path(path)
    if path.is_file():
        return path.stat().st_size, 1
    total = n = 0
    for root, _dirs, files in os.walk(path):
        for f in files:
            total += os.lstat(os.path.join(root, f)).st_size
            n += 1
    return total, n


def drop_page_cache(path: str | os.PathLike) -> bool:
    """Ask the kernel to forget the cached pages of ``path`` (posix_fadvise DONTNEED; no root).

    Returns False where that is not possible. Only clean pages are dropped, so call it after the
    files were written and synced.
    """
    path = Path(path)
    files = [path] if path.is_file() else [Path(r, f) for r, _, fs in os.walk(path) for f in fs]
    try:
        for f in files:
            fd = os.open(f, os.O_RDONLY)
            try:
                os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
            finally:
                os.close(fd)
    except (AttributeError, OSError):
        return False
    return True


def run_child(code: str, *args: str, timeout: float | None = None) -> dict:
    """Run ``python -c code args`` from the repo root; the child prints one JSON line last."""
    proc = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"child failed (exit {proc.returncode}):\n{proc.stderr[-6000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


class Timer:
    def __enter__(self) -> Timer:
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.t0


def write_results(name: str, payload: dict, markdown: str) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    j, m = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    j.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    m.write_text(markdown)
    return j, m


def machine_markdown(info: dict, cmd: str) -> str:
    v = info["versions"]
    return (f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, {info['platform']}; "
            f"Python {v['python']}, zarr {v['zarr']}, xarray {v['xarray']}, h5py {v['h5py']} "
            f"(HDF5 {v['hdf5']}), numcodecs {v['numcodecs']}, numpy {v['numpy']}, "
            f"pandas {v['pandas']}" + (f", dask {v['dask']}" if "dask" in v else "") + ".\n\n"
            f"Command (from the repository root): `{cmd}`\n")


def table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def realistic_experiment(size: str = "realistic", seed: int = 7) -> Path:
    """One synthetic ophys experiment NWB file of the given size preset, generated once and cached
    under ``SCRATCH/factory-<size>-<seed>``."""
    from converters.synthetic.project import make_vbo_project

    root = SCRATCH / f"factory-{size}-{seed}"
    done = root / "DONE"
    if done.exists():
        return Path(done.read_text().strip())
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    project = make_vbo_project(root, n_containers=1, sessions_per_container=1,
                               behavior_only_sessions=0, size=size, seed=seed)
    path = project.experiment_path(int(project.ophys_experiment_table.index[0]))
    done.write_text(str(path))
    return path
