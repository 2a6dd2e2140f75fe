"""The figure of ``vbzarr demo``: change-aligned dF/F by experience level, as in the Visual Behavior
Ophys papers (population mean with its SEM, and each level's cells as a heat map)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import xarray as xr

#: Colors of the experience levels, as the Allen Institute's Visual Behavior figures draw them.
LEVEL_COLORS = {"Familiar": "#d62728", "Novel 1": "#1f77b4", "Novel >1": "#9467bd"}
FLASH_PERIOD = 0.75  # s between image onsets
FLASH_DURATION = 0.25  # s an image is shown
RESPONSE_WINDOW = (0.0, FLASH_PERIOD)  # s from the change: the change flash's interval
BASELINE_WINDOW = (-FLASH_PERIOD, 0.0)  # the interval of the last flash before the change


def window_mean(signal: xr.DataArray, window: tuple[float, float]) -> xr.DataArray:
    """Mean of ``signal`` over ``window[0] <= time_from_event < window[1]`` (s)."""
    t = signal.time_from_event
    return signal.where((t >= window[0]) & (t < window[1])).mean("time_from_event")


def population_mean(mean: xr.DataArray) -> tuple[xr.DataArray, xr.DataArray]:
    """Mean over cells and its standard error, per experience level and time.

    Parameters
    ----------
    mean
        ``(cell_specimen_id, experience_level, time_from_event)`` mean dF/F of each cell; NaN for
        cells that no session of a level sees.

    Returns
    -------
    mean, sem : xr.DataArray
        ``(experience_level, time_from_event)``.
    """
    cells = mean.notnull().sum("cell_specimen_id")
    sem = mean.std("cell_specimen_id", ddof=1) / np.sqrt(cells)
    return mean.mean("cell_specimen_id"), sem


def _label(attrs: dict) -> str:
    """Axis label from a variable's ``long_name`` and ``units``; "1" is CF's unit of a ratio, which
    its name alone labels."""
    units = attrs.get("units", "1")
    return attrs.get("long_name", "dF/F") + ("" if units in ("1", "") else f" ({units})")


def _flashes(ax, window: tuple[float, float]) -> None:
    """Shade the image flashes: the change (at 0) darker than the repeats around it."""
    first = np.ceil(window[0] / FLASH_PERIOD) * FLASH_PERIOD
    labels = {True: "change flash", False: "image flash"}
    for onset in np.arange(first, window[1], FLASH_PERIOD):
        change = bool(np.isclose(onset, 0.0))
        shade = 0.22 if change else 0.08
        label = labels.pop(change, None)  # one legend entry of each kind
        ax.axvspan(onset, onset + FLASH_DURATION, color="0.3", alpha=shade, lw=0, label=label)


def change_figure(mean: xr.DataArray, path: str | Path, title: str = "") -> Path:
    """Save the demo's figure as a PNG: population mean +- SEM per experience level, then one heat map
    of cells (sorted by their mean response in ``RESPONSE_WINDOW``) per level.

    Drawn on matplotlib's Agg canvas without pyplot, so it never touches the caller's backend.

    Parameters
    ----------
    mean
        ``(cell_specimen_id, experience_level, time_from_event)`` mean dF/F around image changes,
        with ``long_name`` and ``units`` attributes.
    path
        PNG file to write.
    title
        Figure title.

    Returns
    -------
    Path
        ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    levels = [str(v) for v in mean.experience_level.values]
    time = mean.time_from_event.values
    window = (float(time[0]), float(time[-1]))
    label = _label(mean.attrs)
    width = 4.2 + 2.9 * len(levels)
    fig = Figure(figsize=(width, 3.9))
    FigureCanvasAgg(fig)
    # A fixed layout: constrained layout would draw the figure twice (a third of the demo's figure time).
    grid = fig.add_gridspec(
        1,
        len(levels) + 1,
        width_ratios=[1.45] + [1.0] * len(levels),
        left=0.7 / width,
        right=1 - 0.85 / width,
        bottom=0.14,
        top=0.84,
        wspace=0.3,
    )
    ax = fig.add_subplot(grid[0])
    avg, sem = population_mean(mean)
    _flashes(ax, window)
    for level in levels:
        color = LEVEL_COLORS.get(level, "0.2")
        m, s = avg.sel(experience_level=level).values, sem.sel(experience_level=level).values
        n = int(mean.sel(experience_level=level).isel(time_from_event=0).notnull().sum())
        ax.fill_between(time, m - s, m + s, color=color, alpha=0.25, lw=0)
        ax.plot(time, m, color=color, lw=1.8, label=f"{level} ({n} cells)")
    ax.axvline(0.0, color="k", lw=0.8, ls="--")
    ax.set(xlim=window, xlabel="time from change (s)", ylabel=f"population mean {label}")
    ax.set_title("a  population mean ± SEM", loc="left", fontsize=10)
    ax.legend(frameon=False, fontsize=8, loc="upper right")

    response = window_mean(mean, RESPONSE_WINDOW)
    finite = mean.values[np.isfinite(mean.values)]
    vmax = float(np.percentile(finite, 99)) if finite.size else 1.0
    image = None
    for i, level in enumerate(levels):
        hm = fig.add_subplot(grid[i + 1])
        cells = response.sel(experience_level=level).dropna("cell_specimen_id")
        order = cells.sortby(cells, ascending=False).cell_specimen_id
        rows = mean.sel(experience_level=level, cell_specimen_id=order).values
        image = hm.imshow(
            rows,
            aspect="auto",
            interpolation="nearest",
            cmap="magma",
            vmin=0.0,
            vmax=vmax,
            extent=(window[0], window[1], len(rows) + 0.5, 0.5),  # row k centred on rank k
        )
        hm.yaxis.set_major_locator(MaxNLocator(nbins=6, integer=True, min_n_ticks=1))
        hm.axvline(0.0, color="w", lw=0.8, ls="--")
        hm.set_xlabel("time from change (s)")
        a, b = (1000 * w for w in RESPONSE_WINDOW)
        hm.set_ylabel(f"cell (ranked by response {a:.0f}-{b:.0f} ms)" if i == 0 else "")
        hm.set_title(f"{'bcd'[i]}  {level}", loc="left", fontsize=10, color=LEVEL_COLORS.get(level, "k"))
    if image is not None:  # beside the last heat map
        box = hm.get_position()
        cax = fig.add_axes((box.x1 + 0.1 / width, box.y0, 0.12 / width, box.height))
        fig.colorbar(image, cax=cax, label=label)
    if title:
        fig.suptitle(title, fontsize=10)
    path = Path(path)
    fig.savefig(path, dpi=120)
    return path
