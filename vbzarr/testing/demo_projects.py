"""Converted synthetic projects for the notebooks (and anyone's demo), built once and reused.

``vbo_project()`` and ``vbn_project()`` return the URL of a converted project: the one named by
``VBZARR_PROJECT`` / ``VBZARR_VBN_PROJECT`` when set (a real release converted with ``vbzarr
convert``), else a small synthetic one in the Allen layout (:mod:`vbzarr.testing.synthetic`,
converted by :func:`vbzarr.convert.project.convert_project`), cached under a folder
(``VBZARR_DEMO_CACHE``, default ``<tempdir>/vbzarr-demo-projects``). The cache key holds the
project's recipe, the size and a digest of the source of the factory, the converters and the read
side's top-level modules, so a change to any of them builds a new project instead of reusing a stale
one.

Several processes may ask at once (``pytest -n 2`` runs notebooks side by side): one builds under
an exclusive file lock, into a temporary folder renamed into place when complete; the others wait
for the lock and then reuse it. A build killed half way leaves only its temporary folder, which the
next build removes.

:func:`save_figure` saves a notebook's figure as PNG after checking that every axes says what it
shows (x and y labels, colorbar labels), and records the labels in the PNG for the tests.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.figure import Figure

#: Environment variables: a converted VBO / VBN project to use instead of a synthetic one; the
#: cache folder of the synthetic ones; their size preset; where :func:`save_figure` writes.
PROJECT_ENV, VBN_PROJECT_ENV = "VBZARR_PROJECT", "VBZARR_VBN_PROJECT"
CACHE_ENV, SIZE_ENV, FIGURES_ENV = "VBZARR_DEMO_CACHE", "VBZARR_SIZE", "VBZARR_FIGURES"

#: PNG text key holding the labels of a saved figure's axes (JSON).
AXES_KEY = "vbzarr:axes"


@dataclass(frozen=True)
class Recipe:
    """What a synthetic demo project holds: the factory function and its arguments."""

    dataset: str  # "vbo" or "vbn"
    arguments: dict[str, Any] = field(default_factory=dict)
    #: Size fields changed from the preset (e.g. more units per probe).
    size_changes: dict[str, Any] = field(default_factory=dict)


#: Three mice, one per cre line (Slc17a7, Vip, Sst), each one container imaged in four sessions
#: (three familiar, one novel) after a training session: every cre line and the familiar/novel
#: contrast in 15 files (a file costs about a second to write and convert, whatever its size).
VBO_DEMO = Recipe(
    "vbo",
    {"n_containers": 3, "sessions_per_container": 4, "behavior_only_sessions": 1, "seed": 21},
)
#: One mouse: a habituation session, then a familiar (G) and a novel (H) ecephys session, each
#: with 3 probes of 40 units (enough for several units in each visual area); no LFP files.
VBN_DEMO = Recipe(
    "vbn",
    {"n_sessions": 2, "behavior_only_sessions": 1, "with_lfp": False, "seed": 6},
    {"units_per_probe": 40, "n_probes": 3},
)


def vbo_project(cache: str | os.PathLike | None = None, size: str | None = None) -> str:
    """URL of a converted Visual Behavior Ophys project: ``$VBZARR_PROJECT`` when set, else the
    synthetic demo project (:data:`VBO_DEMO`), built once under ``cache``.

    Examples
    --------
    >>> project = vbzarr.open_project(vbo_project())  # doctest: +SKIP
    """
    return os.environ.get(PROJECT_ENV) or synthetic_project(VBO_DEMO, cache, size)


def vbn_project(cache: str | os.PathLike | None = None, size: str | None = None) -> str:
    """URL of a converted Visual Behavior Neuropixels project: ``$VBZARR_VBN_PROJECT`` when set,
    else the synthetic demo project (:data:`VBN_DEMO`), built once under ``cache``."""
    return os.environ.get(VBN_PROJECT_ENV) or synthetic_project(VBN_DEMO, cache, size)


def synthetic_project(recipe: Recipe, cache: str | os.PathLike | None = None, size: str | None = None) -> str:
    """The folder of the converted project ``recipe`` of ``size`` (default ``$VBZARR_SIZE`` or
    ``tiny``) under ``cache`` (default ``$VBZARR_DEMO_CACHE`` or ``<tempdir>/vbzarr-demo-projects``):
    reused when built, else built under a file lock (other processes asking meanwhile wait)."""
    size = size or os.environ.get(SIZE_ENV) or "tiny"
    root = Path(cache or os.environ.get(CACHE_ENV) or Path(tempfile.gettempdir()) / "vbzarr-demo-projects")
    root.mkdir(parents=True, exist_ok=True)
    key = f"{recipe.dataset}-{size}-{_digest(recipe, size)}"
    done = root / key / "project"
    if done.is_dir():
        return str(done)
    with _locked(root / f"{key}.lock"):
        if not done.is_dir():  # another process may have built it while we waited
            for stale in root.glob(f"{key}.tmp-*"):  # a killed build's leftovers
                shutil.rmtree(stale, ignore_errors=True)
            work = Path(tempfile.mkdtemp(prefix=f"{key}.tmp-", dir=root))
            _build(recipe, size, work)
            os.rename(work, root / key)
    return str(done)


def _digest(recipe: Recipe, size: str) -> str:
    """A digest of the recipe and of the source of the factory, the converters and the modules
    they share with the read side (the schema version among them)."""
    import vbzarr
    import vbzarr.convert
    import vbzarr.testing.synthetic

    h = hashlib.sha256(repr((recipe, size)).encode())
    for package in (vbzarr.testing.synthetic, vbzarr.convert, vbzarr):
        for path in sorted(Path(package.__file__).parent.glob("*.py")):  # type: ignore[arg-type]
            h.update(path.name.encode() + path.read_bytes())
    return h.hexdigest()[:12]


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (released when the process dies; no lock where ``fcntl``
    is missing, e.g. Windows: there, run one notebook first)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield
        return
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _build(recipe: Recipe, size: str, work: Path) -> None:
    """Write the synthetic release under ``work/release``, convert it into ``work/project`` (in
    this process: demos run beside other work), then drop the release."""
    from vbzarr.convert.project import convert_project

    if recipe.dataset == "vbo":
        from vbzarr.testing.synthetic.project import make_vbo_project
        from vbzarr.testing.synthetic.sizes import Size

        make_vbo_project(
            work / "release", size=replace(Size.preset(size), **recipe.size_changes), **recipe.arguments
        )
    else:
        from vbzarr.testing.synthetic.sizes import EcephysSize
        from vbzarr.testing.synthetic.vbn_project import make_vbn_project

        make_vbn_project(
            work / "release",
            size=replace(EcephysSize.preset(size), **recipe.size_changes),
            **recipe.arguments,
        )
    report = convert_project(str(work / "release"), str(work / "project"), workers=1)
    if report.failed:
        raise RuntimeError(f"the synthetic {recipe.dataset} project did not convert:\n{report.describe()}")
    shutil.rmtree(work / "release")


def figure_labels(fig: Figure) -> list[dict[str, str]]:
    """Title and axis labels of each axes of ``fig`` that shows its axes (a colorbar: its label)."""
    out = []
    for ax in fig.axes:
        if not ax.axison:
            continue
        colorbar = getattr(ax, "_colorbar", None)
        if colorbar is not None:
            long_axis = ax.yaxis if colorbar.orientation == "vertical" else ax.xaxis
            out.append({"colorbar": long_axis.get_label_text()})
        else:
            out.append({"title": ax.get_title(), "xlabel": ax.get_xlabel(), "ylabel": ax.get_ylabel()})
    return out


def save_figure(fig: Figure, name: str, folder: str | os.PathLike | None = None) -> None:
    """Save ``fig`` as ``<folder>/<name>.png`` (``folder`` default ``$VBZARR_FIGURES`` or the
    working directory), after checking that every axes has x and y labels and every colorbar a
    label; the labels are recorded in the PNG (text key :data:`AXES_KEY`).

    Raises
    ------
    ValueError
        An axes lacks a label (the message names the figure and the axes).
    """
    labels = figure_labels(fig)
    missing = [
        (k, entry)
        for k, entry in enumerate(labels)
        if not all(v.strip() for n, v in entry.items() if n != "title")
    ]
    if not labels or missing:
        raise ValueError(
            f"figure {name!r}: expected labelled axes (with units); unlabelled: {missing or 'no axes'}"
        )
    path = Path(folder or os.environ.get(FIGURES_ENV) or ".") / f"{name}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight", metadata={AXES_KEY: json.dumps(labels)})
