"""VBN's LFP at the released rate: a session with one probe's LFP file at 2500 Hz on 96 channels
(the release's rate and channel count), converted into a project at three recording lengths, against
hdmf-zarr's export of the LFP file; seconds, MB/s and peak RSS, and what they give for a released
session.

Why: the release stores every probe's LFP at 2500 Hz (float32 on 96 channels: 3.5 GB per
probe-hour, up to 6 probes per session), and
the factory's ``realistic`` preset writes 250 Hz, so the release plan (``bench_cluster``) had no
measured LFP rate or memory at the released rate. Three lengths, the longest a released probe's
(about 2.1 h, 7.4 GB), show how time and memory grow with it.

What runs (one run; each conversion in a fresh process, the sources warm in the page cache):

a. Inputs: three one-session VBN releases (``make_vbn_project``), each one probe of 384 channels with
   LFP on 96 of them at 2500 Hz (float32, as released), few units, recordings of about 13, 23
   and 128 minutes (``EcephysSize.task_minutes`` 5, 10 and 62).
b. vbzarr: ``convert_project`` of each release into a new project with one writer thread (as each
   file on a cluster worker): seconds (hashing the sources included), peak RSS (``VmHWM``).
c. The peer: hdmf-zarr 0.13's ``NWBZarrIO.export`` of the LFP file, in its own venv: seconds, peak
   RSS.
d. Values: the project's ``lfp`` equals the NWB's dataset (h5py), compared slab by slab.

Usage (from the repository root)::

    python -m benchmarks run lfp [--task-minutes 5,10,62] [--skip-hdmf]
"""

from __future__ import annotations

import argparse
import shutil
import time
from pathlib import Path

from benchmarks.harness import (
    SCRATCH,
    Children,
    cached,
    factory_hash,
    git_state,
    guard_children,
    line,
    log,
    md_table,
    publish,
    ratio,
    report_head,
    warm_page_cache,
)

NAME = "bench_lfp"
RATE, CHANNELS = 2500.0, 96
#: A released session's probes with LFP (probeA to probeF).
RELEASED_PROBES = 6
PROBE_HOUR_BYTES = RATE * CHANNELS * 4 * 3600


def child_convert(p: dict) -> dict:
    from benchmarks.harness import du_bytes, peak_rss_mb
    from vbzarr.convert.project import convert_project

    shutil.rmtree(p["project"], ignore_errors=True)
    before = peak_rss_mb()
    t = time.perf_counter()
    report = convert_project(p["release"], p["project"], threads=1)
    seconds = time.perf_counter() - t
    assert not report.failed, report.failed
    return {
        "seconds": seconds,
        "peak_rss_mb": peak_rss_mb(),
        "before_mb": before,
        "project_bytes": du_bytes(p["project"])[0],
    }


def child_check(p: dict) -> dict:
    """The project's ``lfp`` equals the NWB's dataset, slab by slab."""
    import h5py
    import numpy as np

    import vbzarr

    project = vbzarr.open_project(p["project"])
    session = project.ecephys_session(p["session_id"])
    lfp = session["lfp"][str(p["probe_id"])]["lfp"]
    with h5py.File(p["lfp_path"], "r") as f:
        name = f"probe_{p['probe_id']}_lfp"
        data = f[f"acquisition/{name}/{name}_data/data"]
        step = 1 << 20
        for a in range(0, data.shape[0], step):
            np.testing.assert_array_equal(lfp[a : a + step].values, data[a : a + step])
    return {"equal": True, "shape": list(lfp.shape)}


CHILDREN = Children(NAME, {"convert": child_convert, "check": child_check})


def release(task_minutes: float, seed: int = 5) -> dict:
    """A one-session VBN release with one probe's LFP at the released rate."""
    root = SCRATCH / f"lfp-{task_minutes:g}-{seed}"

    def make() -> dict:
        from vbzarr.testing.synthetic.sizes import EcephysSize
        from vbzarr.testing.synthetic.timing import recording_span
        from vbzarr.testing.synthetic.vbn_project import make_vbn_project

        size = EcephysSize(
            task_minutes=task_minutes,
            n_probes=1,
            channels_per_probe=384,
            units_per_probe=20,
            lfp_probes=1,
            lfp_rate=RATE,
            lfp_channels=CHANNELS,
        )
        t = time.perf_counter()
        made = make_vbn_project(
            root / "release", n_sessions=1, behavior_only_sessions=0, size=size, seed=seed
        )
        session_id = int(made.ecephys_session_table.index[0])
        probe_id = int(made.probe_table.index[0])
        lfp_path = next((root / "release").rglob("probe_*_lfp.nwb"))
        start, stop = recording_span(size)
        return {
            "release": str(root / "release"),
            "session_id": session_id,
            "probe_id": probe_id,
            "lfp_path": str(lfp_path),
            "lfp_bytes": lfp_path.stat().st_size,
            "session_bytes": sum(f.stat().st_size for f in (root / "release").rglob("*.nwb")),
            "recording_s": stop - start,
            "generated_s": time.perf_counter() - t,
            "factory": factory_hash(),
        }

    return cached(
        root, make, what=f"a VBN session with one probe's LFP at {RATE:g} Hz ({task_minutes:g} min task)"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks run lfp", description=__doc__.split("\n")[0])
    parser.add_argument("--task-minutes", default="5,10,62")
    parser.add_argument("--skip-hdmf", action="store_true")
    parser.add_argument("--hdmf-venv", default=str(SCRATCH / "venv-hdmf-zarr"))
    parser.add_argument("--no-wait", action="store_true")
    args = parser.parse_args(argv)
    started, t0 = git_state(), time.perf_counter()
    python = None
    if not args.skip_hdmf:
        from benchmarks.peers.hdmf_zarr_env import ensure_venv, export_nwb_to_zarr

        python = ensure_venv(Path(args.hdmf_venv))
    if not args.no_wait:
        guard_children()
    machine = CHILDREN.machine()
    rows = []
    for minutes in (float(m) for m in args.task_minutes.split(",")):
        info = release(minutes)
        project = str(SCRATCH / "lfp-work" / "project")
        payload = {**info, "project": project}
        warm_page_cache(info["lfp_path"])
        log(f"{minutes:g} min task ({info['recording_s'] / 60:.1f} min recording): vbzarr ...")
        row = {"info": info, "vbzarr": CHILDREN.run("convert", payload)}
        ours = row["vbzarr"]
        log(f"  {ours['seconds']:.1f} s, peak RSS {ours['peak_rss_mb']:.0f} MB; checking ...")
        row["check"] = CHILDREN.run("check", payload)
        if python is not None:
            warm_page_cache(info["lfp_path"])
            log("  hdmf-zarr export ...")
            peer = export_nwb_to_zarr(info["lfp_path"], SCRATCH / "lfp-work" / "hdmf.zarr", python)
            peer.pop("stderr", None)
            row["hdmf_zarr"] = peer
            log(f"  {peer['seconds']:.1f} s, peak RSS {peer['peak_rss_mb']:.0f} MB")
        rows.append(row)
        shutil.rmtree(SCRATCH / "lfp-work", ignore_errors=True)  # our own scratch folder
    from vbzarr.testing.synthetic.sizes import EcephysSize
    from vbzarr.testing.synthetic.timing import recording_span

    start, stop = recording_span(EcephysSize.preset("realistic"))
    results = {"machine": machine, "rows": rows, "released_recording_s": stop - start}
    publish(NAME, results, render, started, t0)
    return 0


def released(res: dict) -> dict:
    """vbzarr's seconds and peak RSS on a line through the shortest and longest recordings, at a
    released probe's (``released_recording_s``); used by ``bench_cluster``'s release plan."""
    first, last = res["rows"][0], res["rows"][-1]
    seconds, rss = (
        line(
            first["info"]["recording_s"] / 3600,
            first["vbzarr"][key],
            last["info"]["recording_s"] / 3600,
            last["vbzarr"][key],
        )
        for key in ("seconds", "peak_rss_mb")
    )
    h = res["released_recording_s"] / 3600
    return {
        "hours": h,
        "probe_bytes": PROBE_HOUR_BYTES * h,
        "probe_seconds": seconds[0] + seconds[1] * h,
        "peak_rss_mb": rss[0] + rss[1] * h,
        "seconds_per_hour": seconds[1],
        "rss_mb_per_hour": rss[1],
        "store_ratio": last["vbzarr"]["project_bytes"] / last["info"]["session_bytes"],
    }


def render(res: dict) -> str:
    rows = res["rows"]
    table = []
    for r in rows:
        info, ours, peer = r["info"], r["vbzarr"], r.get("hdmf_zarr")
        table.append(
            [
                f"{info['recording_s'] / 60:.1f}",
                f"{info['lfp_bytes'] / 1e9:.2f} ({info['session_bytes'] / 1e9:.2f})",
                f"{ours['seconds']:.1f}",
                f"{info['session_bytes'] / 1e6 / ours['seconds']:.0f}",
                f"{ours['peak_rss_mb']:.0f} ({ours['before_mb']:.0f} before)",
                f"{peer['seconds']:.1f}" if peer else "-",
                f"{peer['peak_rss_mb']:.0f}" if peer else "-",
                ratio(ours["seconds"], peer["seconds"]) if peer else "-",
                "yes" if r["check"]["equal"] else "NO",
            ]
        )
    fit = released(res)
    return "\n".join(
        [
            *report_head(NAME, res),
            f"One probe's LFP at {RATE:g} Hz on {CHANNELS} channels (float32), in a one-session release; "
            "vbzarr converts the whole session (its small session file too) with one writer thread, "
            "hdmf-zarr exports the LFP file alone.\n",
            md_table(
                [
                    "recording min",
                    "LFP file GB (session's files)",
                    "vbzarr s",
                    "vbzarr MB/s",
                    "vbzarr peak RSS MB",
                    "hdmf-zarr s",
                    "hdmf-zarr peak RSS MB",
                    "hdmf-zarr / vbzarr",
                    "lfp equal to the NWB",
                ],
                table,
            ),
            "",
            "Through the shortest and longest recordings, vbzarr's time grows "
            f"{fit['seconds_per_hour']:.0f} s and its peak RSS {fit['rss_mb_per_hour']:.0f} MB per hour "
            f"of recording ({PROBE_HOUR_BYTES / 1e9:.2f} GB "
            f"of LFP per probe-hour). A released probe's recording ({fit['hours']:.1f} h, the factory's "
            f"`realistic` session, {fit['probe_bytes'] / 1e9:.1f} GB of LFP): about "
            f"{fit['probe_seconds'] / 60:.1f} min and {fit['peak_rss_mb']:.0f} MB with one writer "
            f"thread; a session's {RELEASED_PROBES} probes about "
            f"{RELEASED_PROBES * fit['probe_seconds'] / 60:.0f} min of one worker (a session is one "
            "file of the release plan: its LFP files convert with it).\n",
        ]
    )


if __name__ == "__main__":
    CHILDREN.entry(main)
