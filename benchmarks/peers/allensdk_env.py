"""The AllenSDK (2.16.2, its last release), in its own venv: the route users take today.

Why a separate environment: the AllenSDK pins a 2023 stack (numpy 1.23, pandas 1.5, xarray 2023.1)
that cannot share this project's environment. The peer runs in a venv built from the same Python
3.11 and is driven through child processes (``Children.run(..., python=...)``); vbzarr itself never
depends on it.

The pins are the set the resolver picked for ``allensdk==2.16.2`` on CPython 3.11, with one
change: hdmf 3.14.6 instead of the resolver's 6.2.0, with which the AllenSDK's pynwb (2.8.3) cannot
read any file ("Can't instantiate abstract class NWBFile with abstract method external_resources",
tried). Verified: ``BehaviorOphysExperiment.from_nwb_path`` reads the synthetic factory's
experiments.

Usage (from the repository root)::

    python -m benchmarks.peers.allensdk_env [--venv DIR]   # creates it, prints its python
"""

from __future__ import annotations

import sys
from pathlib import Path

from benchmarks.harness import SCRATCH
from benchmarks.peers.venvs import PeerVenv

PINS: tuple[str, ...] = (
    "aiohappyeyeballs==2.7.1",
    "aiohttp==3.14.5",
    "aiosignal==1.4.0",
    "allensdk==2.16.2",
    "argschema==3.0.4",
    "attrs==26.1.0",
    "blosc2==2.7.1",
    "boto3==1.44.8",
    "botocore==1.44.8",
    "cachetools==8.0.2",
    "certifi==2026.10.19.post1",
    "charset-normalizer==3.5.3",
    "contourpy==1.3.2",
    "cycler==0.12.1",
    "distro==1.9.0",
    "fonttools==4.68.0",
    "formulaic==1.2.2",
    "frozenlist==1.8.0",
    "future==1.0.0",
    "glymur==0.14.8",
    "h5py==3.16.0",
    "hdmf==3.14.6",
    "idna==3.20",
    "imageio==2.38.2",
    "interface-meta==2.0.1",
    "jinja2==3.1.6",
    "jmespath==1.1.0",
    "jsonschema==4.26.0",
    "jsonschema-specifications==2025.9.1",
    "kiwisolver==1.5.1",
    "lazy-loader==0.6",
    "lxml==6.2.0",
    "markupsafe==3.0.4",
    "marshmallow==3.26.2",
    "matplotlib==3.10.9",
    "msgpack==1.2.4",
    "multidict==7.2.1",
    "narwhals==2.29.0",
    "ndindex==1.10.1",
    "ndx-events==0.4.0",
    "nest-asyncio==1.6.0",
    "networkx==3.6.1",
    "numexpr==2.14.1",
    "numpy==1.23.5",
    "packaging==26.4",
    "pandas==1.5.3",
    "patsy==1.0.3",
    "pillow==13.0.0",
    "propcache==0.5.4",
    "psycopg2-binary==2.9.13",
    "py-cpuinfo==9.0.0",
    "pynrrd==1.1.3",
    "pynwb==2.8.3",
    "pyparsing==3.3.3",
    "python-dateutil==2.9.0.post0",
    "pytz==2026.6",
    "pyyaml==6.0.4",
    "referencing==0.37.0",
    "requests==2.34.2",
    "requests-toolbelt==1.0.0",
    "rpds-py==2026.9.1",
    "ruamel-yaml==0.19.1",
    "s3transfer==0.19.3",
    "scikit-build==0.19.1",
    "scikit-image==0.24.0",
    "scipy==1.10.1",
    "seaborn==0.13.2",
    "semver==3.1.2",
    "setuptools==84.2.1",
    "simpleitk==2.5.7",
    "simplejson==4.3.0",
    "six==1.17.0",
    "sqlalchemy==2.1.9",
    "statsmodels==0.15.0",
    "tables==3.11.1",
    "tifffile==2026.3.3",
    "tqdm==4.70.1",
    "typing-extensions==4.16.0",
    "urllib3==2.8.0",
    "wheel==0.48.0",
    "wrapt==2.5.2",
    "xarray==2023.1.0",
    "yarl==1.25.1",
)

VENV = PeerVenv(
    "allensdk",
    PINS,
    check="from allensdk.brain_observatory.behavior.behavior_ophys_experiment import BehaviorOphysExperiment",
)
DEFAULT = SCRATCH / "venv-allensdk"


def main(argv: list[str] | None = None) -> int:
    import argparse

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--venv", default=str(DEFAULT))
    print(VENV.ensure(Path(ap.parse_args(argv).venv), quiet=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
