"""``python -m benchmarks render``: writes ``benchmarks/README.md`` from the benchmarks' docstrings
and their results files (edit those, or the text here, not the README)."""

from __future__ import annotations

import re
from pathlib import Path

from benchmarks import HERE, Benchmark

INTRO = """\
# vbzarr benchmarks

<!-- Written by `python -m benchmarks render` from the benchmarks' docstrings and results files:
edit those (or benchmarks/readme.py), then render again. -->

The benchmarks are scripts, not tests: each one measures vbzarr and its peer (what users do
today: hdmf-zarr's export, h5py or pynwb on the NWB file, pynapple, the release's CSVs, xarray on
each store) side by side in the same run, on the same machine and data, and reports the ratio.
Each run writes `results/bench_<name>.md` (the report: machine, versions, the command, the commit
measured, the tables) and `results/bench_<name>.json` (every figure).

## Install

From the repository root:

    pip install -e ".[bench]"

Three peers run in virtual environments of their own, created on first use: the AllenSDK 2.16.2
(it pins numpy 1.23 and pandas 1.5; `benchmarks/peers/allensdk_env.py`, about 0.8 GB), hdmf-zarr
0.13 (it needs zarr 2; `benchmarks/peers/hdmf_zarr_env.py`) and pcodec (`spike_compression`).
Every package of the first two is pinned (`benchmarks/peers/venvs.py`).

## Run

From the repository root (the benchmarks are the package `benchmarks`, which is not installed):

    python -m benchmarks --list                  # each benchmark and what it measures
    python -m benchmarks run NAME --help         # its options
    python -m benchmarks run NAME [ARGS...]      # run it: writes results/bench_NAME.md and .json
    python -m benchmarks render                  # rewrite this README

A full run takes minutes to an hour and uses every core: run one benchmark at a time on a quiet
machine (the benchmarks with `--no-wait` otherwise wait for other benchmark and test processes,
and redo a measurement that one overlapped). Inputs are synthetic (`vbzarr.testing.synthetic`),
generated once and cached with the other scratch data under `/tmp/bench` (`VBZARR_BENCH_DIR`) or
`--scratch`, never in the repository.

Results files written before the benchmarks became a package record their command as
`python benchmarks/bench_NAME.py ARGS`; today that is `python -m benchmarks run NAME ARGS`.

## How a benchmark is written

One module `bench_<name>.py` per benchmark: its docstring says what it measures (the first line is
its summary), `main(argv)` runs it, and `benchmarks/harness.py` holds everything the benchmarks
share:

- `Children`: every measured piece runs in a fresh interpreter, `python -m
  benchmarks.bench_<name> --child KIND JSON`, reaped with `os.wait4` (its own CPU time and peak
  RSS); `snapshot_code` (or `snapshot_run`) makes the children of one run import one copy of the
  package code, and `guard_children` makes them wait for a quiet machine (`wait_quiet`);
- the machine and the code measured (`machine`, `machine_markdown`, `command`, `git_state`),
  memory (`peak_rss_mb`, `current_rss_mb`), the page cache (`warm_page_cache`,
  `drop_page_cache`, `cached_fraction`), sizes (`du_bytes`), inputs made once (`cached`,
  `realistic_experiment`);
- the results: `stats`, `md_table`, `write_results`, `read_results`.

## The benchmarks
"""


def markdown(docstring: str) -> tuple[str, list[str]]:
    """A benchmark's docstring (without its first line) as Markdown, and its usage commands."""
    text, commands = [], []
    for line in docstring.split("\n")[1:]:
        stripped = line.strip()
        if stripped.startswith("python -m benchmarks"):
            commands.append(stripped)
        elif not stripped.startswith("Usage ("):
            line = re.sub(r"^([a-z])\. ", r"- \1. ", line)  # a., b. ... items: a list
            text.append(line.removesuffix("::") + (":" if line.endswith("::") else ""))
    return "\n".join(text).strip(), commands


def headline(results: Path) -> str:
    """The first table of a results file, with the heading above it and the run's command."""
    if not results.exists():
        return "No results yet.\n"
    lines = results.read_text().splitlines()
    start = next((i for i, ln in enumerate(lines) if ln.startswith("|")), None)
    if start is None:
        return ""
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    heading = next((ln.lstrip("#").strip() for ln in reversed(lines[:start]) if ln.startswith("## ")), None)
    command = next((m.group(1) for ln in lines if (m := re.search(r"Command[^`]*`([^`]+)`", ln))), None)
    caption = (
        "Headline, copied from the results file"
        + (f", section *{heading}*" if heading else "")
        + (f" (recorded with `{command}`)" if command else "")
        + ":"
    )
    return caption + "\n\n" + "\n".join(lines[start:end]) + "\n"


def section(bench: Benchmark) -> str:
    text, commands = markdown(bench.docstring)
    link = bench.results.relative_to(HERE).as_posix()
    run = commands or [f"python -m benchmarks run {bench.name}"]
    return (
        f"### {bench.name}\n\n**{bench.summary}**\n\n{text}\n\nRun:\n\n"
        + "\n".join(f"    {c}" for c in run)
        + f"\n\nResults: [{link}]({link}).\n\n"
        + headline(bench.results)
    )


#: Sections placed before the benchmarks' own: (results file, its section) copied from a run, and
#: hand-written Markdown files here.
COPIED = [("bench_cluster.md", "## Converting the full releases")]
WRITTEN = ["findings.md"]


def copied_section(results: Path, heading: str) -> str:
    """``heading``'s section of a results file (to the next heading of its level), with its source."""
    if not results.exists():
        return ""
    lines = results.read_text().splitlines()
    if heading not in lines:
        return ""
    start = lines.index(heading)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
    link = results.relative_to(HERE).as_posix()
    body = "\n".join(lines[start + 1 : end]).strip()
    return (
        f"{heading}\n\n(Copied from [{link}]({link}), where the run's machine and command are.)\n\n{body}\n"
    )


def render(benchmarks: dict[str, Benchmark]) -> Path:
    """Write ``benchmarks/README.md``; returns its path."""
    readme = HERE / "README.md"
    written = [copied_section(HERE / "results" / name, heading) for name, heading in COPIED]
    written += [(HERE / name).read_text() for name in WRITTEN if (HERE / name).exists()]
    readme.write_text(
        INTRO.replace("## The benchmarks\n", "")
        + "\n".join(written)
        + "\n## The benchmarks\n\n"
        + "\n".join(section(b) for b in benchmarks.values())
    )
    return readme
