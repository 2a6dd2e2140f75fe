"""The transactional project (Icechunk) against the previous plain-store projects, side by side.

(a) ``convert_project`` of one synthetic release, and (b) the container change-aligned mean
(open the project, ``dff`` of the container, its change presentations, ``align``, mean by image,
one compute), each in fresh processes, with this checkout's code and with the previous plain-store
code (commit ``--previous``, default the last commit before the Icechunk rewrite; both imported
from snapshots of their package code); medians of ``--repeats`` runs; the same mean from projects
on moto's S3 server, with its GETs. (c) GETs and seconds to open a project on moto's S3 server at
100 and 2,000 experiments (each store's full group metadata, copied from a converted experiment;
no chunks: opening reads none).

Usage (from the repository root)::

    python -m benchmarks run icechunk
    python -m benchmarks run icechunk --size small --repeats 3 --previous 2ed84f9
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from benchmarks.harness import (
    Children,
    command,
    machine,
    read_results,
    snapshot_code,
    write_results,
)

NAME = "bench_icechunk"
PREVIOUS = "previous (plain stores)"


def child_convert(p: dict) -> dict:
    """``convert_project`` of the release, with the code of the child's snapshot."""
    from vbzarr.convert.project import convert_project

    t = time.perf_counter()
    report = convert_project(p["src"], p["dst"], storage_options=p.get("storage_options"))
    assert not report.failed, report.failed
    return {"seconds": time.perf_counter() - t}


def child_mean(p: dict) -> dict:
    """The container change-aligned mean, with the code of the child's snapshot."""
    import numpy as np

    import vbzarr
    import vbzarr.store

    if p.get("zarr_python_codecs"):  # the plain stores read by zarr-python's codecs, not zarrs'
        vbzarr.store.READ_CONFIG["codec_pipeline.path"] = "zarr.core.codec_pipeline.BatchedCodecPipeline"
    t = time.perf_counter()
    project = vbzarr.open_project(p["dst"], storage_options=p.get("storage_options"))
    sel = project.ophys_experiment_table
    sel = sel[sel.ophys_container_id == sel.ophys_container_id.iloc[0]]
    changes = project.events_table(sel, "stimulus_presentations", query="is_change")
    mean = vbzarr.align(project.dff(sel), changes, (-1.0, 2.0), rate=30.0).groupby("image_name").mean("event")
    values = mean.compute().values
    return {"seconds": time.perf_counter() - t, "checksum": float(np.nansum(values))}


CHILDREN = Children(NAME, {"convert": child_convert, "mean": child_mean})


def side_by_side(size: str, repeats: int, previous: str, work: Path) -> dict:
    from vbzarr.testing.synthetic import content
    from vbzarr.testing.synthetic.project import make_vbo_project

    release = work / "release"
    if not (release / "project_metadata").exists():
        make_vbo_project(
            release,
            n_containers=1,
            sessions_per_container=4,
            behavior_only_sessions=1,
            size=content.Size.preset(size),
            seed=3,
        )
    codes = {
        PREVIOUS: Path(snapshot_code(work, rev=previous, use=False)["snapshot"]),
        "icechunk": Path(snapshot_code(work, use=False)["snapshot"]),
    }
    out: dict = {"release_bytes": sum(p.stat().st_size for p in release.rglob("*.nwb"))}
    for label, code in codes.items():
        runs = {"convert": [], "container_mean": [], "checksum": None}
        for k in range(repeats):
            dst = work / f"{label.split()[0]}-{k}"
            shutil.rmtree(dst, ignore_errors=True)  # this benchmark's own output: converted anew
            runs["convert"].append(
                CHILDREN.run("convert", {"src": str(release), "dst": str(dst)}, code=code)["seconds"]
            )
            mean = CHILDREN.run("mean", {"dst": str(dst)}, code=code)
            runs["container_mean"].append(mean["seconds"])
            runs["checksum"] = mean["checksum"]
        out[label] = runs
    # What zarrs' codec pipeline (which does not apply to Icechunk's store) gives the plain stores:
    # the same stores and code, decoded by zarr-python's own pipeline.
    zarr_python = {"dst": str(work / "previous-0"), "zarr_python_codecs": True}
    out["previous_zarr_python_codecs"] = [
        CHILDREN.run("mean", zarr_python, code=codes[PREVIOUS])["seconds"] for _ in range(repeats)
    ]
    out["s3"] = s3_means(release, codes, repeats)
    return out


def s3_means(release: Path, codes: dict[str, Path], repeats: int) -> dict:
    """(d) The container change-mean from a project on moto's S3 server: GETs and seconds, each
    code converting into (and reading) its own project there."""
    from vbzarr.testing.s3 import CountingS3Server

    out: dict = {}
    with CountingS3Server() as s3:
        s3.make_bucket("bench")
        options = s3.storage_options()
        for label, code in codes.items():
            dst = f"s3://bench/{label.split()[0]}"
            CHILDREN.run("convert", {"src": str(release), "dst": dst, "storage_options": options}, code=code)
            runs: dict = {"seconds": [], "gets": []}
            for _ in range(repeats):
                s3.reset()
                mean = CHILDREN.run("mean", {"dst": dst, "storage_options": options}, code=code)
                runs["seconds"].append(mean["seconds"])
                runs["gets"].append(s3.count("GET"))
                runs["checksum"] = mean["checksum"]
            out[label] = runs
    return out


def store_documents(source) -> dict[str, bytes]:
    """The group metadata (every ``zarr.json``) of one converted experiment of a project."""
    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    prefix = f"ophys_experiments/{int(source.ophys_experiment_table.index[0])}/"

    async def documents() -> dict[str, bytes]:
        store = source.session.store
        keys = [k async for k in store.list_prefix(prefix) if k.endswith("zarr.json")]
        return {
            k[len(prefix) :]: (await store.get(k, prototype=default_buffer_prototype())).to_bytes()
            for k in keys
        }

    return sync(documents())


def build_project(session, source, docs: dict[str, bytes], n: int) -> None:
    """A project of ``n`` experiments in a new repository's ``session``: the manifest and folders
    as a conversion writes them (``vbzarr.convert.commits.commit_manifest``), then ``n`` stores'
    metadata (``docs``), committed."""
    import asyncio

    from zarr.core.buffer import default_buffer_prototype
    from zarr.core.sync import sync

    from vbzarr.convert.release import write_manifest

    tables = {name: source.table(name) for name in source.table_names}
    write_manifest(session.store, tables, {**source.manifest.attrs})
    proto = default_buffer_prototype().buffer

    async def put_all() -> None:
        for i in range(n):
            await asyncio.gather(
                *(
                    session.store.set(f"ophys_experiments/{i}/{k}", proto.from_bytes(v))
                    for k, v in docs.items()
                )
            )

    sync(put_all())
    session.commit(f"{n} stores")


def open_costs(counts: list[int], work: Path) -> dict:
    """GETs and seconds to open a project of N experiments on moto's S3 server."""
    import icechunk

    import vbzarr
    from vbzarr.repository import storage
    from vbzarr.testing.s3 import CountingS3Server

    source = vbzarr.open_project(work / "icechunk-0")  # a converted project from part (a)
    docs = store_documents(source)
    out: dict = {"documents_per_store": len(docs)}
    with CountingS3Server() as s3:
        s3.make_bucket("scale")
        options = s3.storage_options()
        for n in counts:
            url = f"s3://scale/n{n}"
            session = icechunk.Repository.create(storage(url, options)).writable_session("main")
            t = time.perf_counter()
            build_project(session, source, docs, n)
            build = time.perf_counter() - t
            timings, gets = [], []
            for _ in range(3):
                s3.reset()
                t = time.perf_counter()
                project = vbzarr.open_project(url, storage_options=options)
                timings.append(time.perf_counter() - t)
                gets.append(s3.count("GET"))
            s3.reset()
            t = time.perf_counter()
            _ = project.ophys_experiment_table
            table_s, table_gets = time.perf_counter() - t, s3.count("GET")
            s3.reset()
            t = time.perf_counter()
            project.ophys_experiment(n - 1)
            store_s, store_gets = time.perf_counter() - t, s3.count("GET")
            snapshot = max(s3fs_sizes(options, f"scale/n{n}/snapshots"))
            out[n] = {
                "open_s": statistics.median(timings),
                "open_gets": max(gets),
                "build_s": build,
                "table_s": table_s,
                "table_gets": table_gets,
                "store_open_s": store_s,
                "store_open_gets": store_gets,
                "snapshot_bytes": snapshot,
            }
            print(n, out[n], flush=True)
    return out


def s3fs_sizes(options: dict, path: str) -> list[int]:
    import s3fs

    fs = s3fs.S3FileSystem(**options)
    return [info["size"] for info in fs.ls(path, detail=True)]


def report(results: dict) -> str:
    a = results["side_by_side"]
    prev, ice = a[PREVIOUS], a["icechunk"]
    s3p, s3i = a["s3"][PREVIOUS], a["s3"]["icechunk"]
    med = statistics.median
    convert_p, convert_i = med(prev["convert"]), med(ice["convert"])
    mean_p, mean_i = med(prev["container_mean"]), med(ice["container_mean"])
    gets_p, gets_i = med(s3p["gets"]), med(s3i["gets"])
    lines = [
        "# Icechunk projects against the previous plain-store projects",
        "",
        f"`{results['command']}` on {results['machine']}; medians of {len(ice['convert'])} fresh "
        "processes each.",
        f"Release: 1 container x 4 sessions + 1 training session ({results['size']} factory size), "
        f"{a['release_bytes'] / 1e6:.0f} MB of NWB.",
        "",
        "| | previous (plain stores, "
        + results["previous"]
        + ") | Icechunk project | ratio (Icechunk / previous) |",
        "|---|---|---|---|",
        f"| convert_project | {convert_p:.2f} s | {convert_i:.2f} s | {convert_i / convert_p:.2f}x |",
        f"| container change-mean (open, dff, changes, align, mean, compute) | {mean_p:.2f} s | "
        f"{mean_i:.2f} s | {mean_i / mean_p:.2f}x |",
        *(
            [
                "| same mean, previous stores decoded by zarr-python's codec pipeline (zarrs' does not "
                f"apply to Icechunk's store) | {med(a['previous_zarr_python_codecs']):.2f} s | "
                f"{mean_i:.2f} s | {mean_i / med(a['previous_zarr_python_codecs']):.2f}x |"
            ]
            if "previous_zarr_python_codecs" in a
            else []
        ),
        "",
        f"Same means: checksums {prev['checksum']:.6f} (previous) and {ice['checksum']:.6f} (Icechunk).",
        "",
        "## The container change-mean from S3 (moto on 127.0.0.1)",
        "",
        "Each code converts the release into its own project on the server, then a fresh process "
        "opens it and computes the mean; GETs counted by the server.",
        "",
        "| | previous (plain stores) | Icechunk project | ratio (Icechunk / previous) |",
        "|---|---|---|---|",
        f"| GETs | {gets_p:.0f} | {gets_i:.0f} | {gets_i / gets_p:.2f}x |",
        f"| seconds | {med(s3p['seconds']):.2f} | {med(s3i['seconds']):.2f} | "
        f"{med(s3i['seconds']) / med(s3p['seconds']):.2f}x |",
        "",
        f"Same means: checksums {s3p['checksum']:.6f} (previous) and {s3i['checksum']:.6f} (Icechunk).",
        "",
        "## Opening a project on S3 (moto on 127.0.0.1)",
        "",
        "Each store holds the full group metadata of a converted experiment "
        f"({results['open']['documents_per_store']} zarr.json documents); opening reads the "
        "repository's config, branch and snapshot.",
        "",
        "| experiments | GETs to open | open | snapshot | first table (GETs) | one store's tree (GETs) |",
        "|---|---|---|---|---|---|",
    ]
    for n, r in results["open"].items():
        if n == "documents_per_store":
            continue
        lines.append(
            f"| {n} | {r['open_gets']} | {r['open_s'] * 1e3:.0f} ms | {r['snapshot_bytes'] / 1e6:.2f} MB | "
            f"{r['table_s'] * 1e3:.0f} ms ({r['table_gets']}) | "
            f"{r['store_open_s'] * 1e3:.0f} ms ({r['store_open_gets']}) |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks run icechunk", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--size", default="small")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--previous", default="2ed84f9")
    parser.add_argument("--counts", default="100,2000")
    parser.add_argument("--work", default=os.path.join(tempfile.gettempdir(), "bench-icechunk"))
    args = parser.parse_args(argv)
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    info = machine()
    results = {
        "command": command(),
        "machine": f"{info['nproc']} cores, Python {info['versions']['python']}",
        "size": args.size,
        "previous": args.previous,
        "side_by_side": side_by_side(args.size, args.repeats, args.previous, work),
    }
    if args.counts:
        results["open"] = open_costs([int(c) for c in args.counts.split(",")], work)
    else:  # part (c) kept from the last run
        results["open"] = read_results(NAME)["open"]
    write_results(NAME, results, report(results))
    print(report(results))
    return 0


if __name__ == "__main__":
    CHILDREN.entry(main)
