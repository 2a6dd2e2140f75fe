"""Child process for :func:`benchmarks.peers.hdmf_zarr_env.export_nwb_to_zarr`.

Runs INSIDE the hdmf-zarr virtual environment (zarr 2.x), never in the main
environment (zarr 3.x).  It uses only the standard library plus what that venv
installs.

Usage::

    python _hdmf_zarr_export_child.py SRC.nwb DST.zarr RESULT.json

Writes a JSON object to RESULT.json on success; on failure prints the traceback
to stderr and exits non-zero (the parent turns that into a clear error).
"""

import os

# numcodecs >= 0.15 refuses to decode Pickle-encoded chunks unless this is set
# before numcodecs is imported.  hdmf-zarr 0.13 writes object-dtype compound
# columns (e.g. TimeSeriesReferenceVectorData) with the Pickle codec and reads
# array metadata back (zarr.require_dataset decodes the fill value with it), so
# the export itself fails without it.
os.environ.setdefault("NUMCODECS_ALLOW_UNSAFE_PICKLE_DECODE", "1")

import json  # noqa: E402
import resource  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402


def _rss_mb() -> float:
    # Linux: ru_maxrss is in KiB.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def main(argv: list) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    src, dst, result_path = argv

    t_import = time.perf_counter()
    import hdmf
    import hdmf_zarr
    import numcodecs
    import pynwb
    import zarr
    from hdmf_zarr.nwb import NWBZarrIO
    from pynwb import NWBHDF5IO

    import_seconds = time.perf_counter() - t_import
    rss_before = _rss_mb()

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        t0 = time.perf_counter()
        # load_namespaces=True: the Allen files cache their extension namespaces
        # (ndx-aibs-*, ndx-ellipse-eye-tracking) and pynwb cannot read them without.
        with NWBHDF5IO(src, mode="r", load_namespaces=True) as read_io:
            t_opened = time.perf_counter()
            with NWBZarrIO(dst, mode="w") as export_io:
                # link_data=False is mandatory when the source is not Zarr
                # (hdmf-zarr raises otherwise): every dataset is copied.
                export_io.export(src_io=read_io, write_args=dict(link_data=False))
        t1 = time.perf_counter()

    seen = {}
    for w in caught:
        key = f"{w.category.__name__}: {w.message}"
        seen[key] = seen.get(key, 0) + 1

    result = {
        "seconds": t1 - t0,
        "open_seconds": t_opened - t0,
        "import_seconds": import_seconds,
        "peak_rss_mb": _rss_mb(),
        "rss_before_export_mb": rss_before,
        "warnings": [{"message": k[:500], "count": v} for k, v in seen.items()],
        "versions": {
            "python": sys.version.split()[0],
            "hdmf_zarr": hdmf_zarr.__version__,
            "hdmf": hdmf.__version__,
            "pynwb": pynwb.__version__,
            "zarr": zarr.__version__,
            "numcodecs": numcodecs.__version__,
        },
    }
    with open(result_path, "w") as fh:
        json.dump(result, fh)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
