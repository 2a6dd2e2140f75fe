"""Child processes, peak RSS and quiet-machine helpers shared by bench_ecephys_conversion.py and
bench_alignment.py. Not a benchmark itself.

A benchmark script re-invokes itself as ``python <script> --child NAME JSON`` for every measured
piece, so each figure comes from a fresh interpreter (cold: nothing opened or cached in Python).
The parent reaps the child with ``os.wait4``, whose rusage is that child's alone (the same
accounting as ``RUSAGE_CHILDREN``, but not mixed with earlier children), and reports its
``ru_maxrss`` as the peak RSS.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
# The other agent's benchmarks, and test runs (pytest) of other sessions on this machine.
OTHER_BENCHMARKS = "bench_ophys_conversion|bench_manifest|pytest"

# Sizes, page cache and result files: one implementation for every benchmark (re-exported).
from benchmarks._common import (  # noqa: E402, F401
    command,
    drop_page_cache,
    du_bytes,
    files_under,
    warm_page_cache,
    write_results,
)
from benchmarks._common import md_table as table  # noqa: E402, F401


def versions() -> dict:
    """nproc, RAM, CPU model, platform and the versions that matter for the figures."""
    cpu = ram = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
    vers = {"python": platform.python_version()}
    for mod in ("zarr", "xarray", "h5py", "pynwb", "hdmf", "pynapple", "numpy", "pandas", "dask",
                "distributed", "numcodecs"):
        try:
            vers[mod] = __import__(mod).__version__
        except ImportError:
            pass
    import h5py

    vers["hdf5"] = h5py.version.hdf5_version
    return {"nproc": os.cpu_count(), "ram": ram, "cpu": cpu, "platform": platform.platform(),
            "versions": vers}


def machine_line(info: dict, cmd: str) -> str:
    v = info["versions"]
    keys = ["python", "zarr", "xarray", "h5py", "hdf5", "pynwb", "hdmf", "pynapple", "numpy",
            "pandas", "dask", "numcodecs"]
    return (f"Machine: nproc={info['nproc']}, {info['ram']} RAM, CPU {info['cpu']}, "
            f"{info['platform']}.\n\nVersions: " + ", ".join(f"{k} {v[k]}" for k in keys if k in v)
            + f".\n\nCommand (from the repository root): `{cmd}`\n")


_SNAPSHOT_ENV: dict = {}


def snapshot_code(scratch: str | os.PathLike) -> dict:
    """Copy the package code (vbzarr/, converters/) to ``scratch/code-<sha1>`` and make every
    child import it (PYTHONPATH), so that one run measures one version of the code even when the
    work tree changes meanwhile. Returns the commit, dirty flag and content hash."""
    import hashlib
    import shutil

    digest = hashlib.sha1()
    files = sorted(p for pkg in ("vbzarr", "converters") for p in (REPO / pkg).rglob("*")
                   if p.is_file() and "__pycache__" not in p.parts)
    for f in files:
        digest.update(str(f.relative_to(REPO)).encode())
        digest.update(f.read_bytes())
    sha = digest.hexdigest()[:12]
    dest = Path(scratch) / f"code-{sha}"
    if not (dest / "DONE").exists():
        shutil.rmtree(dest, ignore_errors=True)
        for f in files:
            target = dest / f.relative_to(REPO)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(f, target)
        (dest / "DONE").write_text(sha)
    _SNAPSHOT_ENV["PYTHONPATH"] = str(dest)

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "content_sha1": sha, "snapshot": str(dest),
            "dirty_files": git("status", "--porcelain", "--", "vbzarr", "converters").splitlines()}


def code_changed_since(info: dict) -> bool:
    """True if HEAD moved since :func:`snapshot_code` (the run still used the snapshot)."""
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                          text=True).stdout.strip()
    return head != info["commit"]


def other_benchmarks() -> list[int]:
    """PIDs of the other agent's benchmark processes (what ``pgrep -f`` finds), read from /proc."""
    names = OTHER_BENCHMARKS.split("|")
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(n in cmd for n in names):
            pids.append(int(d.name))
    return pids


#: Set by the scripts: wait for quiet before each child and redo a child that another benchmark
#: overlapped (at most GUARD_RETRIES times).
GUARD = {"on": False, "log": print}
GUARD_RETRIES = 3


def wait_quiet(max_minutes: float = 40.0, poll: float = 30.0, log=print) -> float:
    """Wait until no other benchmark process runs (pgrep -f); returns the seconds waited."""
    t0 = time.time()
    while True:
        pids = other_benchmarks()
        if not pids:
            return time.time() - t0
        if time.time() - t0 > max_minutes * 60:
            log(f"WARNING: other benchmarks still running after {max_minutes} min ({pids}); "
                "going on anyway")
            return time.time() - t0
        log(f"waiting for other benchmark processes {pids} ...")
        time.sleep(poll)


def run_child(script: str | Path, name: str, payload: dict, timeout: float | None = None,
              env: dict | None = None) -> dict:
    """See :func:`_run_child`; with GUARD on, waits for quiet first and redoes a run that another
    benchmark overlapped (``disturbed_retries`` counts the redone runs)."""
    if not GUARD["on"]:
        return _run_child(script, name, payload, timeout, env)
    retries = 0
    while True:
        wait_quiet(log=GUARD["log"])
        result = _run_child(script, name, payload, timeout, env, watch=True)
        if not result.pop("disturbed") or retries >= GUARD_RETRIES:
            result["disturbed_retries"] = retries
            return result
        retries += 1
        GUARD["log"](f"  another benchmark overlapped child {name}: redoing it ({retries})")


def _run_child(script: str | Path, name: str, payload: dict, timeout: float | None = None,
               env: dict | None = None, watch: bool = False) -> dict:
    """Run ``python script --child name json(payload)`` from the repo root; return the JSON object
    it prints last, plus ``rusage_maxrss_mb`` / ``user_s`` / ``sys_s`` / ``wall_s`` of that child.

    Caveat measured on this kernel: a child's ``ru_maxrss`` (RUSAGE_SELF in the child, wait4 /
    RUSAGE_CHILDREN in the parent) is at least the parent's RSS when it was spawned (Linux keeps
    the pre-exec address space's high-water mark). So the parent must stay small (no numpy,
    xarray, pynwb imported: ~15 MiB) and the child also reports ``vmhwm_mb`` (VmHWM of its own
    address space, from /proc/self/status) as a cross-check; ``parent_rss_mb`` is recorded."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, str(script), "--child", name, json.dumps(payload)],
                                stdout=out, stderr=err, cwd=REPO, text=True,
                                env={**os.environ, **_SNAPSHOT_ENV, **(env or {})})
        deadline = None if timeout is None else t0 + timeout
        disturbed, next_check = False, time.perf_counter() + 1.0
        while True:
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if watch and not disturbed and time.perf_counter() > next_check:
                disturbed = bool(other_benchmarks())
                next_check = time.perf_counter() + 2.0
            if deadline is not None and time.perf_counter() > deadline:
                proc.kill()
                os.wait4(proc.pid, 0)
                raise TimeoutError(f"child {name} timed out after {timeout}s")
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode != 0:
        raise RuntimeError(f"child {name} failed (exit {proc.returncode}):\n{stderr[-8000:]}")
    lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
    result = json.loads(lines[-1])
    result.update(rusage_maxrss_mb=usage.ru_maxrss / 1024, user_s=usage.ru_utime,
                  sys_s=usage.ru_stime, wall_s=wall, parent_rss_mb=current_rss_mb())
    if watch:
        result["disturbed"] = disturbed or bool(other_benchmarks())
    return result


def vm_hwm_mb(pid: int | str = "self") -> float | None:
    """Peak RSS of a process's current address space (VmHWM; reset by exec, unlike ru_maxrss)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def child_main(children: dict) -> None:
    """Entry point of ``--child NAME JSON``: run ``children[NAME](payload)``, print its dict.

    ``versions`` is built in (so that the parent never imports the heavy modules: a child's
    ``ru_maxrss`` starts at its parent's RSS, see :func:`run_child`)."""
    name, payload = sys.argv[2], json.loads(sys.argv[3])
    out = versions() if name == "versions" else children[name](payload)
    out["self_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    out["vmhwm_mb"] = vm_hwm_mb()
    print(json.dumps(out, default=float))


def current_rss_mb(pid: int | str = "self") -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    if x >= 100:
        return f"{x:.0f} s"
    if x >= 1:
        return f"{x:.2f} s"
    return f"{x * 1000:.1f} ms"


def fmt_mb(x: float | None) -> str:
    return "-" if x is None else (f"{x / 1024:.2f} GiB" if x >= 1024 else f"{x:.0f} MiB")


def ratio(a: float | None, b: float | None) -> str:
    """'b / a' as 'N.Nx' (how many times a is faster / smaller than b)."""
    if not a or not b:
        return "-"
    r = b / a
    return f"{r:.1f}x" if r >= 10 else f"{r:.2f}x"
