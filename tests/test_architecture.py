"""The shape of the code: dependencies point one way, streams are declared once, modules stay small."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Lines a module may have (one idea per module).
MAX_LINES = 400


def test_the_read_side_never_imports_the_write_side():
    code = (
        "import sys, vbzarr, vbzarr.cli\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('pynwb', 'h5py', 'hdmf', 'converters')"
        " or m.startswith(('vbzarr.convert', 'vbzarr.testing')))\n"
        "print(bad)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]", out.stdout


def test_no_read_side_module_names_the_write_side():
    for path in (ROOT / "vbzarr").rglob("*.py"):
        if "testing" in path.parts:
            continue
        text = path.read_text()
        offenders = [
            line.strip()
            for line in text.splitlines()
            if line.lstrip().startswith(("import ", "from "))
            and any(name in line for name in ("pynwb", "h5py", "converters", "vbzarr.convert"))
        ]
        # The CLI's one lazy reach for the writing commands is the exception.
        if path.name == "cli.py":
            offenders = [o for o in offenders if o != "from .convert import commands"]
        assert not offenders, f"{path}: {offenders}"


def test_streams_are_declared_once_in_write_order():
    from vbzarr.convert.streams import EVERY_KIND, STREAMS

    names = [s.name for s in STREAMS]
    assert len(names) == len(set(names))
    assert all(s.kinds and s.kinds <= EVERY_KIND and s.sources for s in STREAMS)
    # Every builder of a family module is declared: none is left out of the list.
    declared = {s.build for s in STREAMS}
    import vbzarr.convert.streams as streams

    for module in {s.build.__module__ for s in STREAMS}:
        family = sys.modules[module]
        builders = [
            f
            for name, f in vars(family).items()
            if callable(f)
            and getattr(f, "__module__", None) == module
            and name in names  # a builder is named for its group
        ]
        assert set(builders) <= declared, (module, builders)
    assert streams.STREAMS is STREAMS


def test_modules_stay_small():
    big = {
        str(p.relative_to(ROOT)): n
        for folder in ("vbzarr", "converters")
        for p in (ROOT / folder).rglob("*.py")
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not big, big
