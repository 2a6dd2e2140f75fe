"""How big a synthetic session is: ``Size`` (Visual Behavior Ophys and behavior-only sessions) and
``EcephysSize`` (Visual Behavior Neuropixels ecephys sessions), each with its presets."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    """How big a synthetic session is.

    ``task_minutes`` is the change-detection block; the gray screens before and after it and the
    natural movie repeats scale with it. ``fov`` is the imaging field of view in pixels and
    ``template_shape`` the (rows, columns) of a warped stimulus image.
    """

    task_minutes: float = 1.5
    gray_minutes: float = 0.25
    movie_repeats: int = 1
    movie_frames: int = 90
    n_cells: int = 8
    fov: int = 64
    template_shape: tuple[int, int] = (24, 38)
    eye_rate: float = 30.0

    @classmethod
    def preset(cls, name: str) -> Size:
        """``"tiny"`` for unit tests, ``"small"`` for demos, ``"realistic"`` for benchmarks."""
        presets = {
            "tiny": cls(),
            "small": cls(
                task_minutes=4,
                gray_minutes=0.5,
                n_cells=24,
                fov=128,
                template_shape=(60, 96),
                movie_frames=300,
            ),
            "realistic": cls(
                task_minutes=60,
                gray_minutes=5,
                movie_repeats=10,
                movie_frames=900,
                n_cells=80,
                fov=512,
                template_shape=(1200, 1920),
                eye_rate=60.0,
            ),
        }
        if name not in presets:
            raise ValueError(f"Expected a size preset in {sorted(presets)}. Got {name!r} instead.")
        return presets[name]


@dataclass(frozen=True)
class EcephysSize:
    """How big a synthetic VBN ecephys session is.

    The stimulus runs the six VBN blocks: active change detection (``task_minutes``), spontaneous,
    ``gabor_repeats`` passes over the 243 gabor positions x orientations (61 s each), spontaneous,
    ``n_flashes`` full-field flashes (one every 2 s), and the passive replay of the image block;
    then ``opto_trials`` optotagging pulses. ``lfp_probes`` probes get an LFP file of ``lfp_channels``
    channels at ``lfp_rate``; units keep a mean waveform on ``waveform_channels`` channels.
    """

    task_minutes: float = 1.5
    spontaneous_seconds: tuple[float, float] = (2.3, 7.3)
    gabor_repeats: int = 1
    n_flashes: int = 10
    opto_trials: int = 30
    n_probes: int = 2
    channels_per_probe: int = 32
    units_per_probe: int = 10
    waveform_channels: int = 12
    waveform_samples: int = 82
    lfp_probes: int = 1
    lfp_rate: float = 250.0
    lfp_channels: int = 8
    template_shape: tuple[int, int] = (24, 38)
    eye_rate: float = 60.0

    @classmethod
    def preset(cls, name: str) -> EcephysSize:
        """``"tiny"`` for unit tests, ``"small"`` for demos, ``"realistic"`` for benchmarks.

        ``"realistic"`` is a released session's size (~2.1 h recording: two 45 min image blocks,
        15 min of gabors, 5 min of flashes and of spontaneous activity, 10 min of optotagging;
        6 probes x 384 channels, ~2,000 units, ~1e8 spikes, waveforms on all 384 channels) except
        for the LFP: the release stores 2500 Hz on every probe (~7 GB per probe); we write
        96 channels (every 4th) at 250 Hz, ~0.75 GB per probe.
        """
        presets = {
            "tiny": cls(),
            "small": cls(
                task_minutes=5,
                spontaneous_seconds=(10.0, 30.0),
                n_flashes=30,
                opto_trials=60,
                n_probes=3,
                channels_per_probe=96,
                units_per_probe=40,
                waveform_channels=24,
                lfp_probes=2,
                lfp_channels=24,
                template_shape=(60, 96),
            ),
            "realistic": cls(
                task_minutes=45,
                spontaneous_seconds=(10.0, 300.0),
                gabor_repeats=15,
                n_flashes=150,
                opto_trials=300,
                n_probes=6,
                channels_per_probe=384,
                units_per_probe=330,
                waveform_channels=384,
                lfp_probes=6,
                lfp_channels=96,
                template_shape=(1200, 1920),
            ),
        }
        if name not in presets:
            raise ValueError(f"Expected a size preset in {sorted(presets)}. Got {name!r} instead.")
        return presets[name]
