"""python -m benchmarks: list, run and document the benchmarks (from the repository root).

python -m benchmarks --list                 # each benchmark's name and what it measures
python -m benchmarks run NAME [ARGS...]     # run one (ARGS: see `run NAME --help`)
python -m benchmarks render                 # rewrite benchmarks/README.md
python -m benchmarks render NAME...         # first re-render NAME's results page from its JSON
                                            # (a page that quotes other benchmarks' results)
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import sys

from benchmarks import catalogue


def main(argv: list[str] | None = None) -> int:
    benchmarks = catalogue()
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n", 1)[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="\n".join(__doc__.splitlines()[2:]),
    )
    ap.add_argument("--list", action="store_true", help="list the benchmarks")
    sub = ap.add_subparsers(dest="command")
    run = sub.add_parser("run", help="run one benchmark: its main(ARGS)")
    run.add_argument(
        "name",
        choices=sorted(benchmarks),
        metavar="NAME",
        help="the benchmark's file name without bench_ (see --list)",
    )
    run.add_argument("args", nargs=argparse.REMAINDER, help="the benchmark's own arguments")
    rerender = sub.add_parser("render", help="write benchmarks/README.md")
    rerender.add_argument(
        "names", nargs="*", metavar="NAME", help="re-render these results pages from their JSON first"
    )
    args = ap.parse_args(argv)
    if args.list:
        width = max(map(len, benchmarks))
        for name, bench in benchmarks.items():
            print(f"{name:{width}}  {bench.summary}")
        return 0
    if args.command == "run":
        module = importlib.import_module(benchmarks[args.name].module)
        return module.main(args.args) or 0
    if args.command == "render":
        from benchmarks.harness import read_results, write_results
        from benchmarks.readme import render

        for name in args.names:
            module = importlib.import_module(benchmarks[name].module)
            page = getattr(module, "render", None)
            if page is None or len(inspect.signature(page).parameters) != 1:
                ap.error(f"{name}: its page is written by its run only (no render(results))")
            results = read_results(module.NAME)
            print(f"wrote {write_results(module.NAME, results, page(results))[1]}")

        print(f"wrote {render(benchmarks)}")
        return 0
    ap.print_help()
    return 2


if __name__ == "__main__":
    sys.exit(main())
