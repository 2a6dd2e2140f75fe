"""The ``vbzarr`` command: convert, validate, info, demo."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from .errors import InvalidNWBError, VbzarrError


class UsageError(VbzarrError, ValueError):
    """A command-line argument that cannot be used."""


def _require_converters():
    try:
        import converters
    except ImportError as err:  # pynwb/h5py missing
        raise SystemExit(
            f"vbzarr convert needs the writing side: pip install 'vbzarr[convert]' ({err})"
        ) from err
    return converters


def _options(text: str | None) -> dict | None:
    if not text:
        return None
    try:
        options = json.loads(text)
    except ValueError as err:
        raise UsageError(f"--storage-options: expected a JSON object; {err}") from err
    if not isinstance(options, dict):
        raise UsageError(f"--storage-options: expected a JSON object; got {text!r}")
    return options


def _convert(args: argparse.Namespace) -> int:
    converters = _require_converters()
    from converters.project import convert_project, is_nwb_file

    options = _options(args.storage_options)
    if is_nwb_file(args.src):
        try:
            summary = converters.convert_nwb(
                args.src, args.dst, progress=not args.quiet, storage_options=options
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
        storage_options=options,
        source_options=_options(args.source_options),
        workers=args.workers,
        tag=args.tag,
    )
    print(report.describe())
    if args.report:
        with open(args.report, "w") as f:
            json.dump(report.as_dict(), f, indent=1)
    return 1 if report.failed else 0


def _info(args: argparse.Namespace) -> int:
    from .errors import ProjectNotFoundError
    from .project import open_project
    from .store import open_store

    options = _options(args.storage_options)
    try:
        project = open_project(args.url, version=args.version, storage_options=options)
    except ProjectNotFoundError:
        if args.version is not None:
            raise
        print(open_store(args.url, storage_options=options))
        return 0
    print(project.describe())
    print(project.describe_history())
    return 0


def _validate(args: argparse.Namespace) -> int:
    converters = _require_converters()  # noqa: F841 - validation compares with the NWB
    from converters.validate import validate_store

    problems = validate_store(
        args.store,
        args.nwb,
        storage_options=_options(args.storage_options),
        source_options=_options(args.source_options),
    )
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

    p = sub.add_parser(
        "convert",
        help="NWB file or released-layout project -> Zarr store/project",
        description="Exit codes: 0 every file converted (or unchanged); 1 some files failed (listed); "
        "2 the run could not proceed (nothing converted).",
    )
    p.add_argument("src", help="an NWB file, or a project folder/URL holding project_metadata/")
    p.add_argument("dst", help="store (.zarr) or project path/URL")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--workers", type=int, default=1, help="files converted at once (processes)")
    p.add_argument("--storage-options", help="JSON dict of fsspec options for DST (e.g. S3 endpoint)")
    p.add_argument("--source-options", help="JSON dict of fsspec options for SRC")
    p.add_argument("--tag", help="tag the project's resulting snapshot (a release, e.g. v1.0.1)")
    p.add_argument("--report", help="write a JSON report (converted, unchanged, failed, problems) here")
    p.set_defaults(func=_convert)

    p = sub.add_parser("validate", help="compare a store with its NWB file, value by value")
    p.add_argument("store")
    p.add_argument("nwb", nargs="?", help="the source NWB (default: the store's provenance)")
    p.add_argument("--storage-options", help="JSON dict of fsspec options for STORE")
    p.add_argument("--source-options", help="JSON dict of fsspec options for the source NWB files")
    p.set_defaults(func=_validate)

    p = sub.add_parser("info", help="describe a store or a project (and its history)")
    p.add_argument("url")
    p.add_argument("--version", help="a project's tag or snapshot id (default: the latest)")
    p.add_argument("--storage-options", help="JSON dict of fsspec options")
    p.set_defaults(func=_info)

    p = sub.add_parser("demo", help="synthetic project -> convert -> change-aligned mean dF/F")
    p.add_argument("workdir", nargs="?", default="vbzarr-demo")
    p.add_argument("--size", default="small", choices=["tiny", "small", "realistic"])
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_demo)

    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except VbzarrError as err:  # the run could not proceed: nothing (more) was converted
        print(f"vbzarr: error: {err}", file=sys.stderr)
        return 2
    except Exception:  # a bug: say so, and do not exit 1 ("some files failed")
        import traceback

        traceback.print_exc()
        print(
            "vbzarr: internal error (a bug in vbzarr; please report it with the traceback)", file=sys.stderr
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
