"""Shared helpers of the benchmark scripts: machine description, child processes, sizes, page cache.

Not a benchmark itself. Scratch data goes under ``/tmp/bench`` (``VBZARR_BENCH_DIR``), never into
the repository; results go to ``benchmarks/results/<name>.json|md``.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import statistics
import subprocess
import sys
import tempfile
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
    """The exact command line this script was run with (relative to the repository root)."""
    script = os.path.relpath(os.path.abspath(sys.argv[0]), REPO)
    return " ".join(["python", shlex.quote(script), *map(shlex.quote, sys.argv[1:])])


def files_under(path: str | os.PathLike) -> list[Path]:
    path = Path(path)
    if path.is_file():
        return [path]
    return [Path(r, f) for r, _, fs in os.walk(path) for f in fs]


def du_bytes(path: str | os.PathLike) -> tuple[int, int]:
    """(apparent bytes, number of files) of everything under ``path`` (a file or a folder)."""
    files = files_under(path)
    return sum(os.lstat(f).st_size for f in files), len(files)


def drop_page_cache(path: str | os.PathLike) -> None:
    """Make the kernel forget the cached pages of ``path`` (posix_fadvise DONTNEED; no root needed).

    Only clean pages are dropped: files are synced first.
    """
    for f in files_under(path):
        fd = os.open(f, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def warm_page_cache(path: str | os.PathLike) -> None:
    """Read every file under ``path`` once, so that it is in the page cache."""
    for f in files_under(path):
        with open(f, "rb") as fh:
            while fh.read(16 * 2**20):
                pass


def cached_fraction(path: str | os.PathLike) -> float | None:
    """Fraction of ``path``'s bytes in the page cache (util-linux ``fincore``), None if unknown."""
    files = [str(f) for f in files_under(path)]
    try:
        out = subprocess.run(["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES,SIZE",
                              *files], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    res = size = 0
    for line in out.split("\n"):
        if line.strip():
            r, s = line.split()
            res, size = res + int(r), size + int(s)
    return res / size if size else None


def run_child(argv: list[str], timeout: float | None = None, env: dict | None = None) -> dict:
    """Run ``argv`` from the repository root; return the JSON object its stdout ends with, plus
    ``child_wall_s`` and, from ``wait4``, that one child's ``child_cpu_s`` and ``child_maxrss_mb``
    (the latter includes the parent's peak RSS at spawn time, see :func:`rss_mb`: children report
    their own ``peak_rss_mb``)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=REPO, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    if proc.returncode != 0:
        raise RuntimeError(f"child {argv[:4]} failed (exit {proc.returncode}):\n{stderr[-6000:]}")
    lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"child {argv[:4]} printed no JSON:\n{stdout[-2000:]}\n{stderr[-4000:]}")
    result = json.loads(lines[-1])
    result.update(child_wall_s=wall, child_maxrss_mb=usage.ru_maxrss / 1024,
                  child_cpu_s=usage.ru_utime + usage.ru_stime)
    return result


def self_child(script: str, kind: str, params: dict) -> list[str]:
    """argv that runs ``script --child kind JSON`` with this interpreter."""
    return [sys.executable, "-W", "ignore", str(script), "--child", kind, json.dumps(params)]


def rss_mb() -> float:
    """Peak RSS (MB) of this process's own address space: ``VmHWM`` of /proc/self/status.

    Not ``ru_maxrss``: on Linux a child's ``ru_maxrss`` starts at its parent's peak RSS
    (subprocess spawns with vfork, and exec records the old address space's high-water mark), so
    a large parent would inflate every child's figure.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def stats(values: list[float]) -> dict:
    return {"median": statistics.median(values), "mean": statistics.fmean(values),
            "min": min(values), "max": max(values), "n": len(values)}


def write_results(name: str, payload: dict, markdown: str) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    j, m = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    j.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    m.write_text(markdown)
    return j, m


def machine_markdown(info: dict, cmd: str, seconds: float | None = None) -> str:
    v = info["versions"]
    text = (f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, {info['platform']}; "
            f"Python {v['python']}, zarr {v['zarr']}, xarray {v['xarray']}, h5py {v['h5py']} "
            f"(HDF5 {v['hdf5']}), numcodecs {v['numcodecs']}, numpy {v['numpy']}, "
            f"pandas {v['pandas']}" + (f", dask {v['dask']}" if "dask" in v else "")
            + (f", pynwb {v['pynwb']}" if "pynwb" in v else "") + ".\n\n"
            f"Command (from the repository root): `{cmd}`")
    if seconds is not None:
        text += f" (ran in {seconds / 60:.1f} min)"
    return text + "\n"


def md_table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def git_state() -> dict:
    """HEAD commit and whether the package code (converters/, vbzarr/) differs from it."""
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return "unknown"

    return {"head": git("rev-parse", "--short", "HEAD"),
            "package_dirty": bool(git("status", "--porcelain", "--", "converters", "vbzarr"))}


def factory_hash() -> str:
    """A short hash of the synthetic factory's source (the cache key of generated files)."""
    import hashlib

    digest = hashlib.sha256()
    for f in sorted((REPO / "vbzarr" / "testing" / "synthetic").glob("*.py")):
        digest.update(f.read_bytes())
    return digest.hexdigest()[:10]


def realistic_experiment(size: str = "realistic", seed: int = 7) -> tuple[Path, float | None]:
    """One synthetic ophys experiment NWB file of a size preset, generated once per version of the
    factory and cached under ``SCRATCH/factory-<size>-<seed>-<factory hash>``; returns (path,
    seconds it took to generate, or None if it was cached)."""
    from vbzarr.testing.synthetic.project import make_vbo_project

    root = SCRATCH / f"factory-{size}-{seed}-{factory_hash()}"
    done = root / "DONE"
    if done.exists():
        return Path(done.read_text().strip()), None
    import shutil

    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    project = make_vbo_project(root, n_containers=1, sessions_per_container=1,
                               behavior_only_sessions=0, size=size, seed=seed)
    path = project.experiment_path(int(project.ophys_experiment_table.index[0]))
    done.write_text(str(path))
    return path, time.perf_counter() - t0
