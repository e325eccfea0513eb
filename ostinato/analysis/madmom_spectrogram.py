"""madmom's log-filtered spectrogram, computed on the 22 050 Hz analysis signal for madmom's networks.

madmom's networks were trained on spectrograms of 44.1 kHz audio. A frame half as long at half the rate has
the same bin frequencies, so madmom's filterbank applies unchanged to the bins below 11 025 Hz; the bands
above read zero, as they would for the low-passed signal (measured: the same beat F-measure on the real dev
clips as full-band input). Shared by ``beat_rnn`` and ``deep_chroma``.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

#: Sample rate the spectrograms are computed at, Hz (madmom's 44.1 kHz geometry at half the rate).
FEATURE_SR = 22050
#: Frames transformed at a time (20 s at 100 frames per second).
BLOCK_FRAMES = 2000


def filterbank(frame_44k: int, **options) -> np.ndarray:
    """madmom's ``LogarithmicFilterbank(**options)`` for ``frame_44k``-sample frames at 44.1 kHz, restricted to the
    bins a ``frame_44k // 2`` frame has at FEATURE_SR: (frame_44k // 4, n_bands) float32. Needs madmom imported."""
    from madmom.audio.filters import LogarithmicFilterbank
    from madmom.audio.stft import fft_frequencies

    bank = LogarithmicFilterbank(fft_frequencies(frame_44k // 2, 44100), **options)
    return np.asarray(bank, dtype=np.float32)[: frame_44k // 4]


def log_spectrogram(
    y: np.ndarray, frame_44k: int, hop: float, bank: np.ndarray, *, block: int = BLOCK_FRAMES
) -> np.ndarray:
    """``log10(1 + filtered |STFT|)`` of mono ``y`` at FEATURE_SR as madmom computes it for ``frame_44k``-sample
    frames at 44.1 kHz, every ``hop`` samples (may be fractional: 220.5 at 100 frames per second).

    Frame ``i`` is centred on sample ``int(i * hop)``, zero-padded at the edges (madmom's framing); there are
    ``ceil(len(y) / hop)`` frames. Returns (n_frames, n_bands) float32. Frames are transformed ``block`` at a
    time, so memory follows the output, not the frames (a 20-minute track's 2048-sample frames at 100 per
    second would take 1 GB at once).
    """
    size = frame_44k // 2
    n = int(np.ceil(len(y) / hop))
    padded = np.concatenate([np.zeros(size // 2, np.float32), np.asarray(y, np.float32), np.zeros(size, np.float32)])
    windows = np.lib.stride_tricks.sliding_window_view(padded, size)
    starts = (np.arange(n) * hop).astype(np.int64)
    window = np.hanning(size).astype(np.float32)
    out = np.empty((n, bank.shape[1]), dtype=np.float32)
    for i in range(0, n, block):
        frames = windows[starts[i : i + block]] * window
        # Twice the magnitude: a half-length window at half the rate sums to half (sinusoids read as at 44.1 kHz).
        mag = 2.0 * np.abs(scipy.fft.rfft(frames, axis=1)[:, : size // 2])
        out[i : i + block] = np.log10(1.0 + mag.astype(np.float32) @ bank)
    return out
