"""Virtual environments for peers that cannot share this project's environment.

A peer pinned to other versions of numpy, pandas, hdmf or zarr (the AllenSDK 2.16, hdmf-zarr 0.13)
runs in its own venv built from the same Python, and is driven through child processes. Every
package of a peer's venv is pinned (the set its resolver picked once, verified to run), so the peer
does not drift when the registry moves.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

MARKER = "peer-pins.txt"  # written into the venv once the install and its check succeeded


class PeerVenvError(RuntimeError):
    """A peer's venv could not be made, or its child process failed; the message carries its
    stderr."""


def venv_python(path: Path) -> Path:
    """The interpreter of the venv at ``path``."""
    return path / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@dataclass(frozen=True)
class PeerVenv:
    """A peer's pinned environment: ``pins`` (every package, ``name==version``), ``check`` (Python
    code that fails unless the peer imports), ``env`` (variables the peer needs)."""

    name: str
    pins: tuple[str, ...]
    check: str
    env: dict[str, str] = field(default_factory=dict)

    def ensure(self, path: Path, base_python: str | os.PathLike | None = None, quiet: bool = True) -> Path:
        """Create (if missing) the venv at ``path`` and return its python.

        Idempotent: a venv whose marker lists exactly :attr:`pins` is reused as is; otherwise the
        pins are (re)installed into it. ``base_python`` defaults to the interpreter running this
        code.
        """
        path = Path(path).absolute()
        py, marker, pins = venv_python(path), path / MARKER, "\n".join(self.pins) + "\n"
        if py.exists() and marker.exists() and marker.read_text() == pins:
            return py
        if not py.exists():
            run([str(base_python or sys.executable), "-m", "venv", str(path)], f"create the {self.name} venv")
        install = [str(py), "-m", "pip", "install", "--disable-pip-version-check"]
        run([*install, *(["-q"] if quiet else []), *self.pins], f"pip-install the {self.name} pins")
        run([str(py), "-c", self.check], f"import {self.name} in its venv", env=self.environ())
        marker.write_text(pins)
        return py

    def environ(self) -> dict[str, str]:
        """This process's environment for a child in the venv: the peer's variables added, and
        nothing that would import this environment's packages."""
        env = {**os.environ, **self.env}
        env.pop("PYTHONPATH", None)
        env.pop("PYTHONHOME", None)
        return env


def run(
    cmd: list[str], what: str, env: dict | None = None, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """Run ``cmd``; a failure raises :class:`PeerVenvError` saying ``what`` failed, with its output."""
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise PeerVenvError(
            f"failed to {what} (exit {proc.returncode}): {' '.join(map(str, cmd))}\n"
            f"--- stderr ---\n{tail(proc.stderr)}\n--- stdout ---\n{tail(proc.stdout)}"
        )
    return proc


def tail(text: str, n: int = 8000) -> str:
    """The last ``n`` characters of ``text``."""
    text = text or ""
    return text if len(text) <= n else "...[truncated]...\n" + text[-n:]
