"""Programme loudness (ITU-R BS.1770-4 / EBU R 128), loudness range (EBU Tech 3342) and sample peak.

The K-weighting filters are designed for the signal's own sample rate (the analogue prototypes of
BS.1770 mapped by the bilinear transform, as in libebur128), and the signal is filtered in blocks with the
filter state carried over, so a long track needs memory for one block only.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import scipy.signal

from ostinato.analysis.spectral import all_finite
from ostinato.errors import AnalysisError

#: Reported loudness of silence or of signals shorter than one 400 ms gating block, LUFS (the absolute gate).
LOUDNESS_FLOOR_LUFS = -70.0

#: Reported peak of an all-zero signal, dBFS.
PEAK_FLOOR_DBFS = -120.0

_STEP_S = 0.1  # gating-block hop: 75 % overlap of 400 ms blocks, and the short-term (3 s) hop
_BLOCKS_PER_GATE = 4  # 400 ms
_BLOCKS_PER_SHORT_TERM = 30  # 3 s
_ABSOLUTE_GATE = -70.0
_RELATIVE_GATE_LU = -10.0
_LRA_RELATIVE_GATE_LU = -20.0
_FILTER_BLOCK_S = 30.0


@dataclass(frozen=True)
class Loudness:
    """Integrated loudness (LUFS), loudness range (LU) and sample peak (dBFS) of a signal."""

    integrated_lufs: float
    loudness_range_lu: float
    peak_dbfs: float


@functools.lru_cache(maxsize=8)
def _k_weighting(sr: int) -> np.ndarray:
    """Second-order sections (shelf, then high-pass) of the BS.1770 K-weighting filter at ``sr`` Hz."""
    # High-frequency shelf (head effects), prototype from libebur128.
    f0, gain_db, q = 1681.974450955533, 3.999843853973347, 0.7071752369554196
    k = np.tan(np.pi * f0 / sr)
    vh = 10.0 ** (gain_db / 20.0)
    vb = vh**0.4996667741545416
    a0 = 1.0 + k / q + k * k
    shelf = [
        (vh + vb * k / q + k * k) / a0,
        2.0 * (k * k - vh) / a0,
        (vh - vb * k / q + k * k) / a0,
        1.0,
        2.0 * (k * k - 1.0) / a0,
        (1.0 - k / q + k * k) / a0,
    ]
    # RLB high-pass.
    f0, q = 38.13547087602444, 0.5003270373238773
    k = np.tan(np.pi * f0 / sr)
    a0 = 1.0 + k / q + k * k
    highpass = [1.0, -2.0, 1.0, 1.0, 2.0 * (k * k - 1.0) / a0, (1.0 - k / q + k * k) / a0]
    return np.array([shelf, highpass])


class LoudnessMeter:
    """Streaming BS.1770 meter: feed consecutive blocks of a signal, then read its Loudness.

    Only the K-weighting filter state, fewer than 100 ms of filtered samples and one energy per 100 ms
    step are kept, so a decoder can meter a stereo stream while keeping only a mono copy of it.
    """

    def __init__(self, *, sr: int, channels: int) -> None:
        if sr <= 0 or channels <= 0:
            raise AnalysisError(f"sr and channels must be positive, got sr={sr}, channels={channels}.")
        self.sr, self.channels = int(sr), int(channels)
        self._sos = _k_weighting(self.sr)
        self._zi = np.zeros((self._sos.shape[0], self.channels, 2))
        self._step = max(int(round(_STEP_S * self.sr)), 1)
        self._pending = np.zeros(0)  # channel-summed squares of filtered samples not yet in a full step
        self._steps: list[np.ndarray] = []
        self._peak = 0.0
        self.samples = 0

    def add(self, y: np.ndarray) -> None:
        """Meter the next ``(channels, m)`` block (``(m,)`` for mono)."""
        y = np.asarray(y)
        y = y[None, :] if y.ndim == 1 else y
        if y.shape[0] != self.channels:
            raise AnalysisError(f"expected {self.channels} channels, got a block of shape {y.shape}.")
        if y.shape[1] == 0:
            return
        if not all_finite(y):
            raise AnalysisError("the signal contains NaN or infinite samples.")
        self._peak = max(self._peak, float(np.abs(y).max()))
        self.samples += y.shape[1]
        filtered, self._zi = scipy.signal.sosfilt(self._sos, y.astype(np.float64), axis=1, zi=self._zi)
        squares = np.concatenate([self._pending, np.square(filtered).sum(axis=0)])
        whole = len(squares) // self._step * self._step
        if whole:
            self._steps.append(squares[:whole].reshape(-1, self._step).sum(axis=1) / self._step)
        self._pending = squares[whole:]

    def result(self, *, dual_mono: bool = False) -> Loudness:
        """Loudness of everything added so far (see ``measure_loudness`` for the definitions)."""
        peak_dbfs = max(20.0 * np.log10(self._peak), PEAK_FLOOR_DBFS) if self._peak > 0 else PEAK_FLOOR_DBFS
        steps = np.concatenate(self._steps) if self._steps else np.zeros(0)
        if dual_mono and self.channels == 1:
            steps = 2.0 * steps
        integrated, _ = _gated_mean(_window_energies(steps, _BLOCKS_PER_GATE), _RELATIVE_GATE_LU)
        short_term = _window_energies(steps, _BLOCKS_PER_SHORT_TERM)
        _, kept = _gated_mean(short_term, _LRA_RELATIVE_GATE_LU)
        lra = 0.0
        if kept.sum() >= 2:
            low, high = np.percentile(_to_lufs(short_term[kept]), [10.0, 95.0])
            lra = float(high - low)
        return Loudness(integrated_lufs=float(integrated), loudness_range_lu=lra, peak_dbfs=float(peak_dbfs))


def _to_lufs(energy: np.ndarray | float) -> np.ndarray | float:
    with np.errstate(divide="ignore"):
        return -0.691 + 10.0 * np.log10(energy)


def _window_energies(steps: np.ndarray, width: int) -> np.ndarray:
    """Mean energy of every window of ``width`` consecutive steps (hop one step)."""
    if len(steps) < width:
        return np.zeros(0)
    cums = np.concatenate([[0.0], np.cumsum(steps)])
    return (cums[width:] - cums[:-width]) / width


def _gated_mean(energy: np.ndarray, relative_lu: float) -> tuple[float, np.ndarray]:
    """Loudness after the absolute and relative gates, and the mask of blocks that pass both."""
    loud = _to_lufs(energy)
    above = loud > _ABSOLUTE_GATE
    if not above.any():
        return LOUDNESS_FLOOR_LUFS, above
    threshold = _to_lufs(energy[above].mean()) + relative_lu
    kept = above & (loud > threshold)
    return float(_to_lufs(energy[kept].mean())), kept


def measure_loudness(y: np.ndarray, *, sr: int, dual_mono: bool = False) -> Loudness:
    """Integrated loudness, loudness range and sample peak of a mono or multichannel signal.

    Parameters
    ----------
    y : np.ndarray [shape=(n,) or (channels, n)]
        Waveform, full scale = 1. Every channel has weight 1 (BS.1770 weights for L, R and C; surround
        channels would need 1.41 and LFE 0, which this function does not apply).
    sr : int > 0
        Sample rate, Hz (any rate; the filters are designed for it).
    dual_mono : bool
        Count a mono signal twice, as if played on both channels of a stereo pair (+3.01 LU), which
        matches the loudness of the stereo original a mono downmix came from when both channels agree.

    Returns
    -------
    Loudness
        ``integrated_lufs``: gated loudness per BS.1770-4 (400 ms blocks, 75 % overlap, -70 LUFS
        absolute and -10 LU relative gates), or ``LOUDNESS_FLOOR_LUFS`` (-70) for silence or signals
        shorter than 400 ms. ``loudness_range_lu``: EBU Tech 3342 LRA (3 s short-term loudness every
        100 ms, -70 LUFS absolute and -20 LU relative gates, 95th minus 10th percentile), 0 when fewer
        than two short-term blocks pass the gates. ``peak_dbfs``: sample (not true) peak, floored at
        ``PEAK_FLOOR_DBFS`` (-120).
    """
    y = np.asarray(y)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2 or y.shape[1] == 0 or y.shape[0] == 0:
        raise AnalysisError(f"expected a signal of shape (n,) or (channels, n) with n > 0, got shape {y.shape}.")
    if not all_finite(y):
        raise AnalysisError("the signal contains NaN or infinite samples.")
    if sr <= 0:
        raise AnalysisError(f"sr must be positive, got {sr}.")

    meter = LoudnessMeter(sr=int(sr), channels=y.shape[0])
    block = max(int(_FILTER_BLOCK_S * sr), 1)
    for begin in range(0, y.shape[1], block):
        meter.add(y[:, begin : begin + block])
    return meter.result(dual_mono=dual_mono)
