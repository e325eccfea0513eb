"""Track-level timbre: statistics of the frame-level spectral shape, MFCC and loudness."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ostinato.analysis.spectral import SILENCE_RMS, FrameFeatures


@dataclass(frozen=True)
class TimbreSummary:
    """Means and standard deviations over a track's non-silent frames.

    Attributes
    ----------
    centroid_mean_hz, centroid_std_hz : float
        Spectral centroid statistics, Hz.
    rolloff_mean_hz : float
        Mean 85 % spectral rolloff, Hz.
    flatness_mean : float
        Mean spectral flatness, in [0, 1].
    mfcc_mean, mfcc_std : tuple[float, ...]
        Per-coefficient MFCC statistics, length ``n_mfcc``.
    rms_mean, rms_std : float
        Frame RMS statistics over *all* frames (silence included), linear full-scale units.
    """

    centroid_mean_hz: float
    centroid_std_hz: float
    rolloff_mean_hz: float
    flatness_mean: float
    mfcc_mean: tuple[float, ...]
    mfcc_std: tuple[float, ...]
    rms_mean: float
    rms_std: float


def summarize_timbre(*, features: FrameFeatures) -> TimbreSummary:
    """Summarise frame features into one timbre description.

    Spectral shape and MFCC statistics use only frames with RMS at or above ``SILENCE_RMS`` (about
    -80 dBFS), since silent frames have no meaningful spectrum; when every frame is silent they are 0.
    RMS statistics use every frame.

    Parameters
    ----------
    features : FrameFeatures
        Frame features of the whole track.

    Returns
    -------
    TimbreSummary
    """
    voiced = features.rms >= SILENCE_RMS
    n_mfcc = features.mfcc.shape[0]
    if not voiced.any():
        zeros = (0.0,) * n_mfcc
        return TimbreSummary(0.0, 0.0, 0.0, 0.0, zeros, zeros, _mean(features.rms), _std(features.rms))
    mfcc = features.mfcc[:, voiced]
    return TimbreSummary(
        centroid_mean_hz=_mean(features.centroid_hz[voiced]),
        centroid_std_hz=_std(features.centroid_hz[voiced]),
        rolloff_mean_hz=_mean(features.rolloff_hz[voiced]),
        flatness_mean=_mean(features.flatness[voiced]),
        mfcc_mean=tuple(float(v) for v in mfcc.mean(axis=1, dtype=np.float64)),
        mfcc_std=tuple(float(v) for v in mfcc.std(axis=1, dtype=np.float64)),
        rms_mean=_mean(features.rms),
        rms_std=_std(features.rms),
    )


def _mean(x: np.ndarray) -> float:
    return float(np.mean(x, dtype=np.float64)) if len(x) else 0.0


def _std(x: np.ndarray) -> float:
    return float(np.std(x, dtype=np.float64)) if len(x) else 0.0
