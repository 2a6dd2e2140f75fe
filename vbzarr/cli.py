"""The ``vbzarr`` command: convert, validate, info, demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .errors import VbzarrError


def _require_converters():
    try:
        import converters
    except ImportError as err:  # pynwb/h5py missing
        raise SystemExit(
            f"vbzarr convert needs the writing side: pip install 'vbzarr[convert]' ({err})"
        ) from err
    return converters


def _convert(args: argparse.Namespace) -> int:
    converters = _require_converters()
    from converters.project import convert_project, is_nwb_file

    options = json.loads(args.storage_options) if args.storage_options else None
    if is_nwb_file(args.src):
        summary = converters.convert_nwb(args.src, args.dst, progress=not args.quiet, storage_options=options)
        print(
            f"{args.src} -> {args.dst}: {summary.kind} {summary.id}, "
            f"{len(summary.groups)} groups, missing: {', '.join(summary.missing) or 'none'}"
        )
        return 0
    report = convert_project(
        args.src, args.dst, progress=not args.quiet, storage_options=options, workers=args.workers
    )
    print(report.describe())
    return 1 if report.failed else 0


def _info(args: argparse.Namespace) -> int:
    from .project import open_project
    from .store import open_store
    from .urls import filesystem, join

    fs, path = filesystem(args.url)
    if fs.exists(join(path, "manifest.zarr", "zarr.json")):
        print(open_project(args.url).describe())
    else:
        tree = open_store(args.url)
        print(tree)
    return 0


def _validate(args: argparse.Namespace) -> int:
    converters = _require_converters()  # noqa: F841 - validation compares with the NWB
    from converters.validate import validate_store

    problems = validate_store(args.store, args.nwb)
    for p in problems:
        print(p)
    print(f"{args.store}: {'OK' if not problems else f'{len(problems)} problem(s)'}")
    return 1 if problems else 0


def _demo(args: argparse.Namespace) -> int:
    _require_converters()
    from .demo import run_demo

    run_demo(args.workdir, size=args.size, show=not args.quiet)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vbzarr`` console script."""
    parser = argparse.ArgumentParser(prog="vbzarr", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("convert", help="NWB file or released-layout project -> Zarr store/project")
    p.add_argument("src", help="an NWB file, or a project folder/URL holding project_metadata/")
    p.add_argument("dst", help="store (.zarr) or project path/URL")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=int, default=1, help="files converted at once (processes)")
    p.add_argument("--storage-options", help="JSON dict passed to fsspec (e.g. S3 endpoint)")
    p.set_defaults(func=_convert)

    p = sub.add_parser("validate", help="compare a store with its NWB file, value by value")
    p.add_argument("store")
    p.add_argument("nwb", nargs="?", help="the source NWB (default: the store's provenance)")
    p.set_defaults(func=_validate)

    p = sub.add_parser("info", help="describe a store or a project")
    p.add_argument("url")
    p.set_defaults(func=_info)

    p = sub.add_parser("demo", help="synthetic project -> convert -> change-aligned mean dF/F")
    p.add_argument("workdir", nargs="?", default="vbzarr-demo")
    p.add_argument("--size", default="small", choices=["tiny", "small", "realistic"])
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_demo)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except VbzarrError as err:
        print(f"vbzarr: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
