"""Progress bars of the write side."""

from __future__ import annotations

from typing import Any


def progress_bar(disable: bool) -> Any:
    """tqdm's class: the notebook-aware one when the bar shows, the plain one when it does not (so
    a quiet conversion in Jupyter without ipywidgets warns nothing)."""
    if disable:
        from tqdm import tqdm
    else:
        from tqdm.auto import tqdm
    return tqdm
