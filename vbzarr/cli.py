"""The ``vbzarr`` command: convert, validate, info, demo.

Reading commands run here; the writing ones (convert, validate, demo) live in
:mod:`vbzarr.convert.commands`, imported only when one runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import __version__
from .errors import UsageError, VbzarrError


def _writing_side(args: argparse.Namespace) -> int:
    """Run a write-side command: the one place the read side reaches for vbzarr.convert, which
    needs pynwb and h5py; without them, say what to install."""
    try:
        from .convert import commands
    except ImportError as err:
        if err.name not in {"pynwb", "h5py", "hdmf", "scipy"}:
            raise
        raise UsageError(
            f"vbzarr {args.command}: expected the writing side (pynwb, h5py); {err.name} is not "
            "installed: pip install 'vbzarr[convert]'"
        ) from err
    return getattr(commands, args.command)(args)


def parse_options(text: str | None, option: str = "--storage-options") -> dict | None:
    """The JSON object given to ``option`` (fsspec options), or None.

    Examples
    --------
    >>> parse_options('{"anon": true}')
    {'anon': True}
    >>> parse_options("anon")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    vbzarr.errors.UsageError: --storage-options: expected a JSON object; Expecting value: ...
    """
    if not text:
        return None
    try:
        options = json.loads(text)
    except ValueError as err:
        raise UsageError(f"{option}: expected a JSON object; {err}") from err
    if not isinstance(options, dict):
        raise UsageError(f"{option}: expected a JSON object; got {text!r}")
    return options


def _info(args: argparse.Namespace) -> int:
    from .errors import ProjectNotFoundError
    from .project import open_project
    from .store import open_store

    options = parse_options(args.storage_options)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``vbzarr`` console script."""
    parser = argparse.ArgumentParser(prog="vbzarr", description=__doc__)
    parser.add_argument("--version", action="version", version=f"vbzarr {__version__}")
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
    p.add_argument(
        "--workers", type=int, help="files converted at once, on a LocalCluster (default: for the machine)"
    )
    p.add_argument("--threads", type=int, help="writer threads per file (default: for the machine)")
    p.add_argument(
        "--scheduler", help="address of an existing dask.distributed scheduler to convert on (tcp://...)"
    )
    p.add_argument("--storage-options", help="JSON dict of fsspec options for DST (e.g. S3 endpoint)")
    p.add_argument("--source-options", help="JSON dict of fsspec options for SRC")
    p.add_argument("--tag", help="tag the project's resulting snapshot (a release, e.g. v1.0.1)")
    p.add_argument("--report", help="write a JSON report (converted, unchanged, failed, problems) here")
    p.set_defaults(func=_writing_side)

    p = sub.add_parser("validate", help="compare a store with its NWB file, value by value")
    p.add_argument("store")
    p.add_argument("nwb", nargs="?", help="the source NWB (default: the store's provenance)")
    p.add_argument("--storage-options", help="JSON dict of fsspec options for STORE")
    p.add_argument("--source-options", help="JSON dict of fsspec options for the source NWB files")
    p.set_defaults(func=_writing_side)

    p = sub.add_parser("info", help="describe a store or a project (and its history)")
    p.add_argument("url")
    p.add_argument("--version", help="a project's tag or snapshot id (default: the latest)")
    p.add_argument("--storage-options", help="JSON dict of fsspec options")
    p.set_defaults(func=_info)

    p = sub.add_parser("demo", help="synthetic project -> convert -> change-aligned mean dF/F")
    p.add_argument("workdir", nargs="?", default="vbzarr-demo")
    p.add_argument("--size", default="small", choices=["tiny", "small", "realistic"])
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_writing_side)

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
