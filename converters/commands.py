"""The writing commands of ``vbzarr``: convert, validate, demo (parsed by :mod:`vbzarr.cli`)."""

from __future__ import annotations

import argparse
import json
import sys

from vbzarr.cli import parse_options
from vbzarr.errors import InvalidNWBError

from .convert import convert_nwb
from .project import convert_project, is_nwb_file
from .validate import validate_store


def convert(args: argparse.Namespace) -> int:
    """``vbzarr convert SRC DST``: one NWB file into a store, or a release into a project."""
    storage_options = parse_options(args.storage_options)
    if is_nwb_file(args.src):
        try:
            summary = convert_nwb(
                args.src, args.dst, progress=not args.quiet, storage_options=storage_options
            )
        except InvalidNWBError as err:  # the one file failed: exit 1, as a batch with failures
            print(f"vbzarr: FAILED {err}", file=sys.stderr)
            return 1
        print(
            f"{args.src} -> {args.dst}: {summary.kind} {summary.id}, "
            f"{len(summary.groups)} groups, missing: {', '.join(summary.missing) or 'none'}"
        )
        return 0
    report = convert_project(
        args.src,
        args.dst,
        progress=not args.quiet,
        storage_options=storage_options,
        source_options=parse_options(args.source_options, "--source-options"),
        workers=args.workers,
        threads=args.threads,
        scheduler=args.scheduler,
        tag=args.tag,
    )
    print(report.describe())
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report.as_dict(), f, indent=1)
    return 1 if report.failed else 0


def validate(args: argparse.Namespace) -> int:
    """``vbzarr validate STORE [NWB]``: compare every array with the source NWB."""
    problems = validate_store(
        args.store,
        args.nwb,
        storage_options=parse_options(args.storage_options),
        source_options=parse_options(args.source_options, "--source-options"),
    )
    for p in problems:
        print(p)
    print(f"{args.store}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def demo(args: argparse.Namespace) -> int:
    """``vbzarr demo [WORKDIR]``: generate, convert, align on a synthetic project."""
    from .demo import run_demo

    run_demo(args.workdir, size=args.size, show=not args.quiet)
    return 0
