"""The README is a front door: every public function in its API table, no link or path outside the
repository, every figure it shows present, and its set-up commands the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import vbzarr

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_every_public_name_is_in_the_api_table():
    api = README.split("## API", 1)[1].split("\n## ", 1)[0]
    listed = set(re.findall(r"`(?:Project\.)?([A-Za-z_]+)", api))
    errors = {n for n in vbzarr.__all__ if n.endswith("Error")}
    missing = set(vbzarr.__all__) - listed - errors - {"SCHEMA_VERSION", "__version__"}
    assert not missing, f"public names missing from the README's API table: {sorted(missing)}"
    public_methods = {m for m in dir(vbzarr.Project) if not m.startswith("_")} - {"group", "store", "table"}
    assert not public_methods - listed, sorted(public_methods - listed)


def test_nothing_outside_the_repository_is_referenced():
    assert "../" not in README
    for target in re.findall(r"\]\(([^)#]+)\)", README):
        if not target.startswith("http"):
            assert (ROOT / target).exists(), target


def test_the_set_up_commands_are_the_ones_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    test_command = re.search(r"&& (python -m pytest[^`\n]*)", README).group(1)
    assert test_command in ci
    assert 'pip install -e ".[convert]" && vbzarr demo' in README


def test_the_quick_start_runs(vbo_converted, monkeypatch):
    """The quick start's code, on a converted synthetic project instead of the bucket."""
    import matplotlib

    matplotlib.use("Agg")
    code = README.split("## Quick start", 1)[1].split("```python", 1)[1].split("```", 1)[0]
    code = code.replace('"s3://bucket/vbo", storage_options={"anon": True}', repr(str(vbo_converted)))
    assert repr(str(vbo_converted)) in code
    scope: dict = {}
    exec(compile(code, "README.md (quick start)", "exec"), scope)
    assert set(scope["mean"].experience_level.values) == set(scope["container"].experience_level)
    assert scope["everything"].compute().notnull().any()
