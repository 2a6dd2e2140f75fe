"""The one harness of the benchmark scripts: the machine and the code measured, child processes,
memory, the page cache, other benchmarks on the machine, and the results files.

Not a benchmark itself. It imports only the standard library (a benchmark module is also imported
in interpreters that have nothing else, e.g. the pcodec worker of ``bench_spike_compression``).
Scratch data goes under ``/tmp/bench`` (``VBZARR_BENCH_DIR``), never into the repository; results
go to ``benchmarks/results/<name>.json|md``.

Every measured piece of a benchmark runs in a fresh interpreter, started as
``python -m benchmarks.bench_<name> --child KIND JSON`` from the repository root (see
:class:`Children`), so each figure is cold for the process (nothing opened or cached in Python).
The parent reaps the child with ``os.wait4``, whose rusage is that child's alone.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import io
import json
import os
import platform
import re
import resource
import shlex
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS = REPO / "benchmarks" / "results"
SCRATCH = Path(os.environ.get("VBZARR_BENCH_DIR", "/tmp/bench"))
#: The package code a benchmark measures: the read side and the write side (installed as
#: ``vbzarr.convert``).
PACKAGE = ("vbzarr", "converters")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------
# The machine, the command and the code measured
# ------------------------------------------------------------------------------------------------
#: Distributions whose versions matter for the figures, in the order the results show them.
VERSIONS = (
    "zarr",
    "xarray",
    "h5py",
    "numcodecs",
    "numpy",
    "pandas",
    "dask",
    "distributed",
    "pynwb",
    "hdmf",
    "pynapple",
    "icechunk",
    "zarrs",
    "s3fs",
    "moto",
)


def _proc_field(path: str, field: str) -> str | None:
    """The value of ``field:`` in a /proc file (e.g. ``/proc/meminfo``), None if unreadable."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(field):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def machine() -> dict:
    """nproc, RAM, CPU model, platform and the versions that matter for the figures (from the
    installed distributions' metadata: nothing is imported but h5py, for the HDF5 version)."""
    ram = _proc_field("/proc/meminfo", "MemTotal")
    versions = {"python": platform.python_version()}
    for dist in VERSIONS:
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            versions[dist] = importlib.metadata.version(dist)
    try:
        import h5py

        versions["hdf5"] = h5py.version.hdf5_version
    except ImportError:
        pass
    return {
        "nproc": os.cpu_count(),
        "cpu": _proc_field("/proc/cpuinfo", "model name") or "unknown",
        "ram": f"{int(ram.split()[0]) / 2**20:.1f} GiB" if ram else "unknown",
        "platform": platform.platform(),
        "versions": versions,
    }


def machine_markdown(info: dict, cmd: str, seconds: float | None = None) -> str:
    """The machine, the versions and the command of a run, for the head of a results file."""
    v = info["versions"]
    listed = [
        f"{k} {v[k]}" + (f" (HDF5 {v['hdf5']})" if k == "h5py" and "hdf5" in v else "")
        for k in VERSIONS
        if k in v
    ]
    text = (
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), {info['ram']} RAM, {info['platform']}; "
        f"Python {v['python']}, " + ", ".join(listed) + ".\n\n"
        f"Command (from the repository root): `{cmd}`"
    )
    if seconds is not None:
        text += f" (ran in {seconds / 60:.1f} min)"
    return text + "\n"


def command() -> str:
    """The command line of this run as typed from the repository root: ``python -m benchmarks run
    NAME ...`` (or ``python -m benchmarks.bench_NAME ...``)."""
    script = Path(sys.argv[0]).resolve()
    args = [shlex.quote(a) for a in sys.argv[1:]]
    if not script.is_file() or not script.is_relative_to(REPO):
        return " ".join(["python", shlex.quote(sys.argv[0]), *args])
    module = [p for p in script.relative_to(REPO).with_suffix("").parts if p != "__main__"]
    return " ".join(["python", "-m", ".".join(module), *args])


def git(*args: str) -> str:
    """``git ARGS`` in the repository; its output, or "unknown" if git fails."""
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def git_state() -> dict:
    """HEAD commit and whether the package code (converters/, vbzarr/) differs from it."""
    return {
        "head": git("rev-parse", "--short", "HEAD"),
        "package_dirty": bool(git("status", "--porcelain", "--", *PACKAGE)),
    }


def _package_files(rev: str | None) -> dict[str, bytes]:
    """``{path: content}`` of the package code, from the work tree or from commit ``rev``."""
    if rev is None:
        return {
            str(p.relative_to(REPO)): p.read_bytes()
            for pkg in PACKAGE
            for p in sorted((REPO / pkg).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev, *PACKAGE], cwd=REPO, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


#: The code every child started from now on imports (set by :func:`snapshot_code`).
_CODE: dict[str, Path] = {}


def snapshot_code(scratch: str | os.PathLike, rev: str | None = None, use: bool = True) -> dict:
    """Copy the package code (of the work tree, or of commit ``rev``) to ``scratch/snapshot-<sha1>``
    as it installs (``converters/`` as ``vbzarr/convert/``), so that one run measures one version of
    the code even when the work tree changes meanwhile. With ``use``, every child started from now
    on imports it. Returns the commit, the uncommitted package files, the content hash and the
    snapshot's folder (pass it to :meth:`Children.run` as ``code``)."""
    files = _package_files(rev)
    digest = hashlib.sha1()
    for name in sorted(files, key=lambda n: Path(n).parts):
        digest.update(name.encode())
        digest.update(files[name])
    sha = digest.hexdigest()[:12]
    dest = Path(scratch) / f"snapshot-{sha}"
    if not (dest / "DONE").exists():
        shutil.rmtree(dest, ignore_errors=True)
        for name, data in files.items():
            parts = Path(name).parts
            target = (
                dest.joinpath("vbzarr", "convert", *parts[1:])
                if parts[0] == "converters"
                else dest.joinpath(*parts)
            )
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        (dest / "DONE").write_text(sha)
    if use:
        _CODE["root"] = dest
    dirty = [] if rev else git("status", "--porcelain", "--", *PACKAGE).splitlines()
    return {
        "commit": git("rev-parse", rev or "HEAD"),
        "content_sha1": sha,
        "snapshot": str(dest),
        "dirty_files": dirty,
    }


def snapshot_run(scratch: str | os.PathLike, guard: bool) -> dict:
    """The start of a run that measures one version of the code: :func:`snapshot_code`, and with
    ``guard``, :func:`guard_children`. Returns the code's description."""
    code = snapshot_code(scratch)
    if guard:  # every child waits for quiet and is redone if overlapped
        guard_children()
    log(
        f"code: commit {code['commit'][:10]}, content {code['content_sha1']}, "
        f"{len(code['dirty_files'])} uncommitted package files; children import {code['snapshot']}"
    )
    return code


def code_markdown(code: dict, moved: bool = False) -> str:
    """The code a run measured (:func:`snapshot_code`), for its results file."""
    return (
        f"Code measured: commit `{code['commit'][:10]}` + {len(code['dirty_files'])} uncommitted "
        f"package files (content sha1 `{code['content_sha1']}`, imported from a snapshot so that the "
        f"whole run measures one version){'; HEAD moved during the run' if moved else ''}.\n"
    )


def git_markdown(start: dict, end: dict) -> str:
    """``Code: commit ...`` of a run from :func:`git_state` at its start and end (no final stop)."""
    return (
        f"Code: commit {start['head']}"
        + (" + uncommitted package changes" if start["package_dirty"] else "")
        + ("" if start == end else f" (CHANGED during the run: {end['head']}, dirty={end['package_dirty']})")
    )


def code_changed_since(code: dict) -> bool:
    """True if HEAD moved since :func:`snapshot_code` (the run still used the snapshot)."""
    return git("rev-parse", "HEAD") != code["commit"]


def factory_hash() -> str:
    """A short hash of the synthetic factory's source (the cache key of generated files)."""
    digest = hashlib.sha256()
    for f in sorted((REPO / "vbzarr" / "testing" / "synthetic").glob("*.py")):
        digest.update(f.read_bytes())
    return digest.hexdigest()[:10]


def cached(root: Path, make: Callable[[], dict], what: str = "generating") -> dict:
    """``make()``'s answer, made once and kept in ``root/DONE.json`` (``root`` is emptied first);
    ``make`` writes its files under ``root``. A run killed meanwhile leaves no DONE.json."""
    done = root / "DONE.json"
    if done.exists():
        return json.loads(done.read_text())
    shutil.rmtree(root, ignore_errors=True)
    log(f"{what} under {root} (once; cached) ...")
    info = make()
    root.mkdir(parents=True, exist_ok=True)
    done.write_text(json.dumps(info, indent=2))
    return info


def realistic_experiment(size: str = "realistic", seed: int = 7) -> tuple[Path, float | None]:
    """One synthetic ophys experiment NWB file of a size preset, generated once per version of the
    factory and cached under ``SCRATCH/factory-<size>-<seed>-<factory hash>``; returns (path,
    seconds it took to generate, or None if it was cached)."""
    from vbzarr.testing.synthetic.project import make_vbo_project

    root = SCRATCH / f"factory-{size}-{seed}-{factory_hash()}"
    done = root / "DONE"
    if done.exists():
        return Path(done.read_text().strip()), None
    shutil.rmtree(root, ignore_errors=True)
    t0 = time.perf_counter()
    project = make_vbo_project(
        root, n_containers=1, sessions_per_container=1, behavior_only_sessions=0, size=size, seed=seed
    )
    path = project.experiment_path(int(project.ophys_experiment_table.index[0]))
    done.write_text(str(path))
    return path, time.perf_counter() - t0


# ------------------------------------------------------------------------------------------------
# Memory
# ------------------------------------------------------------------------------------------------
def _status_mb(field: str, pid: int | str) -> float | None:
    value = _proc_field(f"/proc/{pid}/status", field)
    return int(value.split()[0]) / 1024 if value else None


def peak_rss_mb(pid: int | str = "self") -> float | None:
    """Peak RSS (MB) of a process's current address space: ``VmHWM`` of /proc/PID/status.

    Not ``ru_maxrss``: on Linux a child's ``ru_maxrss`` starts at its parent's peak RSS
    (subprocess spawns with vfork, and exec records the old address space's high-water mark), so
    a large parent would inflate every child's figure; exec resets VmHWM.
    """
    peak = _status_mb("VmHWM:", pid)
    if peak is None and pid == "self":
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return peak


def current_rss_mb(pid: int | str = "self") -> float | None:
    """RSS (MB) of a process now: ``VmRSS`` of /proc/PID/status."""
    return _status_mb("VmRSS:", pid)


# ------------------------------------------------------------------------------------------------
# Files and the page cache
# ------------------------------------------------------------------------------------------------
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
        out = subprocess.run(
            ["fincore", "--bytes", "--noheadings", "--raw", "-o", "RES,SIZE", *files],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    res = size = 0
    for line in out.split("\n"):
        if line.strip():
            r, s = line.split()
            res, size = res + int(r), size + int(s)
    return res / size if size else None


def read_every_dataset(path: str | os.PathLike) -> dict:
    """The h5py read limit of a file (a lower bound of any conversion): every dataset read whole.
    Returns ``seconds``, ``datasets`` and ``bytes`` (of the values in memory)."""
    import h5py

    t0 = time.perf_counter()
    n = nbytes = 0
    with h5py.File(path, "r") as f:
        names = []
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
        for name in names:
            value = f[name][()]
            nbytes += getattr(value, "nbytes", 0)
            n += 1
    return {"seconds": time.perf_counter() - t0, "datasets": n, "bytes": nbytes}


# ------------------------------------------------------------------------------------------------
# Other benchmarks on the machine (it is shared: a run overlapped by another is redone)
# ------------------------------------------------------------------------------------------------
#: Command lines of other benchmark runs (any benchmark, however started) and of test runs.
BUSY = re.compile(r"benchmarks[/.]bench_\w+|-m benchmarks run |pytest")


def _ancestors(pid: int) -> set[int]:
    out = set()
    while pid > 1 and pid not in out:
        out.add(pid)
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return out


def other_benchmarks() -> list[int]:
    """PIDs of the benchmark and test processes on this machine that are not this run's (this
    process, its ancestors and its descendants), read from /proc."""
    me = os.getpid()
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == me:
            continue
        try:
            cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if BUSY.search(cmd) and me not in _ancestors(int(d.name)) and int(d.name) not in _ancestors(me):
                pids.append(int(d.name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def wait_quiet(max_minutes: float = 40.0, poll: float = 30.0) -> float:
    """Wait until no other benchmark or test process runs; returns the seconds waited."""
    t0 = time.time()
    while True:
        pids = other_benchmarks()
        if not pids:
            return time.time() - t0
        if time.time() - t0 > max_minutes * 60:
            log(f"WARNING: other benchmarks still running after {max_minutes} min ({pids}); going on anyway")
            return time.time() - t0
        log(f"waiting for other benchmark processes {pids} ...")
        time.sleep(poll)


#: Set by :func:`guard_children`.
_GUARD = {"on": False}
#: How many times a guarded child that another benchmark overlapped is redone, at most.
GUARD_RETRIES = 3


def guard_children() -> None:
    """From now on, every child waits for a quiet machine (:func:`wait_quiet`) and is redone if
    another benchmark overlapped it."""
    _GUARD["on"] = True


# ------------------------------------------------------------------------------------------------
# Child processes
# ------------------------------------------------------------------------------------------------
class Children:
    """The measured pieces of one benchmark, each run in a fresh interpreter.

    ``python -m benchmarks.<name> --child KIND JSON`` (see :meth:`entry`) runs
    ``functions[KIND](payload)`` and prints its dict as JSON; :meth:`run` starts it from the
    repository root, reaps it with ``os.wait4`` and returns that dict plus the child's accounting:

    * default: ``child_wall_s``, ``child_maxrss_mb`` (``ru_maxrss``: includes the parent's peak RSS
      at spawn time, see :func:`peak_rss_mb`; children report their own peak) and ``child_cpu_s``;
      the child starts with warnings ignored;
    * ``detailed``: ``rusage_maxrss_mb``, ``user_s``, ``sys_s``, ``wall_s`` and the parent's RSS
      (``parent_rss_mb``), and the child adds its own ``self_maxrss_mb`` and ``vmhwm_mb``. The
      parent must then stay small (no numpy, xarray, pynwb imported: ~15 MiB): its machine
      description is made in a child too (:meth:`machine`).
    """

    def __init__(
        self, name: str, functions: dict[str, Callable[[dict], dict]], *, detailed: bool = False
    ) -> None:
        self.module = f"benchmarks.{name}"
        self.functions = {"machine": lambda _: machine(), **functions}
        self.detailed = detailed

    def argv(
        self, kind: str, payload: dict, code: Path | None = None, python: str | None = None
    ) -> list[str]:
        """The child's command line; with ``code``, it imports the package code from there; with
        ``python``, it runs on that interpreter (a peer's venv) instead of this one."""
        flags = ["-P"] if code else []  # -P: not the checkout's vbzarr/ from the working directory
        if not self.detailed:
            flags += ["-W", "ignore"]
        argv = [python or sys.executable, *flags, "-m", self.module, "--child", kind]
        return [*argv, json.dumps(payload)]

    def run(
        self,
        kind: str,
        payload: dict,
        *,
        env: dict | None = None,
        timeout: float | None = None,
        code: str | os.PathLike | None = None,
        python: str | os.PathLike | None = None,
    ) -> dict:
        """Run child ``kind`` with ``payload``; ``env`` adds environment variables; ``code`` is a
        folder of package code to import (default: the snapshot of :func:`snapshot_code`, if any);
        ``python`` is the interpreter (default: this one; a peer's venv: only this package, which
        needs nothing but the standard library, is put on its path).
        With :func:`guard_children` on, waits for quiet first and redoes a run that another
        benchmark overlapped (``disturbed_retries`` counts the redone runs)."""
        code = Path(code) if code else _CODE.get("root")
        env = {**os.environ, **(env or {})}
        if code:
            env["PYTHONPATH"] = os.pathsep.join([str(code), str(REPO)])
        elif python:
            env.pop("PYTHONPATH", None)
        argv = self.argv(kind, payload, code, str(python) if python else None)
        if not _GUARD["on"]:
            return self._account(*_spawn(argv, env, timeout, watch=False)[:3])
        retries = 0
        while True:
            wait_quiet()
            result, usage, wall, disturbed = _spawn(argv, env, timeout, watch=True)
            if not disturbed or retries >= GUARD_RETRIES:
                result = self._account(result, usage, wall)
                result["disturbed_retries"] = retries
                return result
            retries += 1
            log(f"  another benchmark overlapped child {kind}: redoing it ({retries})")

    def _account(self, result: dict, usage: resource.struct_rusage, wall: float) -> dict:
        if self.detailed:
            result.update(
                rusage_maxrss_mb=usage.ru_maxrss / 1024,
                user_s=usage.ru_utime,
                sys_s=usage.ru_stime,
                wall_s=wall,
                parent_rss_mb=current_rss_mb(),
            )
        else:
            result.update(
                child_wall_s=wall,
                child_maxrss_mb=usage.ru_maxrss / 1024,
                child_cpu_s=usage.ru_utime + usage.ru_stime,
            )
        return result

    def machine(self) -> dict:
        """:func:`machine`, made in a child (keeps the parent small)."""
        info = self.run("machine", {})
        return {k: info[k] for k in ("nproc", "ram", "cpu", "platform", "versions")}

    def serve(self, kind: str, payload: str) -> int:
        """The child side: run ``functions[kind]`` and print its dict as JSON."""
        out = self.functions[kind](json.loads(payload))
        if self.detailed:
            out["self_maxrss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            out["vmhwm_mb"] = _status_mb("VmHWM:", "self")
        print(json.dumps(out, default=float))
        return 0

    def entry(self, main: Callable[[list[str]], int | None]) -> None:
        """``if __name__ == "__main__"`` of a benchmark module: a child (``--child KIND JSON``) or
        the benchmark itself (``main(argv)``)."""
        argv = sys.argv[1:]
        if argv[:1] == ["--child"]:
            sys.exit(self.serve(*argv[1:3]))
        sys.exit(main(argv))


def _spawn(argv: list[str], env: dict, timeout: float | None, watch: bool):
    """Run ``argv`` from the repository root; return (the JSON object its stdout ends with, its
    rusage, wall seconds, whether another benchmark ran meanwhile (``watch`` only))."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err, cwd=REPO, env=env)
        disturbed = False
        if timeout is None and not watch:
            _, status, usage = os.wait4(proc.pid, 0)
        else:
            deadline = None if timeout is None else t0 + timeout
            next_check = t0 + 1.0
            while True:
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                if pid:
                    break
                now = time.perf_counter()
                if watch and not disturbed and now > next_check:
                    disturbed, next_check = bool(other_benchmarks()), now + 2.0
                if deadline is not None and now > deadline:
                    proc.kill()
                    os.wait4(proc.pid, 0)
                    raise TimeoutError(f"child {argv[-2]} timed out after {timeout}s")
                time.sleep(0.05)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(errors="replace"), err.read().decode(errors="replace")
    what = " ".join(argv[argv.index("-m") + 1 : -1])
    if proc.returncode != 0:
        raise RuntimeError(f"child {what} failed (exit {proc.returncode}):\n{stderr[-8000:]}")
    lines = [ln for ln in stdout.strip().splitlines() if ln.startswith("{")]
    if not lines:
        raise RuntimeError(f"child {what} printed no JSON:\n{stdout[-2000:]}\n{stderr[-4000:]}")
    return json.loads(lines[-1]), usage, wall, disturbed or (watch and bool(other_benchmarks()))


# ------------------------------------------------------------------------------------------------
# Figures and results files
# ------------------------------------------------------------------------------------------------
def stats(values: list[float]) -> dict:
    return {
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def median(xs: list[float]) -> float:
    return float(statistics.median(xs))


def line(x0: float, y0: float, x1: float, y1: float) -> tuple[float, float]:
    """``(intercept, slope)`` of the line through ``(x0, y0)`` and ``(x1, y1)``: how a benchmark
    extrapolates two measured sizes to a release's."""
    slope = (y1 - y0) / (x1 - x0)
    return y0 - slope * x0, slope


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


def md_table(header: list[str], rows: list[list]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def read_results(name: str) -> dict:
    """The results JSON of the last run of benchmark ``name`` (e.g. ``bench_alignment``)."""
    return json.loads((RESULTS / f"{name}.json").read_text())


def write_results(name: str, payload: dict, markdown: str) -> tuple[Path, Path]:
    RESULTS.mkdir(parents=True, exist_ok=True)
    j, m = RESULTS / f"{name}.json", RESULTS / f"{name}.md"
    j.write_text(json.dumps(payload, indent=2, default=str) + "\n")
    m.write_text(markdown)
    return j, m


def publish(name: str, results: dict, render: Callable[[dict], str], started: dict, t0: float) -> str:
    """Finish a run: add its command, the code it measured (``started``: :func:`git_state` at its
    start) and its duration to ``results``; write the results files and print the report."""
    results.update(
        command=command(), git={"start": started, "end": git_state()}, seconds=time.perf_counter() - t0
    )
    report = render(results)
    write_results(name, results, report)
    print(report)
    return report


def report_head(name: str, res: dict) -> list[str]:
    """The first lines of a report: its title, the machine and command, the code measured."""
    return [
        f"# {name}\n",
        machine_markdown(res["machine"], res["command"], res["seconds"]),
        git_markdown(res["git"]["start"], res["git"]["end"]),
    ]
