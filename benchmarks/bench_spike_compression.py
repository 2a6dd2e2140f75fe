"""How small can the units' spike arrays get losslessly? Codecs vs a Shannon bound.

Issue 3 asks the converted Neuropixels store to be <= 0.6x the NWB file, losslessly; the store is
0.734x, and ``units/spike_times`` / ``units/spike_amplitudes`` (float64, 5e7 values each in the
realistic factory session) dominate it. This script measures, on that session (the NWB of
``bench_ecephys_conversion`` and its converted store) and on the reference VBN NWB files (real
AllenSDK layout, small):

1. the file and store sizes, and the bytes of the two arrays in each (HDF5 storage size; sum of
   the store's chunk files);
2. lossless codecs on the two arrays, per stored chunk (the store's chunk length), compress speed
   single-threaded, every option decoded bit-exactly on a sample of chunks: blosc lz4/zstd with
   byte shuffle and bitshuffle at a few levels, zstd, zstd/blosc on the per-unit delta of the
   int64 view (positive floats of one sign sort like their int64 bit patterns; deltas restart at
   every unit and chunk start), and pcodec (in a separate venv, as it is not a project dependency);
3. Shannon-entropy estimates in bits per value (below);
4. the smallest store any lossless layout could have: bound bytes of the two arrays + what the
   store spends on everything else (measured), as a ratio to the NWB file.

Entropy of float64 samples of a continuous source. A value drawn with density p and rounded to
the float64 grid (spacing delta(x) = np.spacing(x), 2**-52 relative) takes a grid point with
probability ~ p(x) delta(x), so its entropy is H ~ E[-log2(p(x) delta(x))] bits (p is smooth on
the scale of delta). Averaging -log2(p(x_i) delta(x_i)) over the 5e7 values estimates H; no
lossless code can average fewer bits per value than H for this source (source coding theorem).

* Spike times of one unit: the unordered set of its N times. If the set has density N! prod f(t_i)
  (N draws from a density f, sorted), H ~ -log2 N! - sum_i log2(f(t_i) delta(t_i)); with the
  intensity lambda = N f and Stirling this is the point-process form
  sum_i [log2 e - log2(lambda(t_i) delta(t_i))]. Estimates:
  - "homogeneous Poisson": f = 1/T over the recording [t0, t1) (lambda = N/T per unit). This is
    the code length of a simpler model than the generator's (a cross-entropy), so it is >= H,
    not below it.
  - "factory model" (the bound): the generator of ``vbzarr/testing/synthetic/content.py``
    (``spike_trains``): a share alpha of the unit's spikes is locked to its preferred image
    (uniform in [onset + 30 ms, onset + 80 ms) after one of that image's onsets, drawn with
    replacement), the rest uniform in [t0, t1) with a 1.5 ms refractory period. Per spike
    f(t) = (1 - alpha) / T + alpha m(t) / W, m(t) the number of response windows holding t, W their
    total length. Then two corrections that make it a lower bound on the log-loss of the exact
    generator: the refractory base part has density b!/(T - b tau)^b, not b!/T^b (subtract
    b log2(T / (T - b tau))), and the mixture over-counts the fixed evoked count k by its binomial
    probability (subtract 0.5 log2(2 pi N alpha (1 - alpha))). The preferred image (onsets read
    from the NWB's image presentations, omitted flashes excluded) and k are estimated from the data
    (the excess of spikes in the response windows).
  - "empirical (ISI histogram)", no model: per unit, a histogram of the inter-spike intervals in
    16 log-spaced bins per octave (plug-in, Miller-Madow corrected) plus, inside a bin, a uniform
    position on the float64 grid: bits_i = -log2 P(bin) + log2(bin width / delta(t_i)); the first
    spike costs log2(T / delta). This is the code length of a renewal model, so it must be >= H.
* Spike amplitudes (factory: ``amplitude_u * 1e-6 * lognormal(0, 0.25)``, i.i.d.): p is the
  lognormal with mu = ln(amplitude_u * 1e-6) (``units/amplitude`` of the NWB) and sigma = 0.25,
  per unit; bits_i =
  -log2(p(x_i) delta(x_i)). Empirical, no model: per unit, a histogram of log2(x) in bins of 1/32
  octave (Miller-Madow) plus the uniform position on the grid inside the bin.

What the bound does not cover: the factory's pseudo-random arithmetic. The whole file derives
from a seeded PRNG, and (from reading ``_sorted_uniform``, not measured) its float64 cumulative
sums over up to 2**24 gaps can leave the times of late units in a batch on a grid coarser than
float64's, so the file's entropy given its generator is lower. Only a codec that modelled the
generator's arithmetic could use that; it says nothing about spike data, and no codec here beats
the bound (the script checks it and exits 1 if one does).

Usage (from the repository root; needs the session and store of ``bench_ecephys_conversion``)::

    python -m benchmarks run spike_compression
"""

from __future__ import annotations

import argparse
import glob
import json
import math
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.harness import (
    REPO,
    command,
    du_bytes,
    files_under,
    log,
    machine,
    machine_markdown,
    md_table,
    wait_quiet,
    write_results,
)

NAME = "bench_spike_compression"
ARRAYS = ("spike_times", "spike_amplitudes")
DEFAULT_NWB = "/tmp/bench2/vbn-full-*/behavior_ecephys_sessions/*/ecephys_session_*.nwb"
DEFAULT_STORE = "/tmp/bench2/ecephys_session_{sid}-full.zarr"
REFERENCE = str(
    REPO.parent
    / "shared"
    / "reference-nwb"
    / "visual-behavior-neuropixels-0.5.0"
    / "behavior_ecephys_sessions"
    / "*"
    / "ecephys_session_*.nwb"
)
PCO_VENV = Path("/tmp/bench2/venv-pco")
LATENCY = (0.03, 0.08)  # content.spike_trains' response window after an onset (s)
REFRACTORY = 0.0015  # content.spike_trains' refractory period of the Poisson part (s)
AMP_SIGMA = 0.25  # ecephys._add_units: amplitudes *= lognormal(0, 0.25)
ISI_BINS_PER_OCTAVE = 16
AMP_BINS_PER_OCTAVE = 32


# --------------------------------------------------------------------------------------------
# codecs
# --------------------------------------------------------------------------------------------
@dataclass
class Codec:
    """A lossless option applied chunk by chunk. ``delta``: encode the delta of the int64 view
    instead of the values, restarting at every unit (``unit_restarts``) and at every chunk start
    (so that chunks stay independent). ``pco_level``: pcodec (run in the pcodec venv) instead of
    numcodecs."""

    name: str
    make: Callable[[], object] | None = None
    delta: bool = False
    unit_restarts: bool = True
    pco_level: int | None = None
    times_only: bool = False


def codecs() -> list[Codec]:
    from numcodecs import Blosc, Zstd

    def blosc(cname: str, level: int, shuffle: int) -> Callable[[], object]:
        return lambda: Blosc(cname=cname, clevel=level, shuffle=shuffle)

    sh, bit = Blosc.SHUFFLE, Blosc.BITSHUFFLE
    return [
        Codec("blosc lz4 shuffle 5 (the store's FAST_CODEC)", blosc("lz4", 5, sh)),
        Codec("blosc lz4 bitshuffle 5", blosc("lz4", 5, bit)),
        Codec("blosc zstd shuffle 3", blosc("zstd", 3, sh)),
        Codec("blosc zstd shuffle 9", blosc("zstd", 9, sh)),
        Codec("blosc zstd bitshuffle 3", blosc("zstd", 3, bit)),
        Codec("blosc zstd bitshuffle 9", blosc("zstd", 9, bit)),
        Codec("zstd 9", lambda: Zstd(level=9)),
        Codec("unit delta + zstd 3", lambda: Zstd(level=3), delta=True, times_only=True),
        Codec("unit delta + blosc zstd shuffle 5", blosc("zstd", 5, sh), delta=True, times_only=True),
        Codec("unit delta + blosc zstd bitshuffle 5", blosc("zstd", 5, bit), delta=True, times_only=True),
        # A plain delta within each chunk (no unit restarts), as a generic delta codec would do.
        Codec(
            "chunk delta + blosc zstd bitshuffle 5",
            blosc("zstd", 5, bit),
            delta=True,
            unit_restarts=False,
            times_only=True,
        ),
        Codec("pcodec 8", pco_level=8),
        Codec("pcodec 12", pco_level=12),
        Codec("unit delta + pcodec 8", delta=True, pco_level=8, times_only=True),
    ]


def unit_delta(v: np.ndarray, restarts: np.ndarray) -> np.ndarray:
    """Differences of consecutive int64 values; at ``restarts`` (indices) the raw value."""
    d = np.empty_like(v)
    d[0] = v[0]
    np.subtract(v[1:], v[:-1], out=d[1:])
    d[restarts] = v[restarts]
    return d


def unit_undelta(d: np.ndarray, restarts: np.ndarray) -> np.ndarray:
    """Inverse of :func:`unit_delta` (``restarts`` sorted, starting at 0). int64 cumulative sums
    wrap around, but the differences of wrapped sums are exact (arithmetic mod 2**64)."""
    y = np.cumsum(d)
    base = np.concatenate([[0], y[restarts[1:] - 1]]).astype(np.int64)
    mask = np.zeros(len(d), bool)
    mask[restarts] = True
    seg = np.cumsum(mask) - 1
    return y - base[seg]


class PcoWorker:
    """pcodec in its own interpreter (the venv's), fed over a pipe: ``--pco-worker`` mode (this
    module imports nothing but numpy and the standard library, which the venv has)."""

    def __init__(self, python: str) -> None:
        self.proc = subprocess.Popen(
            [python, "-m", f"benchmarks.{NAME}", "--pco-worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=REPO,
        )
        self.version = self._ask({"op": "version"})["version"]

    def _ask(self, header: dict, payload: bytes = b"") -> dict:
        self.proc.stdin.write((json.dumps({**header, "nbytes": len(payload)}) + "\n").encode())
        self.proc.stdin.write(payload)
        self.proc.stdin.flush()
        return json.loads(self.proc.stdout.readline())

    def compress(self, x: np.ndarray, chunk: int, level: int, verify_every: int) -> dict:
        return self._ask(
            {
                "op": "compress",
                "dtype": x.dtype.str,
                "chunk": chunk,
                "level": level,
                "verify_every": verify_every,
            },
            x.tobytes(),
        )

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait()


def pco_worker() -> int:
    """The worker loop (imports only numpy and pcodec: the venv has nothing else)."""
    import pcodec
    from pcodec import ChunkConfig, standalone

    inp, out = sys.stdin.buffer, sys.stdout
    while line := inp.readline():
        h = json.loads(line)
        raw = inp.read(h["nbytes"])
        if h["op"] == "version":
            out.write(json.dumps({"version": pcodec.__version__}) + "\n")
            out.flush()
            continue
        x = np.frombuffer(raw, dtype=h["dtype"])
        cfg = ChunkConfig(compression_level=h["level"])
        r = {"bytes": 0, "enc_s": 0.0, "dec_s": 0.0, "verified": 0, "ok": True}
        for i, a in enumerate(range(0, len(x), h["chunk"])):
            c = x[a : a + h["chunk"]]
            t = time.perf_counter()
            b = standalone.simple_compress(c, cfg)
            r["enc_s"] += time.perf_counter() - t
            r["bytes"] += len(b)
            if i % h["verify_every"] == 0:
                t = time.perf_counter()
                y = standalone.simple_decompress(b)
                r["dec_s"] += time.perf_counter() - t
                r["verified"] += len(c)
                r["ok"] &= bool(np.array_equal(np.asarray(y).view(np.int64), c.view(np.int64)))
        out.write(json.dumps(r) + "\n")
        out.flush()
    return 0


def pco_python(args) -> tuple[str | None, str]:
    """The interpreter that has pcodec: the venv (created once with ``pip install pcodec`` if
    missing). Returns (python or None, how)."""
    if args.no_pcodec:
        return None, "skipped (--no-pcodec)"
    py = Path(args.pcodec_venv) / "bin" / "python"
    check = [str(py), "-c", "import pcodec, numpy"]
    if py.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return str(py), f"venv {args.pcodec_venv}"
    try:
        subprocess.run([sys.executable, "-m", "venv", args.pcodec_venv], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", "pcodec", "numpy"], check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        return None, f"unavailable ({e})"
    return str(py), f"venv {args.pcodec_venv} (created)"


def measure_codecs(
    ds,
    ends: np.ndarray,
    chunk: int,
    batch: int,
    verify_every: int,
    kind: str,
    pco: PcoWorker | None,
    log: Callable[[str], None],
) -> list[dict]:
    """Every codec on one HDF5 dataset, in batches of ``batch`` values (whole chunks)."""
    n = int(ends[-1]) if len(ends) else 0
    starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
    opts = [
        c
        for c in codecs()
        if not (c.times_only and kind != "spike_times") and (c.pco_level is None or pco is not None)
    ]
    acc = {
        c.name: {"codec": c.name, "bytes": 0, "enc_s": 0.0, "dec_s": 0.0, "verified": 0, "ok": True}
        for c in opts
    }
    batch = max(chunk, batch // chunk * chunk)
    for a in range(0, n, batch):
        x = ds[a : min(n, a + batch)]
        v = x.view(np.int64)
        chunk_starts = np.arange(0, len(x), chunk)
        restarts = np.union1d(chunk_starts, starts[(starts >= a) & (starts < a + len(x))] - a)
        deltas: dict[bool, tuple[np.ndarray, np.ndarray, float]] = {}  # unit_restarts -> ...
        if kind == "spike_times":
            for by_unit, rs in ((True, restarts), (False, chunk_starts)):
                t = time.perf_counter()
                d = unit_delta(v, rs)
                deltas[by_unit] = d, rs, time.perf_counter() - t
                for c0 in chunk_starts[::verify_every]:  # the inverse, on the sampled chunks
                    local = rs[(rs >= c0) & (rs < c0 + chunk)] - c0
                    if not np.array_equal(unit_undelta(d[c0 : c0 + chunk], local), v[c0 : c0 + chunk]):
                        raise AssertionError(f"unit_undelta is not the inverse at {a + c0}")
        for c in opts:
            r = acc[c.name]
            src, rs, delta_s = deltas[c.unit_restarts] if c.delta else (x, None, 0.0)
            if c.pco_level is not None:
                got = pco.compress(src, chunk, c.pco_level, verify_every)
                for k in ("bytes", "enc_s", "dec_s", "verified"):
                    r[k] += got[k]
                r["ok"] &= got["ok"]
                r["enc_s"] += delta_s
                continue
            codec = c.make()
            t = time.perf_counter()
            blobs = [codec.encode(src[c0 : c0 + chunk]) for c0 in chunk_starts]
            r["enc_s"] += time.perf_counter() - t + delta_s
            r["bytes"] += sum(len(b) for b in blobs)
            for i in range(0, len(blobs), verify_every):
                c0 = chunk_starts[i]
                t = time.perf_counter()
                y = np.frombuffer(codec.decode(blobs[i]), dtype=src.dtype)
                if c.delta:
                    y = unit_undelta(y, rs[(rs >= c0) & (rs < c0 + chunk)] - c0)
                r["dec_s"] += time.perf_counter() - t
                r["verified"] += len(y)
                r["ok"] &= bool(np.array_equal(y.view(np.int64), v[c0 : c0 + chunk]))
        log(f"  {kind}: values {a + len(x):,} / {n:,}")
    out = []
    for r in acc.values():
        if not r["ok"]:
            raise AssertionError(f"{r['codec']} did not round-trip {kind} bit-exactly")
        raw = 8 * n
        out.append(
            {
                **r,
                "raw_bytes": raw,
                "ratio": r["bytes"] / raw,
                "bits_per_value": 8 * r["bytes"] / n,
                "enc_MBps": raw / r["enc_s"] / 1e6 if r["enc_s"] else None,
                "dec_MBps": 8 * r["verified"] / r["dec_s"] / 1e6 if r["dec_s"] else None,
            }
        )
    return out


# --------------------------------------------------------------------------------------------
# entropy
# --------------------------------------------------------------------------------------------
def hist_bits(keys: np.ndarray) -> float:
    """sum_i -log2 P(key_i) with the plug-in P, plus the Miller-Madow correction (K-1)/(2 ln 2)."""
    if len(keys) == 0:
        return 0.0
    _, counts = np.unique(keys, return_counts=True)
    n = len(keys)
    return float(-(counts * np.log2(counts / n)).sum() + (len(counts) - 1) / (2 * math.log(2)))


def log_bins(x: np.ndarray, per_octave: int) -> tuple[np.ndarray, np.ndarray]:
    """(bin index, bin width) of positive values in ``per_octave`` log-spaced bins per octave."""
    b = np.floor(per_octave * np.log2(x))
    return b.astype(np.int64), np.exp2((b + 1) / per_octave) - np.exp2(b / per_octave)


def empirical_grid_bits(x: np.ndarray, per_octave: int, grid: np.ndarray) -> float:
    """Bits of values ``x`` (any sign) coded as: histogram bin (sign, log2|x| in 1/per_octave
    octave) + uniform position among the float64 grid points (spacing ``grid``) in the bin."""
    mag = np.abs(x)
    zero = mag == 0
    b, width = log_bins(np.where(zero, 1.0, mag), per_octave)
    keys = np.where(zero, np.iinfo(np.int64).min, 2 * b + (x < 0))
    within = np.where(zero, 0.0, np.log2(np.maximum(width / grid, 1.0)))
    return hist_bits(keys) + float(within.sum())


@dataclass
class Onsets:
    """Stimulus-locking inputs of the factory model: onsets of each image, response window."""

    by_image: dict[str, np.ndarray]


def image_onsets(f) -> Onsets | None:
    """Onsets of the shown (not omitted) image flashes: the factory's ``content.image_onsets``,
    read back from the NWB's image presentations table (active and passive blocks)."""
    names = [k for k in f.get("intervals", {}) if k.startswith("Natural_Images")]
    if not names:
        return None
    g = f["intervals"][names[0]]
    image = g["image_name"][()].astype(str)
    start = g["start_time"][()]
    keep = image != "omitted"
    return Onsets({im: np.sort(start[keep & (image == im)]) for im in np.unique(image[keep])})


def windows_holding(t: np.ndarray, on: np.ndarray) -> np.ndarray:
    """Number of response windows [on + 30 ms, on + 80 ms) that contain each time."""
    lo, hi = LATENCY
    return np.searchsorted(on, t - lo, "right") - np.searchsorted(on, t - hi, "right")


def times_entropy(tt: np.ndarray, t0: float, t1: float, onsets: Onsets | None) -> dict:
    """Bits of one unit's sorted spike times under each estimate (module docstring)."""
    n, span = len(tt), t1 - t0
    l2d = np.log2(np.spacing(tt))
    log2_fact = math.lgamma(n + 1) / math.log(2)
    hom = n * math.log2(span) - log2_fact - float(l2d.sum())
    # Factory model: find the preferred image by the excess of spikes in its response windows.
    alpha, pref, model = 0.0, None, hom
    if onsets is not None:
        best = (0.0, None)
        for im, on in onsets.by_image.items():
            c = int(windows_holding(tt, on).sum())
            expect = n * len(on) * (LATENCY[1] - LATENCY[0]) / span
            z = (c - expect) / math.sqrt(max(expect, 1.0))
            best = max(best, (z, im), key=lambda p: p[0])
        if best[0] > 10:  # excess of 10 sd: a locked unit (locked ones show > 100 sd here)
            pref = best[1]
            on = onsets.by_image[pref]
            w = len(on) * (LATENCY[1] - LATENCY[0])
            m = windows_holding(tt, on)
            k = (int(m.sum()) - n * w / span) / (1 - w / span)
            alpha = min(max(k, 0.0), n // 2) / n
        base = n * (1 - alpha)
        f = np.full(n, (1 - alpha) / span)
        if pref:
            f += alpha * m / w
        model = float(-np.log2(f).sum()) - log2_fact - float(l2d.sum())
        model -= base * math.log2(span / (span - base * REFRACTORY))
        if 0 < alpha < 1:
            model -= 0.5 * math.log2(2 * math.pi * n * alpha * (1 - alpha))
    # Empirical: log-binned ISI histogram + uniform position on the grid within the bin.
    isi = np.diff(tt)
    emp = math.log2(span) - float(l2d[0]) + empirical_grid_bits(isi, ISI_BINS_PER_OCTAVE, np.spacing(tt[1:]))
    return {"homogeneous": hom, "model": model, "empirical": emp, "alpha": alpha, "locked": pref is not None}


def amplitudes_entropy(x: np.ndarray, unit_amplitude: float | None) -> dict:
    """Bits of one unit's amplitudes: factory lognormal model and the empirical histogram."""
    grid = np.spacing(np.abs(x))
    out = {"empirical": empirical_grid_bits(x, AMP_BINS_PER_OCTAVE, grid)}
    if unit_amplitude is not None:
        mu = math.log(unit_amplitude * 1e-6)  # the factory's scale, computed as it does
        ln_pdf = -np.log(x * AMP_SIGMA * math.sqrt(2 * math.pi)) - (np.log(x) - mu) ** 2 / (2 * AMP_SIGMA**2)
        out["model"] = float((-ln_pdf / math.log(2) - np.log2(grid)).sum())
    return out


def unit_batches(ends: np.ndarray, batch: int) -> Iterator[tuple[int, int]]:
    """Ranges [u0, u1) of whole units with about ``batch`` spikes (at least one unit)."""
    u0 = 0
    while u0 < len(ends):
        first = int(ends[u0 - 1]) if u0 else 0
        u1 = max(u0 + 1, int(np.searchsorted(ends, first + batch, "right")))
        yield u0, u1
        u0 = u1


def measure_entropy(
    f, ends: np.ndarray, span: tuple[float, float], batch: int, factory: bool, log: Callable[[str], None]
) -> dict:
    """Per array, summed bits of each estimate over all units (batches of whole units)."""
    t0, t1 = span
    onsets = image_onsets(f) if factory else None
    unit_amp = f["units/amplitude"][()] if factory else None
    tot = {
        "spike_times": {"homogeneous": 0.0, "model": 0.0, "empirical": 0.0},
        "spike_amplitudes": {"empirical": 0.0, "model": 0.0},
    }
    locked, alphas, grid30k, amp_z = 0, [], 0, []
    for u0, u1 in unit_batches(ends, batch):
        a = int(ends[u0 - 1]) if u0 else 0
        t = f["units/spike_times"][a : int(ends[u1 - 1])]
        x = f["units/spike_amplitudes"][a : int(ends[u1 - 1])]
        for u in range(u0, u1):
            s, e = (int(ends[u - 1]) if u else 0) - a, int(ends[u]) - a
            if e == s:
                continue
            tt = t[s:e]
            if np.any(np.diff(tt) < 0):
                raise ValueError(f"unit row {u}: spike times not sorted")
            r = times_entropy(tt, t0, t1, onsets if factory else None)
            for k in ("homogeneous", "model", "empirical"):
                tot["spike_times"][k] += r[k]
            locked += r["locked"]
            alphas += [r["alpha"]] if r["locked"] else []
            # A sampling clock would put times on k / 30 kHz (relative to the unit's first spike).
            rel = (tt - tt[0]) * 30000.0
            grid30k += int((np.abs(rel - np.rint(rel)) < 1e-3).sum()) - 1
            ra = amplitudes_entropy(x[s:e], float(unit_amp[u]) if factory else None)
            for k, v in ra.items():
                tot["spike_amplitudes"][k] += v
            if factory:
                amp_z.append(np.log(x[s:e] / (unit_amp[u] * 1e-6)))
        log(f"  entropy: units {u1} / {len(ends)}")
    n = int(ends[-1])
    res = {k: {e: b / n for e, b in v.items()} for k, v in tot.items()}
    if not factory:
        del res["spike_times"]["model"], res["spike_amplitudes"]["model"]
    res["diagnostics"] = {
        "units": len(ends),
        "spikes": n,
        "span_s": [t0, t1],
        "locked_units": locked,
        "mean_locked_share": float(np.mean(alphas)) if alphas else 0.0,
        "share_on_30kHz_grid": grid30k / max(1, n - len(ends)),
    }
    if factory:
        z = np.concatenate(amp_z)
        res["diagnostics"].update(log_amp_ratio_mean=float(z.mean()), log_amp_ratio_sd=float(z.std()))
    return res


# --------------------------------------------------------------------------------------------
# sizes
# --------------------------------------------------------------------------------------------
def store_sizes(store: Path) -> dict:
    """Total bytes of the store, and per array (chunk files only, metadata excluded)."""
    total, nfiles = du_bytes(store)
    per: dict[str, int] = {}
    for p in files_under(store):
        rel = p.relative_to(store)
        if "c" in rel.parts:  # chunk key encoding "default": <array>/c/<i>
            key = "/".join(rel.parts[: rel.parts.index("c")])
            per[key] = per.get(key, 0) + os.lstat(p).st_size
    return {"bytes": total, "files": nfiles, "chunk_bytes": per}


def session_id(f) -> str:
    """The NWB's session id (``general/session_id``; the AllenSDK's files keep it in
    ``identifier``)."""
    v = f["general/session_id"][()] if "general/session_id" in f else f["identifier"][()]
    return v.decode() if isinstance(v, bytes) else str(v)


def store_meta(store: Path, array: str) -> dict:
    meta = json.loads((store / "units" / array / "zarr.json").read_text())
    return {
        "shape": meta["shape"],
        "chunk": meta["chunk_grid"]["configuration"]["chunk_shape"][0],
        "codecs": [c for c in meta["codecs"] if c["name"] != "bytes"],
    }


def factory_span(nwb: Path) -> tuple[tuple[float, float], str]:
    """The recording span [t0, t1) the factory drew spikes in (``content.recording_span`` of the
    size in the generator's DONE.json), else the data's span."""
    done = nwb.parents[2] / "DONE.json"
    if done.exists():
        from vbzarr.testing.synthetic import content

        size = json.loads(done.read_text())["size"]
        size = content.EcephysSize(**{k: tuple(v) if isinstance(v, list) else v for k, v in size.items()})
        return content.recording_span(size), f"content.recording_span of {done}"
    return None, "data span"


def data_span(f, ends) -> tuple[float, float]:
    t = f["units/spike_times"]
    starts = np.concatenate([[0], ends[:-1]])[np.diff(np.concatenate([[0], ends])) > 0]
    first = min(float(t[int(s)]) for s in starts)
    last = max(float(t[int(e) - 1]) for e in ends[np.diff(np.concatenate([[0], ends])) > 0])
    return first, np.nextafter(last, np.inf)


def analyse_file(
    nwb: Path, args, pco: PcoWorker | None, factory: bool, chunk: int, log: Callable[[str], None]
) -> dict:
    import h5py

    with h5py.File(nwb, "r") as f:
        ends = f["units/spike_times_index"][()].astype(np.int64)
        if args.max_units:
            ends = ends[: args.max_units]
        out = {
            "nwb": str(nwb),
            "nwb_bytes": nwb.stat().st_size,
            "session_id": session_id(f),
            "units": len(ends),
            "spikes": int(ends[-1]),
            "arrays": {},
        }
        span, how = factory_span(nwb) if factory else (None, "data span")
        if span is None:
            span = data_span(f, ends)
        t_first, t_last = data_span(f, ends)
        if not (span[0] <= t_first and t_last <= np.nextafter(span[1], np.inf)):
            raise ValueError(f"spikes in [{t_first}, {t_last}] outside the span {span}")
        out["span"], out["span_from"] = list(span), how
        for name in ARRAYS:
            ds = f[f"units/{name}"]
            log(f"{nwb.name}: codecs on {name}")
            out["arrays"][name] = {
                "dtype": str(ds.dtype),
                "nwb_storage_bytes": int(ds.id.get_storage_size()),
                "nwb_chunks": ds.chunks,
                "nwb_compression": ds.compression,
                "codecs": measure_codecs(ds, ends, chunk, args.batch, args.verify_every, name, pco, log),
            }
        log(f"{nwb.name}: entropy")
        t = time.perf_counter()
        ent = measure_entropy(f, ends, span, args.batch, factory, log)
        out["entropy_s"] = time.perf_counter() - t
    out["entropy_diagnostics"] = ent.pop("diagnostics")
    for name in ARRAYS:
        out["arrays"][name]["entropy_bits_per_value"] = ent[name]
    return out


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------
def factory_store(nwb: Path, pattern: str) -> tuple[Path, dict, dict]:
    """The store converted from the factory NWB (checked: same session, same spikes): its path,
    sizes and the metadata of the two arrays."""
    import h5py

    with h5py.File(nwb, "r") as f:
        sid = session_id(f)
        n_spikes = int(f["units/spike_times"].shape[0])
    store = Path(pattern.format(sid=sid))
    attrs = json.loads((store / "zarr.json").read_text())["attributes"]
    store_sid = str(attrs["metadata"]["ecephys_session_id"])
    meta = {a: store_meta(store, a) for a in ARRAYS}
    if store_sid != sid or meta["spike_times"]["shape"] != [n_spikes]:
        raise SystemExit(
            f"store {store} (session {store_sid}, {meta['spike_times']['shape']} "
            f"spikes) is not the conversion of {nwb} (session {sid}, {n_spikes})"
        )
    sizes = store_sizes(store)
    sizes.update(source=attrs.get("provenance", {}).get("source"), session_id=store_sid)
    return store, sizes, meta


def analyse_factory(nwb: Path, args: argparse.Namespace, pco: PcoWorker | None) -> dict:
    """Codecs and entropy of the factory session's two arrays, and its store's other bytes."""
    store, sizes, meta = factory_store(nwb, args.store)
    chunk = meta["spike_times"]["chunk"]
    log(
        f"factory NWB {nwb} ({nwb.stat().st_size / 2**20:.0f} MiB), store {store} "
        f"({sizes['bytes'] / 2**20:.0f} MiB), chunk {chunk}"
    )
    factory = analyse_file(nwb, args, pco, True, chunk, log)
    factory.update(
        store=str(store),
        store_bytes=sizes["bytes"],
        store_files=sizes["files"],
        store_source=sizes["source"],
        store_session_id=sizes["session_id"],
    )
    spike_store = 0
    for a in ARRAYS:
        factory["arrays"][a]["store_chunk_bytes"] = sizes["chunk_bytes"][f"units/{a}"]
        factory["arrays"][a]["store_codecs"] = meta[a]["codecs"]
        spike_store += sizes["chunk_bytes"][f"units/{a}"]
    rest = sizes["bytes"] - spike_store
    top = sorted(
        ((k, v) for k, v in sizes["chunk_bytes"].items() if k not in {f"units/{a}" for a in ARRAYS}),
        key=lambda kv: -kv[1],
    )[:6]
    factory["store_rest_bytes"], factory["store_rest_top"] = rest, dict(top)
    factory["chunk"] = chunk
    return factory


def minimal_store(factory: dict, complete: bool) -> dict:
    """The smallest store: bound bytes of the two arrays + everything else as stored now; and the
    check the bound must pass (no measured codec below it)."""
    n = factory["spikes"]
    rest = factory["store_rest_bytes"]
    bound = {a: factory["arrays"][a]["entropy_bits_per_value"]["model"] * n / 8 for a in ARRAYS}
    best = {a: min(factory["arrays"][a]["codecs"], key=lambda r: r["bytes"]) for a in ARRAYS}
    nwb_bytes = factory["nwb_bytes"]
    minimal = {
        "complete": complete,
        "bound_bytes": bound,
        "store_rest_bytes": rest,
        "minimal_store_bytes": rest + sum(bound.values()),
        "minimal_ratio": (rest + sum(bound.values())) / nwb_bytes,
        "best_codec_store_bytes": rest + sum(best[a]["bytes"] for a in ARRAYS),
        "best_codec_ratio": (rest + sum(best[a]["bytes"] for a in ARRAYS)) / nwb_bytes,
        "best_codec": {a: best[a]["codec"] for a in ARRAYS},
        "current_ratio": factory["store_bytes"] / nwb_bytes,
        "target_ratio": 0.6,
        "target_bytes": 0.6 * nwb_bytes,
        "rest_budget_at_target": 0.6 * nwb_bytes - sum(bound.values()),
        "bound_only_ratio": sum(bound.values()) / nwb_bytes,
    }
    minimal["reachable_by_spike_arrays_alone"] = minimal["minimal_ratio"] <= 0.6
    violations = []
    for a in ARRAYS:
        floor = factory["arrays"][a]["entropy_bits_per_value"]["model"]
        violations += [
            f"{a}: {r['codec']} {r['bits_per_value']:.3f} < {floor:.3f}"
            for r in factory["arrays"][a]["codecs"]
            if r["bits_per_value"] < floor
        ]
    minimal["bound_violations"] = violations
    return minimal


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks run spike_compression", description=__doc__.splitlines()[0]
    )
    ap.add_argument("--nwb", default=DEFAULT_NWB, help="factory session NWB (glob; one match)")
    ap.add_argument("--store", default=DEFAULT_STORE, help="its vbzarr store ({sid}: session id)")
    ap.add_argument("--reference", default=REFERENCE, help="reference VBN session NWB files (glob)")
    ap.add_argument("--batch", type=int, default=1 << 23, help="values read at a time")
    ap.add_argument(
        "--verify-every", type=int, default=16, help="decode (and check bit-exactly) every n-th chunk"
    )
    ap.add_argument("--pcodec-venv", default=str(PCO_VENV))
    ap.add_argument("--no-pcodec", action="store_true")
    ap.add_argument("--max-units", type=int, default=0, help="first units only (development)")
    ap.add_argument("--no-wait", action="store_true", help="do not wait for other benchmarks")
    ap.add_argument("--pco-worker", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.pco_worker:
        return pco_worker()

    import numcodecs

    t_start = time.perf_counter()
    load_start = os.getloadavg()
    waited = 0.0 if args.no_wait else wait_quiet()
    numcodecs.blosc.set_nthreads(1)  # single-threaded speeds, comparable with pcodec's
    matches = sorted(glob.glob(args.nwb))
    if len(matches) != 1:
        raise SystemExit(f"--nwb {args.nwb!r} matches {len(matches)} files; give one")
    py, pco_how = pco_python(args)
    pco = PcoWorker(py) if py else None
    log(f"pcodec: {pco_how}")

    factory = analyse_factory(Path(matches[0]), args, pco)
    chunk = factory.pop("chunk")
    full = not args.max_units
    minimal = minimal_store(factory, full)
    refs = [
        analyse_file(Path(path), args, pco, False, chunk, log) for path in sorted(glob.glob(args.reference))
    ]
    if pco:
        pco.close()
    results = {
        "name": NAME,
        "machine": machine(),
        "command": command(),
        "pcodec": pco_how,
        "pcodec_version": pco.version if pco else None,
        "chunk": chunk,
        "batch": args.batch,
        "verify_every": args.verify_every,
        "waited_s": waited,
        "load_avg_start": load_start,
        "load_avg_end": os.getloadavg(),
        "factory": factory,
        "minimal": minimal,
        "reference": refs,
        "seconds": time.perf_counter() - t_start,
    }
    md = report(results)
    if full:
        write_results(NAME, results, md)
    print(md)
    if minimal["bound_violations"]:
        log("BOUND VIOLATED: " + "; ".join(minimal["bound_violations"]))
        return 1
    return 0


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------
def mib(b: float) -> str:
    return f"{b / 2**20:,.1f} MiB"


def report(r: dict) -> str:

    fac, mn = r["factory"], r["minimal"]
    n = fac["spikes"]
    lines = [
        f"# {NAME}\n",
        machine_markdown(r["machine"], r["command"], r["seconds"]),
        f"\nCodecs run chunk by chunk ({r['chunk']:,} values, the store's chunk), "
        f"single-threaded (blosc nthreads 1), compress speed over all values; every option "
        f"decoded bit-exactly on every {r['verify_every']}th chunk (decompress speed from "
        f"those). pcodec {r['pcodec_version']} ({r['pcodec']}). Entropy estimates: see the "
        "script's docstring. Load average (1, 5, 15 min) at the start "
        f"{', '.join(f'{x:.2f}' for x in r['load_avg_start'])}, at the end "
        f"{', '.join(f'{x:.2f}' for x in r['load_avg_end'])} (2 cores, shared: speeds are "
        "indicative, sizes exact).\n",
    ]
    lines.append("\n## Inputs and sizes (factory session)\n")
    lines.append(
        f"NWB `{fac['nwb']}` (session {fac['session_id']}): {fac['units']} units, {n:,} spikes, "
        f"recording [{fac['span'][0]:.2f}, {fac['span'][1]:.2f}) s ({fac['span_from']}). Store "
        f"`{fac['store']}` (session {fac['store_session_id']}, converted from "
        f"`{fac['store_source']}`).\n"
    )
    rows = [
        ["NWB file", mib(fac["nwb_bytes"]), "1.000x", "-"],
        [
            "vbzarr store",
            mib(fac["store_bytes"]),
            f"{fac['store_bytes'] / fac['nwb_bytes']:.3f}x",
            f"{fac['store_files']} files",
        ],
    ]
    for a in ARRAYS:
        x = fac["arrays"][a]
        rows.append(
            [
                f"{a} in the NWB (HDF5 storage, {x['nwb_compression'] or 'uncompressed'})",
                mib(x["nwb_storage_bytes"]),
                f"{x['nwb_storage_bytes'] / fac['nwb_bytes']:.3f}x",
                f"{8 * x['nwb_storage_bytes'] / n:.2f} bits/value (HDF5 chunks of "
                f"{x['nwb_chunks'][0]:,}, the last one partly filled)",
            ]
        )
        codec = ", ".join(
            f"{c['name']} {c.get('configuration', {}).get('cname', '')} "
            f"{c.get('configuration', {}).get('shuffle', '')}".strip()
            for c in x["store_codecs"]
        )
        rows.append(
            [
                f"{a} in the store (chunk files; {codec})",
                mib(x["store_chunk_bytes"]),
                f"{x['store_chunk_bytes'] / fac['nwb_bytes']:.3f}x",
                f"{8 * x['store_chunk_bytes'] / n:.2f} bits/value",
            ]
        )
    rows.append(
        [
            "store: everything else",
            mib(fac["store_rest_bytes"]),
            f"{fac['store_rest_bytes'] / fac['nwb_bytes']:.3f}x",
            "largest: " + ", ".join(f"{k} {mib(v)}" for k, v in list(fac["store_rest_top"].items())[:4]),
        ]
    )
    lines.append(md_table(["", "bytes", "/ NWB file", "note"], rows))

    lines.append("\n## Lossless codecs on the factory session's spike arrays\n")
    for a in ARRAYS:
        x = fac["arrays"][a]
        ent = x["entropy_bits_per_value"]
        rows = [
            [
                c["codec"],
                mib(c["bytes"]),
                f"{c['ratio']:.4f}",
                f"{c['bits_per_value']:.2f}",
                f"{c['enc_MBps']:.0f}",
                f"{c['dec_MBps']:.0f}" if c["dec_MBps"] else "-",
                f"yes ({c['verified']:,} values)",
            ]
            for c in sorted(x["codecs"], key=lambda c: c["bytes"])
        ]
        rows.append(
            [
                "**bound: factory model entropy**",
                mib(ent["model"] * n / 8),
                f"{ent['model'] / 64:.4f}",
                f"{ent['model']:.2f}",
                "-",
                "-",
                "-",
            ]
        )
        lines.append(f"\n`{a}` ({n:,} values; ratio = bytes / (8 bytes x values)):\n")
        lines.append(
            md_table(
                [
                    "codec",
                    "bytes",
                    "ratio",
                    "bits/value",
                    "compress MB/s",
                    "decompress MB/s",
                    "round-trip bit-exact",
                ],
                rows,
            )
        )
        own = next(c for c in x["codecs"] if "FAST_CODEC" in c["codec"])
        lines.append(
            f"\nCross-check: the store's chunk files hold {mib(x['store_chunk_bytes'])}; "
            f"the same codec here gives {mib(own['bytes'])}.\n"
        )

    lines.append("\n## Entropy (bits per value; ratio = bits / 64)\n")
    lines.append(
        "The bound is the entropy of the factory's generating process with its random "
        "numbers taken as continuous and the results rounded to float64 (derivation in "
        "the script's docstring); the homogeneous and empirical rows are code lengths of "
        "simpler models, so they must lie at or above it.\n"
    )
    st, am = (fac["arrays"][a]["entropy_bits_per_value"] for a in ARRAYS)
    best = {a: min(fac["arrays"][a]["codecs"], key=lambda c: c["bytes"]) for a in ARRAYS}
    d = fac["entropy_diagnostics"]

    def bits(x: float) -> str:
        return f"{x:.3f} ({x / 64:.4f})"

    rows = [
        ["factory model (the bound)", bits(st["model"]), bits(am["model"])],
        ["homogeneous Poisson, rate = count / T", bits(st["homogeneous"]), "-"],
        ["empirical: ISI / log2(amplitude) histograms", bits(st["empirical"]), bits(am["empirical"])],
        [
            "best measured codec",
            f"{best['spike_times']['bits_per_value']:.3f} "
            f"({best['spike_times']['ratio']:.4f}), {best['spike_times']['codec']}",
            f"{best['spike_amplitudes']['bits_per_value']:.3f} "
            f"({best['spike_amplitudes']['ratio']:.4f}), {best['spike_amplitudes']['codec']}",
        ],
        [
            "the store now (blosc lz4 shuffle 5)",
            bits(8 * fac["arrays"]["spike_times"]["store_chunk_bytes"] / n),
            bits(8 * fac["arrays"]["spike_amplitudes"]["store_chunk_bytes"] / n),
        ],
    ]
    lines.append(md_table(["estimate", "spike_times", "spike_amplitudes"], rows))
    lines.append(
        f"\nModel fit, from the data: {d['locked_units']} of {d['units']} units are stimulus-locked "
        f"(mean locked share {d['mean_locked_share']:.3f}); ln(amplitude / unit amplitude) has mean "
        f"{d['log_amp_ratio_mean']:.4f} and sd {d['log_amp_ratio_sd']:.4f} (factory: 0, "
        f"{AMP_SIGMA}); share of spike times on a 30 kHz grid (from the unit's first spike): "
        f"{d['share_on_30kHz_grid']:.5f} (chance: 0.002). Bound check: "
        + (
            "no codec is below the bound."
            if not mn["bound_violations"]
            else "VIOLATED: " + "; ".join(mn["bound_violations"])
        )
        + "\n"
    )

    lines.append("\n## The smallest possible store\n")
    rows = [
        [
            "spike_times at the bound",
            mib(mn["bound_bytes"]["spike_times"]),
            f"{mn['bound_bytes']['spike_times'] / fac['nwb_bytes']:.3f}x",
        ],
        [
            "spike_amplitudes at the bound",
            mib(mn["bound_bytes"]["spike_amplitudes"]),
            f"{mn['bound_bytes']['spike_amplitudes'] / fac['nwb_bytes']:.3f}x",
        ],
        [
            "everything else, as stored now",
            mib(mn["store_rest_bytes"]),
            f"{mn['store_rest_bytes'] / fac['nwb_bytes']:.3f}x",
        ],
        ["**smallest store (bound)**", mib(mn["minimal_store_bytes"]), f"**{mn['minimal_ratio']:.3f}x**"],
        [
            f"store with the best measured codecs ({mn['best_codec']['spike_times']}; "
            f"{mn['best_codec']['spike_amplitudes']})",
            mib(mn["best_codec_store_bytes"]),
            f"{mn['best_codec_ratio']:.3f}x",
        ],
        ["the store now", mib(fac["store_bytes"]), f"{mn['current_ratio']:.3f}x"],
        ["target", mib(mn["target_bytes"]), "0.600x"],
    ]
    lines.append(md_table(["", "bytes", "/ NWB file"], rows))
    lines.append(
        f"\nAt 0.6x, with both spike arrays at their bound, everything else would have to fit in "
        f"{mib(mn['rest_budget_at_target'])} (it takes {mib(mn['store_rest_bytes'])} now, "
        f"{mn['store_rest_bytes'] / max(mn['rest_budget_at_target'], 1):.2f}x that).\n"
    )

    if r["reference"]:
        lines.append("\n## Reference VBN NWB files (AllenSDK writer, synthetic content)\n")
        names = [
            Path(x["nwb"]).name.replace("ecephys_session_", "").replace(".nwb", "") for x in r["reference"]
        ]
        for a in ARRAYS:
            codec_names = [c["codec"] for c in r["reference"][0]["arrays"][a]["codecs"]]
            bits = [
                {c["codec"]: c["bits_per_value"] for c in x["arrays"][a]["codecs"]} for x in r["reference"]
            ]
            rows = [[cn] + [f"{b[cn]:.2f}" for b in bits] for cn in codec_names]
            for est in ["homogeneous", "empirical"] if a == "spike_times" else ["empirical"]:
                label = {
                    "homogeneous": "homogeneous Poisson (T = data span)",
                    "empirical": "empirical histogram estimate",
                }[est]
                rows.append(
                    [f"**{label}**"]
                    + [f"**{x['arrays'][a]['entropy_bits_per_value'][est]:.2f}**" for x in r["reference"]]
                )
            rows.append(["values (units)"] + [f"{x['spikes']:,} ({x['units']})" for x in r["reference"]])
            rows.append(
                ["NWB storage"]
                + [
                    f"{mib(x['arrays'][a]['nwb_storage_bytes'])} "
                    f"({x['arrays'][a]['nwb_compression'] or 'uncompressed'})"
                    for x in r["reference"]
                ]
            )
            lines.append(f"\n`{a}`, bits per value (64 = raw):\n")
            lines.append(md_table(["codec / estimate"] + names, rows))
        grid = ", ".join(f"{x['entropy_diagnostics']['share_on_30kHz_grid']:.5f}" for x in r["reference"])
        lines.append(
            f"\nShare of spike times on a 30 kHz grid (from each unit's first spike; "
            f"chance: 0.002): {grid}.\n"
        )

    lines.append("\n## Conclusion\n")
    lines.append(conclusion(r) + "\n")
    return "\n".join(lines)


def span_text(xs: list[float]) -> str:
    lo, hi = f"{min(xs):.1f}", f"{max(xs):.1f}"
    return lo if lo == hi else f"{lo}-{hi}"


def conclusion(r: dict) -> str:
    fac, mn = r["factory"], r["minimal"]
    st, am = (fac["arrays"][a]["entropy_bits_per_value"] for a in ARRAYS)
    best = {a: min(fac["arrays"][a]["codecs"], key=lambda c: c["bytes"]) for a in ARRAYS}
    gap = {a: best[a]["bits_per_value"] - fac["arrays"][a]["entropy_bits_per_value"]["model"] for a in ARRAYS}
    verdict = "cannot reach" if not mn["reachable_by_spike_arrays_alone"] else "could reach"
    text = (
        f"On the factory session the idealized source entropy is {st['model']:.2f} bits per spike "
        f"time ({st['model'] / 64:.3f} of raw float64) and {am['model']:.2f} bits per amplitude "
        f"({am['model'] / 64:.3f}): a continuous value on the float64 grid costs that much "
        f"however it is coded. The best codecs measured ({best['spike_times']['codec']}: "
        f"{best['spike_times']['ratio']:.3f}; {best['spike_amplitudes']['codec']}: "
        f"{best['spike_amplitudes']['ratio']:.3f}) are {gap['spike_times']:.2f} and "
        f"{gap['spike_amplitudes']:.2f} bits per value above it, and "
        + ("none beats it" if not mn["bound_violations"] else "SOME BEAT IT (the bound is wrong)")
        + f". Even with both arrays at their entropy the store would be {mn['minimal_ratio']:.3f}x "
        f"the NWB (everything else as stored now, {mib(mn['store_rest_bytes'])}), so compressing "
        f"the spike arrays losslessly {verdict} 0.6x; the best measured codecs give "
        f"{mn['best_codec_ratio']:.3f}x. 0.6x would also need everything else to shrink from "
        f"{mib(mn['store_rest_bytes'])} to {mib(mn['rest_budget_at_target'])}."
    )
    if r["reference"]:
        ref_best = [
            min(x["arrays"][a]["codecs"], key=lambda c: c["bytes"])["bits_per_value"]
            for x in r["reference"]
            for a in ("spike_times",)
        ]
        ref_emp = [x["arrays"]["spike_times"]["entropy_bits_per_value"]["empirical"] for x in r["reference"]]
        amp_best = [
            min(x["arrays"]["spike_amplitudes"]["codecs"], key=lambda c: c["bytes"])["bits_per_value"]
            for x in r["reference"]
        ]
        amp_emp = [
            x["arrays"]["spike_amplitudes"]["entropy_bits_per_value"]["empirical"] for x in r["reference"]
        ]
        text += (
            f" The reference files behave the same way: their spike times cost "
            f"{span_text(ref_best)} bits per value with the best codec against an empirical entropy "
            f"estimate of {span_text(ref_emp)}, their amplitudes {span_text(amp_best)} against "
            f"{span_text(amp_emp)}. Like the factory's, their times are continuous (no 30 kHz "
            "sample grid), so neither data set shows what spike times derived from sample counts "
            "would cost."
        )
    return text


if __name__ == "__main__":
    sys.exit(main())
