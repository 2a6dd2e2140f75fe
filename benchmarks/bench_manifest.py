"""Opening a vbzarr project (manifest) locally and on S3, against CSVs + pynwb metadata.

Targets (issue): ``vbzarr.open_project`` on a local project < 1 s; on S3 <= 5 GETs, independent of
the project size (shown at 100 and 2,000 ophys experiments); compared with what users do today:
``pandas.read_csv`` of the four project CSVs (AllenSDK-style parsing) plus opening every NWB file's
metadata with pynwb.

What runs (one run, peers side by side):

1. Synthetic VBO project tables with the release's columns and realistic proportions (per ophys
   experiment: ~70 cells in ``ophys_cells_table``, ~0.36 ophys sessions, ~2.5 behavior sessions;
   Scientifica and 8-plane Multiscope sessions) for 100 and 2,000 experiments, written as the four
   ``project_metadata/*.csv`` and as a manifest (``vbzarr.manifest.write_manifest``: the tables
   parsed the AllenSDK way, plus one ``stores`` row per ophys experiment and behavior session,
   modelled on rows ``convert_project`` writes). The stores themselves are absent: only opening is
   measured. Written locally and into a moto S3 bucket (``CountingS3Server``).
2. vbzarr, each in a fresh process (median of ``--repeats``): ``import vbzarr``, ``open_project``,
   first table (``ophys_experiment_table``), then the other three tables; locally and on S3, with
   the GETs the server saw. The GET split (open / first table / other tables) is also measured in
   process.
3. Peer: ``pandas.read_csv`` + AllenSDK-style parsing of the four CSVs (measured at both sizes,
   locally and from S3); ``NWBHDF5IO(...).read()`` + ``lab_meta_data['metadata']`` fields on 20
   'tiny' factory NWB files (measured per file), extrapolated to 100 and 2,000 files (labelled
   as extrapolated); the same on one realistic factory file (from bench_ophys_conversion's cache,
   if present) locally and over S3 with GET counts.
4. GETs to read one cell's dff across a 6-session container on S3: a tiny 1-container 6-session
   factory project converted into the bucket with ``convert_project``; GETs for
   ``open_project``, for creating ``project.dff(selection)`` and for
   ``.sel(cell_specimen_id=X).compute()``, counted separately.

Since projects became Icechunk repositories, part 1 writes each project as ``convert_project``
does, without the stores' arrays: the manifest group and each store's index record (the root
attributes of its group), in one commit.

Usage (from the repository root)::

    python -m benchmarks run manifest
    python -m benchmarks run manifest --sizes 100,2000 --repeats 5
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import time
from pathlib import Path

from benchmarks.harness import (
    SCRATCH,
    Children,
    command,
    factory_hash,
    git_markdown,
    git_state,
    machine,
    machine_markdown,
    md_table,
    peak_rss_mb,
    write_results,
)

NAME = "bench_manifest"
BUCKET = "vbo-bench"

# Columns of the release's project_metadata CSVs (VBO 1.1.0; same as ../shared/reference-nwb).
EXPERIMENT_COLUMNS = [
    "ophys_experiment_id",
    "behavior_session_id",
    "ophys_session_id",
    "ophys_container_id",
    "mouse_id",
    "indicator",
    "full_genotype",
    "driver_line",
    "cre_line",
    "reporter_line",
    "sex",
    "age_in_days",
    "imaging_depth",
    "targeted_structure",
    "targeted_imaging_depth",
    "imaging_plane_group",
    "project_code",
    "session_type",
    "session_number",
    "image_set",
    "behavior_type",
    "passive",
    "experience_level",
    "prior_exposures_to_session_type",
    "prior_exposures_to_image_set",
    "prior_exposures_to_omissions",
    "date_of_acquisition",
    "equipment_name",
    "published_at",
    "isi_experiment_id",
    "file_id",
]
SESSION_COLUMNS = [
    "ophys_session_id",
    "behavior_session_id",
    "ophys_container_id",
    "mouse_id",
    "indicator",
    "full_genotype",
    "driver_line",
    "cre_line",
    "reporter_line",
    "sex",
    "age_in_days",
    "imaging_plane_group_count",
    "project_code",
    "session_type",
    "session_number",
    "image_set",
    "behavior_type",
    "experience_level",
    "prior_exposures_to_session_type",
    "prior_exposures_to_image_set",
    "prior_exposures_to_omissions",
    "date_of_acquisition",
    "equipment_name",
    "num_depths_per_area",
    "ophys_experiment_id",
    "num_targeted_structures",
]
BEHAVIOR_COLUMNS = [
    "behavior_session_id",
    "ophys_session_id",
    *SESSION_COLUMNS[2:],
    "trial_count",
    "go_trial_count",
    "catch_trial_count",
    "hit_trial_count",
    "miss_trial_count",
    "false_alarm_trial_count",
    "correct_reject_trial_count",
    "engaged_trial_count",
    "file_id",
]
CELL_COLUMNS = ["cell_roi_id", "ophys_experiment_id", "cell_specimen_id"]
CSV = {
    "behavior_session_table": "behavior_session_table.csv",
    "ophys_session_table": "ophys_session_table.csv",
    "ophys_experiment_table": "ophys_experiment_table.csv",
    "ophys_cells_table": "ophys_cells_table.csv",
}
OPHYS_TYPES = [
    ("OPHYS_1_images_A", "A", False, "Familiar"),
    ("OPHYS_2_images_A_passive", "A", True, "Familiar"),
    ("OPHYS_3_images_A", "A", False, "Familiar"),
    ("OPHYS_4_images_B", "B", False, "Novel 1"),
    ("OPHYS_5_images_B_passive", "B", True, "Novel >1"),
    ("OPHYS_6_images_B", "B", False, "Novel >1"),
]
GENOTYPES = [
    (["Slc17a7-IRES2-Cre", "Camk2a-tTA"], "Ai93(TITL-GCaMP6f)", "GCaMP6f"),
    (["Vip-IRES-Cre"], "Ai148(TIT2L-GC6f-ICL-tTA2)", "GCaMP6f"),
    (["Sst-IRES-Cre"], "Ai148(TIT2L-GC6f-ICL-tTA2)", "GCaMP6f"),
]
BEHAVIOR_ONLY_PER_EXPERIMENT = 2.1  # VBO 1.1.0: (4,782 - 703) / 1,936


# ------------------------------------------------------------------------------------------------
# Synthetic project tables
# ------------------------------------------------------------------------------------------------
def synth_tables(n_experiments: int, seed: int = 0) -> dict:
    """The four VBO tables (as the release's CSVs hold them) for ``n_experiments`` experiments."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    ids = iter(range(800_000_000, 10**12, 7))
    exp, ses, beh, cells = [], [], [], []
    mouse = 0
    file_id = 0
    t0 = dt.datetime(2018, 3, 1, 9, 0, tzinfo=dt.UTC)
    while len(exp) < n_experiments:
        mouse += 1
        multiscope = rng.random() < 0.3
        planes = 8 if multiscope else 1
        driver, reporter, indicator = GENOTYPES[mouse % 3]
        common = {
            "mouse_id": str(400_000 + mouse),
            "indicator": indicator,
            "full_genotype": ";".join(f"{g}/wt" for g in [*driver, reporter]),
            "driver_line": str(driver),
            "cre_line": driver[0],
            "reporter_line": reporter,
            "sex": "MF"[mouse % 2],
            "project_code": "VisualBehaviorMultiscope" if multiscope else "VisualBehavior",
        }
        day = t0 + dt.timedelta(days=int(40 * mouse))
        age = int(rng.integers(60, 120))
        containers = [next(ids) for _ in range(planes)]
        pools = [next(ids) * 10 + np.arange(110) * 3 for _ in range(planes)]
        n_beh_only = int(round(BEHAVIOR_ONLY_PER_EXPERIMENT * 6 * planes))
        for b in range(n_beh_only):
            file_id += 1
            trials = int(rng.integers(300, 700))
            beh.append(
                {
                    "behavior_session_id": next(ids),
                    "ophys_session_id": np.nan,
                    "ophys_container_id": np.nan,
                    **common,
                    "age_in_days": age + b,
                    "imaging_plane_group_count": np.nan,
                    "session_type": f"TRAINING_{min(5, b // 4)}_images_A_training",
                    "session_number": np.nan,
                    "image_set": "images_A",
                    "behavior_type": "active_behavior",
                    "experience_level": "Training",
                    "prior_exposures_to_session_type": b % 4,
                    "prior_exposures_to_image_set": b,
                    "prior_exposures_to_omissions": 0,
                    "date_of_acquisition": str(pd.Timestamp(day + dt.timedelta(days=b, hours=3.3))),
                    "equipment_name": f"BEH.{'ABCDEF'[b % 6]}-Box{b % 6 + 1}",
                    "num_depths_per_area": np.nan,
                    "ophys_experiment_id": np.nan,
                    "num_targeted_structures": np.nan,
                    **_trial_counts(rng, trials),
                    "file_id": file_id,
                }
            )
        for s, (stype, image_set, passive, experience) in enumerate(OPHYS_TYPES):
            if len(exp) >= n_experiments:
                break
            bsid, osid = next(ids), next(ids)
            when = str(pd.Timestamp(day + dt.timedelta(days=n_beh_only + s, hours=float(rng.uniform(8, 16)))))
            eids = []
            for p in range(planes):
                if len(exp) >= n_experiments:
                    break
                eid = next(ids)
                eids.append(eid)
                depth = int(75 + 75 * (p // 2)) if multiscope else int(rng.choice([175, 275, 375]))
                structure = ["VISp", "VISl"][p % 2] if multiscope else "VISp"
                file_id += 1
                exp.append(
                    {
                        "ophys_experiment_id": eid,
                        "behavior_session_id": bsid,
                        "ophys_session_id": osid,
                        "ophys_container_id": containers[p],
                        **common,
                        "age_in_days": age + n_beh_only + s,
                        "imaging_depth": depth,
                        "targeted_structure": structure,
                        "targeted_imaging_depth": depth,
                        "imaging_plane_group": p // 2 if multiscope else np.nan,
                        "session_type": stype,
                        "session_number": s + 1,
                        "image_set": image_set,
                        "behavior_type": "passive_viewing" if passive else "active_behavior",
                        "passive": passive,
                        "experience_level": experience,
                        "prior_exposures_to_session_type": 0,
                        "prior_exposures_to_image_set": s % 3,
                        "prior_exposures_to_omissions": s,
                        "date_of_acquisition": when,
                        "equipment_name": "MESO.1" if multiscope else "CAM2P.4",
                        "published_at": "2021-03-25",
                        "isi_experiment_id": 803866787,
                        "file_id": file_id,
                    }
                )
                n_cells = int(np.clip(rng.normal(70, 25), 5, 110))
                seen = np.sort(rng.choice(pools[p], n_cells, replace=False))
                first_roi = next(ids) * 100
                cells += [(first_roi + k, eid, int(c)) for k, c in enumerate(seen)]
            row = {
                "ophys_session_id": osid,
                "behavior_session_id": bsid,
                "ophys_container_id": str(containers[: len(eids)]),
                **common,
                "age_in_days": age + n_beh_only + s,
                "imaging_plane_group_count": 4 if multiscope else np.nan,
                "session_type": stype,
                "session_number": s + 1,
                "image_set": f"images_{image_set}",
                "behavior_type": "passive_viewing" if passive else "active_behavior",
                "experience_level": experience,
                "prior_exposures_to_session_type": 0,
                "prior_exposures_to_image_set": s % 3,
                "prior_exposures_to_omissions": s,
                "date_of_acquisition": when,
                "equipment_name": "MESO.1" if multiscope else "CAM2P.4",
                "num_depths_per_area": planes // 2 if multiscope else 1,
                "ophys_experiment_id": str(eids),
                "num_targeted_structures": 2 if multiscope else 1,
            }
            ses.append(row)
            file_id += 1
            beh.append(
                {
                    **row,
                    "ophys_session_id": osid,
                    **_trial_counts(rng, int(rng.integers(300, 700))),
                    "file_id": file_id,
                }
            )
    frames = {
        "ophys_experiment_table": pd.DataFrame(exp)[EXPERIMENT_COLUMNS],
        "ophys_session_table": pd.DataFrame(ses)[SESSION_COLUMNS],
        "behavior_session_table": pd.DataFrame(beh)[BEHAVIOR_COLUMNS],
        "ophys_cells_table": pd.DataFrame(cells, columns=CELL_COLUMNS),
    }
    b = frames["behavior_session_table"]
    b["ophys_session_id"] = b["ophys_session_id"].astype("Int64")
    return frames


def _trial_counts(rng, n: int) -> dict:
    go = int(n * 0.75)
    hit = int(go * rng.uniform(0.4, 0.8))
    catch = n - go
    fa = int(catch * rng.uniform(0.1, 0.3))
    return {
        "trial_count": n,
        "go_trial_count": go,
        "catch_trial_count": catch,
        "hit_trial_count": hit,
        "miss_trial_count": go - hit,
        "false_alarm_trial_count": fa,
        "correct_reject_trial_count": catch - fa,
        "engaged_trial_count": int(n * 0.7),
    }


def stores_index(tables: dict, template: dict):
    """One ``stores`` row per ophys experiment and behavior-only session, like convert_project's."""
    import numpy as np
    import pandas as pd

    rows = []
    exp = tables["ophys_experiment_table"]
    beh = tables["behavior_session_table"]
    rng = np.random.default_rng(1)
    for kind, ids, folder, nwb in (
        (
            "ophys_experiment",
            exp.ophys_experiment_id,
            "ophys_experiments",
            "behavior_ophys_experiments/behavior_ophys_experiment_{}.nwb",
        ),
        (
            "behavior_session",
            beh.behavior_session_id[beh.ophys_session_id.isna()],
            "behavior_sessions",
            "behavior_sessions/behavior_session_{}.nwb",
        ),
    ):
        t = template[kind]
        for i in ids:
            groups = json.loads(json.dumps(t["groups"]))
            for g in groups.values():
                for d in g:
                    g[d] = int(g[d] * rng.uniform(0.9, 1.1))
            rows.append(
                {
                    "store": f"{folder}/{int(i)}.zarr",
                    "kind": kind,
                    "id": int(i),
                    "source": "s3://allen-brain-observatory/visual-behavior-ophys/" + nwb.format(int(i)),
                    "source_size": int(rng.integers(2e8, 4e8)),
                    "source_mtime": "2021-03-25T10:11:12+00:00",
                    "lfp_sources": [],
                    "sha256": f"{int(rng.integers(2**62)):064x}",
                    "groups": groups,
                    "missing_streams": list(t["missing_streams"]),
                    "converted_at": "2026-01-01T00:00:00+00:00",
                }
            )
    return pd.DataFrame(rows).set_index("store").sort_index()


def write_csvs(tables: dict, folder: Path) -> None:
    meta = folder / "project_metadata"
    meta.mkdir(parents=True, exist_ok=True)
    for name, frame in tables.items():
        frame.to_csv(meta / CSV[name], index=False)


def parsed_tables(folder: Path) -> dict:
    from vbzarr.convert.release import TABLES, read_table

    return {
        name: read_table(str(folder / "project_metadata" / csv), name, index, "visual-behavior-ophys")
        for name, (csv, index) in TABLES["visual-behavior-ophys"].items()
    }


# ------------------------------------------------------------------------------------------------
# Children
# ------------------------------------------------------------------------------------------------
def write_project(url: str, tables: dict, stores, attrs: dict, storage_options: dict | None) -> None:
    """An Icechunk project as ``convert_project`` writes it, without the stores' arrays: the
    manifest (the tables) and each store's index record (its root group's attributes)."""
    import icechunk
    import zarr

    from vbzarr.convert.commits import NEW_REPOSITORY
    from vbzarr.convert.release import write_manifest
    from vbzarr.repository import storage
    from vbzarr.schema import SCHEMA_VERSION

    repo = icechunk.Repository.create(storage(url, storage_options), config=NEW_REPOSITORY)
    session = repo.writable_session("main")
    write_manifest(session.store, tables, attrs)
    for path, row in stores.iterrows():
        record = {
            "vbzarr_schema_version": SCHEMA_VERSION,
            "kind": row["kind"],
            "group_sizes": row["groups"],
            "missing_streams": row["missing_streams"],
            "provenance": {
                "source": row["source"],
                "size": row["source_size"],
                "sha256": row["sha256"],
                "converted_at": row["converted_at"],
            },
        }
        zarr.open_group(session.store, path=path.removesuffix(".zarr"), mode="w", attributes=record)
    session.commit(f"manifest and {len(stores)} stores' records")


def child_open(p: dict) -> dict:
    """Fresh process: import vbzarr, open_project, first table, the other tables."""
    import warnings

    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    import vbzarr

    import_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    project = vbzarr.open_project(p["url"], storage_options=p.get("storage_options"))
    open_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    first = project.ophys_experiment_table
    first_s = time.perf_counter() - t0
    rows = {"ophys_experiment_table": len(first)}
    per = {"ophys_experiment_table": first_s}
    for name in ("ophys_session_table", "behavior_session_table", "ophys_cells_table"):
        t0 = time.perf_counter()
        rows[name] = len(project.table(name))
        per[name] = time.perf_counter() - t0
    others_s = sum(v for k, v in per.items() if k != "ophys_experiment_table")
    return {
        "import_s": import_s,
        "open_s": open_s,
        "first_table_s": first_s,
        "other_tables_s": others_s,
        "per_table_s": per,
        "rows": rows,
        "peak_rss_mb": peak_rss_mb(),
    }


def child_csv(p: dict) -> dict:
    """Fresh process: the four CSVs with pandas.read_csv + AllenSDK-style parsing."""
    import warnings

    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    import pandas  # noqa: F401

    from vbzarr.convert.release import TABLES, read_table

    import_s = time.perf_counter() - t0
    opts = p.get("storage_options")
    t0 = time.perf_counter()
    fs = None
    if opts:
        import s3fs

        fs = s3fs.S3FileSystem(**opts)
    rows, per = {}, {}
    for name, (csv, index) in TABLES["visual-behavior-ophys"].items():
        t1 = time.perf_counter()
        path = f"{p['root']}/project_metadata/{csv}"
        source = fs.cat_file(path) if fs else path
        rows[name] = len(read_table(source, name, index, "visual-behavior-ophys"))
        per[name] = time.perf_counter() - t1
    return {
        "import_s": import_s,
        "seconds": time.perf_counter() - t0,
        "per_table_s": per,
        "rows": rows,
        "peak_rss_mb": peak_rss_mb(),
    }


def child_pynwb(p: dict) -> dict:
    """Fresh process: NWBHDF5IO(...).read() and the lab_meta_data['metadata'] fields, per file."""
    import warnings

    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    import h5py
    from pynwb import NWBHDF5IO

    import_s = time.perf_counter() - t0
    opts = p.get("storage_options")
    fs = None
    if opts:
        import s3fs

        fs = s3fs.S3FileSystem(**opts)
    per, fields, fetched = [], 0, []
    for path in p["paths"]:
        t1 = time.perf_counter()
        if fs:
            with (
                fs.open(path, "rb", **p.get("open_options", {})) as fh,
                h5py.File(fh, "r") as h5,
                NWBHDF5IO(file=h5, mode="r", load_namespaces=True) as io,
            ):
                fields = _metadata(io.read())
                fetched.append(getattr(fh.cache, "total_requested_bytes", None))
        else:
            with NWBHDF5IO(path, mode="r", load_namespaces=True) as io:
                fields = _metadata(io.read())
        per.append(time.perf_counter() - t1)
    return {
        "import_s": import_s,
        "per_file_s": per,
        "fields": fields,
        "bytes_fetched": fetched,
        "file_bytes": None if fs else [os.path.getsize(x) for x in p["paths"]],
        "peak_rss_mb": peak_rss_mb(),
    }


def _metadata(nwbfile) -> int:
    """What AllenSDK-style code reads for a metadata table row: lab_meta_data['metadata'] fields,
    the subject and the session start time."""
    md = nwbfile.lab_meta_data["metadata"]
    values = {k: getattr(md, k) for k in md.fields}
    subject = nwbfile.subject
    values.update({k: getattr(subject, k) for k in subject.fields})
    values["session_start_time"] = nwbfile.session_start_time
    return len(values)


CHILDREN = Children(NAME, {"open": child_open, "csv": child_csv, "pynwb": child_pynwb})


# ------------------------------------------------------------------------------------------------
# Parent: the run, step by step
# ------------------------------------------------------------------------------------------------
def counted(s3, kind: str, payload: dict) -> dict:
    s3.reset()
    r = CHILDREN.run(kind, payload)
    r["requests"] = dict(s3.summary())
    r["gets"] = s3.count("GET")
    return r


def in_process_gets(s3, url: str, options: dict) -> dict:
    """GETs of open / first table / other tables, split, in this process (fresh filesystem)."""
    import vbzarr

    out = {}
    s3.reset()
    project = vbzarr.open_project(url, storage_options=options)
    out["open"] = dict(s3.summary())
    s3.reset()
    _ = project.ophys_experiment_table
    out["first_table"] = dict(s3.summary())
    s3.reset()
    for name in ("ophys_session_table", "behavior_session_table", "ophys_cells_table"):
        project.table(name)
    out["other_three_tables"] = dict(s3.summary())
    return out


def container_dff_step(s3, fs, work: Path) -> tuple[dict, dict]:
    """4. A tiny 1-container, 6-session project converted into the bucket: GETs to read one cell's
    dff across it. Returns the results and the template of a ``stores`` row per kind."""
    import numpy as np

    import vbzarr
    from vbzarr.convert.project import convert_project
    from vbzarr.testing.synthetic.project import make_vbo_project

    t0 = time.perf_counter()
    container = make_vbo_project(
        work / "container6-src",
        n_containers=1,
        sessions_per_container=6,
        behavior_only_sessions=1,
        size="tiny",
        seed=11,
    )
    url6 = f"s3://{BUCKET}/container6"
    report = convert_project(str(container.root), url6, storage_options=s3.storage_options())
    assert not report.failed, report.describe()
    setup6 = time.perf_counter() - t0
    out: dict = {"container_dff": {}}
    for label, read_opts in (
        ("default s3fs options", s3.storage_options(anon=True)),
        ("with max_concurrency=1", {**s3.storage_options(anon=True), "max_concurrency": 1}),
    ):
        req, sec = {}, {}
        s3.reset()
        t0 = time.perf_counter()
        project = vbzarr.open_project(url6, storage_options=read_opts)
        req["open_project"], sec["open_project"] = dict(s3.summary()), time.perf_counter() - t0
        s3.reset()
        t0 = time.perf_counter()
        table = project.ophys_experiment_table
        req["ophys_experiment_table"] = dict(s3.summary())
        sec["ophys_experiment_table"] = time.perf_counter() - t0
        sel = table[table.ophys_container_id == table.ophys_container_id.iloc[0]]
        # The cell seen in most of the selected sessions (from the cells table: no data read).
        cells_table = project.ophys_cells_table
        seen = cells_table[cells_table.ophys_experiment_id.isin(sel.index)].cell_specimen_id
        counts = seen.value_counts()
        x = int(counts.index[0])
        s3.reset()
        t0 = time.perf_counter()
        view = project.dff(sel)
        req["dff(selection) view"] = dict(s3.summary())
        sec["dff(selection) view"] = time.perf_counter() - t0
        s3.reset()
        t0 = time.perf_counter()
        trace = view.sel(cell_specimen_id=x).compute()
        req["sel(cell).compute()"] = dict(s3.summary())
        sec["sel(cell).compute()"] = time.perf_counter() - t0
        out["container_dff"][label] = {
            "experiments": len(sel),
            "cell_specimen_id": x,
            "sessions_with_cell": int(counts.iloc[0]),
            "trace_shape": list(trace.shape),
            "requests": req,
            "seconds": sec,
        }
    out["container_dff_setup"] = {
        "setup_s": setup6,
        "objects_in_project": len(fs.find(f"{BUCKET}/container6")),
        "dff_chunks_per_store": [
            int(np.prod([len(c) for c in project.group("ophys_experiment", e, "ophys")["dff"].chunks]))
            for e in sel.index
        ],
    }
    for label, c in out["container_dff"].items():
        print(f"container dff ({label}):", {k: v for k, v in c["requests"].items()})
    # stores-row template from the real conversion.
    stores6 = project.stores
    template = {
        kind: stores6[stores6.kind == kind].iloc[0].to_dict()
        for kind in ("ophys_experiment", "behavior_session")
    }
    return out, template


def project_step(s3, fs, work: Path, n: int, template: dict, repeats: int) -> dict:
    """1.-3. The manifest of a project of ``n`` experiments, opened by vbzarr and read as CSVs."""
    import numpy as np

    import vbzarr
    from vbzarr.schema import SCHEMA_VERSION

    t0 = time.perf_counter()
    tables = synth_tables(n, seed=n)
    folder = work / f"release-{n}"
    write_csvs(tables, folder)
    parsed = parsed_tables(folder)
    stores = stores_index(tables, template)
    attrs = {
        "vbzarr_schema_version": SCHEMA_VERSION,
        "dataset": "visual-behavior-ophys",
        "source": str(folder),
        "tables": list(parsed),
        "updated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
    }
    local = work / f"project-{n}"
    shutil.rmtree(local, ignore_errors=True)  # this benchmark's own output
    t1 = time.perf_counter()
    write_project(str(local), parsed, stores, attrs, None)
    write_local_s = time.perf_counter() - t1
    url = f"s3://{BUCKET}/project-{n}"
    write_project(url, parsed, stores, attrs, s3.storage_options())
    fs.put(str(folder / "project_metadata"), f"{BUCKET}/release-{n}/project_metadata", recursive=True)
    manifest_bytes = sum(f.stat().st_size for f in local.rglob("*") if f.is_file())
    manifest_objects = len(fs.find(f"{BUCKET}/project-{n}"))
    csv_bytes = {name: (folder / "project_metadata" / CSV[name]).stat().st_size for name in CSV}
    entry: dict = {
        "rows": {k: len(v) for k, v in tables.items()},
        "stores_rows": len(stores),
        "setup_s": time.perf_counter() - t0,
        "write_manifest_local_s": write_local_s,
        "manifest_bytes": manifest_bytes,
        "manifest_objects_on_s3": manifest_objects,
        "csv_bytes": csv_bytes,
    }
    print(
        f"project {n}: rows {entry['rows']}, manifest {manifest_bytes / 1e6:.2f} MB "
        f"({manifest_objects} objects), CSVs {sum(csv_bytes.values()) / 1e6:.2f} MB"
    )
    # vbzarr, fresh processes.
    s3_opts = s3.storage_options(anon=True)
    entry["vbzarr_local"] = [CHILDREN.run("open", {"url": str(local)}) for _ in range(repeats)]
    entry["vbzarr_s3"] = [
        counted(s3, "open", {"url": url, "storage_options": s3_opts}) for _ in range(repeats)
    ]
    entry["gets_split_in_process"] = in_process_gets(s3, url, s3_opts)
    # Peer: CSVs.
    entry["csv_local"] = [CHILDREN.run("csv", {"root": str(folder)}) for _ in range(repeats)]
    entry["csv_s3"] = [
        counted(s3, "csv", {"root": f"{BUCKET}/release-{n}", "storage_options": s3_opts})
        for _ in range(repeats)
    ]
    same = all(vbzarr.open_project(local).table(k).shape == parsed[k].shape for k in parsed)
    entry["tables_equal_csv_shapes"] = same
    v = entry["vbzarr_local"]
    print(
        f"  local open {np.median([r['open_s'] for r in v]) * 1e3:.1f} ms, first table "
        f"{np.median([r['first_table_s'] for r in v]) * 1e3:.1f} ms; S3 GETs "
        f"{[r['gets'] for r in entry['vbzarr_s3']]}"
    )
    return entry


def pynwb_peer_step(s3, fs, work: Path, args: argparse.Namespace) -> dict:
    """3. Peer: pynwb metadata of NWB files (tiny factory files; one realistic file if cached)."""
    from vbzarr.testing.synthetic.project import make_vbo_project

    # One active session per container: passive tiny sessions can hit a factory bug (a
    # trials.lick_times column whose rows are all empty fails to write; see the report).
    nwb_project = make_vbo_project(
        work / "nwb-peer",
        n_containers=args.nwb_files,
        sessions_per_container=1,
        behavior_only_sessions=0,
        size="tiny",
        seed=5,
    )
    paths = [str(nwb_project.experiment_path(int(e))) for e in nwb_project.ophys_experiment_table.index][
        : args.nwb_files
    ]
    peer = {"n_files": len(paths), "file_bytes": [os.path.getsize(p) for p in paths]}
    peer["tiny_local"] = [CHILDREN.run("pynwb", {"paths": paths}) for _ in range(min(3, args.repeats))]
    s3_paths = []
    for p in paths[:5]:
        key = f"{BUCKET}/nwb-peer/{Path(p).name}"
        fs.put_file(p, key)
        s3_paths.append(key)
    peer["tiny_s3"] = counted(
        s3, "pynwb", {"paths": s3_paths, "storage_options": s3.storage_options(anon=True)}
    )
    realistic = _realistic_path(args.realistic_nwb)
    if realistic is not None:
        peer["realistic_path"] = str(realistic)
        peer["realistic_bytes"] = realistic.stat().st_size
        peer["realistic_local"] = CHILDREN.run("pynwb", {"paths": [str(realistic)] * 3})
        key = f"{BUCKET}/nwb-peer-realistic/{realistic.name}"
        fs.put_file(str(realistic), key)
        peer["realistic_s3"] = counted(
            s3, "pynwb", {"paths": [key], "storage_options": s3.storage_options(anon=True)}
        )
        peer["realistic_s3_1MiB_blockcache"] = counted(
            s3,
            "pynwb",
            {
                "paths": [key],
                "storage_options": s3.storage_options(anon=True),
                "open_options": {"block_size": 2**20, "cache_type": "blockcache"},
            },
        )
    return peer


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks run manifest", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--sizes", default="100,2000", help="numbers of ophys experiments")
    ap.add_argument("--repeats", type=int, default=5, help="fresh-process runs per measurement")
    ap.add_argument("--nwb-files", type=int, default=20, help="tiny NWB files for the pynwb peer")
    ap.add_argument(
        "--realistic-nwb",
        default="auto",
        help="a realistic NWB file for the pynwb peer check ('auto': bench_ophys_"
        "conversion's cached one if present; 'none' to skip)",
    )
    args = ap.parse_args(argv)

    import warnings

    warnings.filterwarnings("ignore")
    import s3fs

    from vbzarr.testing.s3 import CountingS3Server

    t_start = time.perf_counter()
    cmd = command()
    info = machine()
    work = SCRATCH / "manifest"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    sizes = [int(s) for s in args.sizes.split(",")]
    results: dict = {"machine": info, "command": cmd, "sizes": sizes, "git_start": git_state()}

    with CountingS3Server() as s3:
        s3.make_bucket(BUCKET, public=True)
        fs = s3fs.S3FileSystem(**s3.storage_options())
        container, template = container_dff_step(s3, fs, work)
        results.update(container)
        results["projects"] = {n: project_step(s3, fs, work, n, template, args.repeats) for n in sizes}
        results["pynwb_peer"] = pynwb_peer_step(s3, fs, work, args)
    results["total_seconds"] = time.perf_counter() - t_start
    results["git_end"] = git_state()
    md = render(results)
    j, m = write_results(NAME, results, md)
    print(md)
    print(f"wrote {j} and {m}")
    return 0


def _realistic_path(option: str) -> Path | None:
    if option == "none":
        return None
    if option != "auto":
        return Path(option)
    done = SCRATCH / f"factory-realistic-7-{factory_hash()}" / "DONE"
    return Path(done.read_text().strip()) if done.exists() else None


def render(r: dict) -> str:
    import numpy as np

    def med(runs: list[dict], key: str) -> float:
        return float(np.median([x[key] for x in runs]))

    out = [
        f"# {NAME}\n",
        machine_markdown(r["machine"], r["command"], r["total_seconds"]),
        git_markdown(r["git_start"], r["git_end"]) + ".\n",
        "Times: median over fresh processes (imports not included; `import vbzarr` shown "
        "separately). S3 = moto's S3 server on 127.0.0.1 (no network latency: the GET counts "
        "are the transferable figure, not the S3 times).\n",
    ]
    peer = r["pynwb_peer"]
    tiny = [t for run in peer["tiny_local"] for t in run["per_file_s"]]
    tiny_per_file = float(np.median(tiny))
    tiny_s3 = peer["tiny_s3"]
    tiny_s3_per_file = float(np.median(tiny_s3["per_file_s"]))
    tiny_s3_gets = tiny_s3["gets"] / len(tiny_s3["per_file_s"])
    real_local = (
        float(np.median(peer["realistic_local"]["per_file_s"])) if "realistic_local" in peer else None
    )
    rows = []
    for n, e in r["projects"].items():
        vl, vs, cl, cs = e["vbzarr_local"], e["vbzarr_s3"], e["csv_local"], e["csv_s3"]
        open_first_local = med(vl, "open_s") + med(vl, "first_table_s")
        all_local = open_first_local + med(vl, "other_tables_s")
        csv_local = med(cl, "seconds")
        nwb_local = tiny_per_file * int(n)
        rows.append(
            [
                n,
                f"{e['rows']['ophys_experiment_table']:,} / {e['rows']['ophys_session_table']:,} / "
                f"{e['rows']['behavior_session_table']:,} / {e['rows']['ophys_cells_table']:,}",
                f"{med(vl, 'import_s') * 1e3:.0f}",
                f"{med(vl, 'open_s') * 1e3:.1f}",
                f"{open_first_local * 1e3:.1f}",
                f"{all_local * 1e3:.0f}",
                f"{csv_local * 1e3:.0f}",
                f"{csv_local / all_local:.2f}",
                f"{nwb_local:.1f} (extrapolated)",
                f"{(csv_local + nwb_local) / open_first_local:.0f}",
                "MET" if med(vl, "open_s") < 1 and open_first_local < 1 else "MISSED",
            ]
        )
    out += [
        "## Local: open_project vs CSVs (+ pynwb metadata of every NWB file)\n",
        md_table(
            [
                "experiments",
                "rows exp / ophys sessions / behavior sessions / cells",
                "import vbzarr ms",
                "open_project ms",
                "open + ophys_experiment_table ms",
                "open + all 4 tables ms",
                "peer: 4 CSVs ms (measured)",
                "CSVs / vbzarr all 4",
                "peer: pynwb metadata of N files s",
                "peer (CSVs + extrapolated NWB) / vbzarr open+table",
                "target open < 1 s",
            ],
            rows,
        ),
        f"pynwb metadata per file (tiny factory files, measured on {peer['n_files']} files x "
        f"{len(peer['tiny_local'])} fresh processes): median {tiny_per_file * 1e3:.1f} ms, first file "
        f"of a process {np.median([run['per_file_s'][0] for run in peer['tiny_local']]) * 1e3:.0f} ms"
        + (
            f"; realistic factory file ({peer['realistic_bytes'] / 1e6:.0f} MB, 3 opens): "
            f"{real_local * 1e3:.0f} ms per file"
            if real_local
            else ""
        )
        + ". The 100 / 2,000 file figures are per-file x N (EXTRAPOLATED, not measured).\n",
    ]
    rows = []
    for n, e in r["projects"].items():
        vs, cs = e["vbzarr_s3"], e["csv_s3"]
        split = e["gets_split_in_process"]
        g = [x["gets"] for x in vs]
        rows.append(
            [
                n,
                f"{split['open'].get('GET', 0)}",
                f"{split['first_table'].get('GET', 0)}",
                f"{split['other_three_tables'].get('GET', 0)}",
                f"{min(g)}-{max(g)}",
                ", ".join(f"{k} {v}" for k, v in sorted(split["open"].items())),
                f"{(med(vs, 'open_s') + med(vs, 'first_table_s')) * 1e3:.0f}",
                f"{e['manifest_objects_on_s3']} / {e['manifest_bytes'] / 1e6:.2f} MB",
                f"{cs[0]['gets']}",
                f"{med(cs, 'seconds') * 1e3:.0f}",
                f"{tiny_s3_gets * int(n):.0f} (extrapolated)",
                "MET" if split["open"].get("GET", 0) + split["first_table"].get("GET", 0) <= 5 else "MISSED",
            ]
        )
    out += [
        "## S3: GET counts\n",
        md_table(
            [
                "experiments",
                "GETs open_project",
                "GETs ophys_experiment_table",
                "GETs other 3 tables",
                "GETs open + 4 tables (fresh processes)",
                "all requests of open",
                "open + first table ms",
                "manifest objects / bytes",
                "peer: GETs 4 CSVs",
                "peer: 4 CSVs ms",
                "peer: GETs pynwb metadata of N files",
                "target open+table <= 5 GETs",
            ],
            rows,
        ),
        f"pynwb over s3fs (h5py on an s3fs file, default 50 MB blocks): tiny files "
        f"{tiny_s3_gets:.1f} GETs and {tiny_s3_per_file * 1e3:.0f} ms per file (measured on "
        f"{len(tiny_s3['per_file_s'])} files)"
        + "".join(
            f"; realistic {peer['realistic_bytes'] / 1e6:.0f} MB file, {label}: "
            f"{peer[key]['gets']} GETs fetching {(peer[key]['bytes_fetched'][0] or 0) / 1e6:.0f} MB, "
            f"{peer[key]['per_file_s'][0]:.2f} s"
            for key, label in (
                ("realistic_s3", "s3fs defaults (50 MB readahead blocks)"),
                ("realistic_s3_1MiB_blockcache", "1 MiB blockcache"),
            )
            if key in peer
        )
        + ".\n",
    ]
    setup = r["container_dff_setup"]
    first = next(iter(r["container_dff"].values()))
    out += [
        "## One cell's dff across a 6-session container on S3\n",
        f"Tiny factory project (1 container x 6 sessions + 1 behavior-only session) converted "
        f"with `convert_project` into the bucket ({setup['objects_in_project']} objects). Cell "
        f"{first['cell_specimen_id']} (in {first['sessions_with_cell']} of {first['experiments']} "
        f"sessions), trace shape {first['trace_shape']}; dff chunks per store: "
        f"{setup['dff_chunks_per_store']}.\n",
    ]
    rows = []
    for label, c in r["container_dff"].items():
        rows += [
            [
                label,
                k,
                v.get("GET", 0),
                sum(v.values()),
                ", ".join(f"{m} {n}" for m, n in sorted(v.items())),
                f"{c['seconds'][k] * 1e3:.0f}",
            ]
            for k, v in c["requests"].items()
        ]
    out += [md_table(["read options", "step", "GETs", "all requests", "by method", "ms"], rows)]
    rows = []
    for n, e in r["projects"].items():
        vl, cl = e["vbzarr_local"], e["csv_local"]
        for name in (
            "ophys_experiment_table",
            "ophys_session_table",
            "behavior_session_table",
            "ophys_cells_table",
        ):
            v = float(np.median([x["per_table_s"][name] for x in vl]))
            c = float(np.median([x["per_table_s"][name] for x in cl]))
            rows.append([n, name, f"{e['rows'][name]:,}", f"{v * 1e3:.1f}", f"{c * 1e3:.1f}", f"{c / v:.2f}"])
    out += [
        "## Per table, local: manifest decode vs CSV parse (ms, fresh processes, median)\n",
        md_table(
            [
                "experiments",
                "table",
                "rows",
                "vbzarr manifest",
                "CSV (read_csv + AllenSDK parsing)",
                "CSV / manifest",
            ],
            rows,
        ),
    ]
    return "\n".join(out)


if __name__ == "__main__":
    CHILDREN.entry(main)
