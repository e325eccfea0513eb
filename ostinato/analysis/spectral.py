"""Frame-level spectral features from one blocked STFT pass.

Everything the other analysis modules need per frame (onset strength, chroma, MFCC, RMS, centroid,
rolloff, flatness) comes out of a single short-time Fourier transform, computed in blocks of
``block_seconds`` so that a long track never holds more than one block of spectrum in memory.

Frame ``t`` is centred on sample ``t * hop_length`` (the signal is zero-padded by ``n_fft // 2`` on
both sides, as in ``librosa.stft(center=True)``), and there are ``ceil(n / hop_length)`` frames: one for
every centre that lies inside the signal. Signals whose length is a multiple of ``hop_length`` therefore
tile exactly, which is what :func:`concat_frame_features` relies on.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.fft

from ostinato.analysis.librosa_import import librosa
from ostinato.errors import AnalysisError

#: Frames whose RMS is below this (about -80 dBFS) count as silent: their chroma is all zeros.
SILENCE_RMS = 1e-4

#: Mel bands shared by the onset envelope and the MFCC (librosa's default).
N_MELS = 128

#: Log-mel values are floored this many dB below the mel power of a full-scale sine, so that
#: the floor is fixed per (sr, n_fft) rather than relative to the loudest bin of the whole track
#: (librosa's ``top_db``), which would make each block depend on every other block.
FLOOR_BELOW_FULL_SCALE_DB = 80.0


@dataclass(frozen=True)
class FrameFeatures:
    """Per-frame features of one mono signal; frame ``t`` is centred at ``t * hop_length / sr`` seconds.

    Attributes
    ----------
    sr : int > 0
        Sample rate of the analysed signal, Hz.
    hop_length : int > 0
        Samples between successive frames.
    onset_envelope : np.ndarray [shape=(n_frames,), float32]
        Spectral-flux onset strength: mean over mel bands of the positive log-mel (dB) difference
        to the previous frame, delayed like ``librosa.onset.onset_strength``.
    chroma : np.ndarray [shape=(12, n_frames), float32]
        Pitch-class energy, row 0 = C; each frame divided by its maximum, all zeros where silent.
    mfcc : np.ndarray [shape=(n_mfcc, n_frames), float32]
        Mel-frequency cepstral coefficients (DCT-II, orthonormal, of the 128-band log-mel power, dB).
    rms : np.ndarray [shape=(n_frames,), float32]
        Root mean square of the (unwindowed) frame samples, linear full-scale units.
    centroid_hz : np.ndarray [shape=(n_frames,), float32]
        Magnitude-weighted mean frequency, Hz (0 where silent).
    rolloff_hz : np.ndarray [shape=(n_frames,), float32]
        Frequency below which 85 % of the magnitude lies, Hz (0 where silent).
    flatness : np.ndarray [shape=(n_frames,), float32]
        Spectral flatness (geometric / arithmetic mean of the power spectrum), in [0, 1].
    """

    sr: int
    hop_length: int
    onset_envelope: np.ndarray
    chroma: np.ndarray
    mfcc: np.ndarray
    rms: np.ndarray
    centroid_hz: np.ndarray
    rolloff_hz: np.ndarray
    flatness: np.ndarray

    @property
    def n_frames(self) -> int:
        """Number of frames."""
        return int(self.rms.shape[0])

    @property
    def times(self) -> np.ndarray:
        """Frame centre times in seconds, shape ``(n_frames,)``."""
        return np.arange(self.n_frames) * (self.hop_length / self.sr)

    @property
    def duration_s(self) -> float:
        """Time spanned by the frames, ``n_frames * hop_length / sr`` seconds."""
        return self.n_frames * self.hop_length / self.sr


@dataclass(frozen=True)
class _Filterbanks:
    window: np.ndarray  # (n_fft,) float32, periodic Hann
    freqs: np.ndarray  # (n_bins,) float32, Hz
    mel_t: np.ndarray  # (n_bins, N_MELS) float32
    chroma_t: np.ndarray  # (n_bins, 12) float32
    dct: np.ndarray  # (N_MELS, N_MELS) float32, orthonormal DCT-II matrix (rows = input bands)
    floor_db: float


@functools.lru_cache(maxsize=16)
def _filterbanks(sr: int, n_fft: int, tuning: float) -> _Filterbanks:
    window = librosa.filters.get_window("hann", n_fft, fftbins=True).astype(np.float32)
    mel = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=N_MELS).astype(np.float32)
    chroma = librosa.filters.chroma(sr=sr, n_fft=n_fft, tuning=tuning, n_chroma=12).astype(np.float32)
    dct = scipy.fft.dct(np.eye(N_MELS), type=2, norm="ortho", axis=1).astype(np.float32)
    # Mel power of a full-scale sine at 1 kHz (or a quarter of sr, whichever is lower) sets the dB floor.
    f_ref = min(1000.0, sr / 4)
    sine = np.sin(2 * np.pi * f_ref * np.arange(n_fft) / sr).astype(np.float32)
    ref_power = np.abs(np.fft.rfft(sine * window)) ** 2
    ref_db = 10.0 * np.log10(float(np.max(mel @ ref_power)))
    return _Filterbanks(
        window=window,
        freqs=librosa.fft_frequencies(sr=sr, n_fft=n_fft).astype(np.float32),
        mel_t=np.ascontiguousarray(mel.T),
        chroma_t=np.ascontiguousarray(chroma.T),
        dct=dct,
        floor_db=ref_db - FLOOR_BELOW_FULL_SCALE_DB,
    )


def _block_frames(y: np.ndarray, f0: int, f1: int, *, hop_length: int, n_fft: int) -> np.ndarray:
    """Frames ``f0 .. f1 - 1`` of the centre-padded signal, shape ``(f1 - f0, n_fft)`` (a view)."""
    half = n_fft // 2
    start = f0 * hop_length - half
    stop = (f1 - 1) * hop_length + half + (n_fft - 2 * half)
    lo, hi = max(start, 0), min(stop, len(y))
    if lo == start and hi == stop:
        seg = y[start:stop]
    else:
        seg = np.zeros(stop - start, dtype=np.float32)
        seg[lo - start : hi - start] = y[lo:hi]
    return np.lib.stride_tricks.sliding_window_view(seg, n_fft)[::hop_length]


def compute_frame_features(
    y: np.ndarray,
    *,
    sr: int,
    hop_length: int = 512,
    n_fft: int = 2048,
    n_mfcc: int = 20,
    block_seconds: float = 30.0,
    tuning: float = 0.0,
) -> FrameFeatures:
    """Compute every frame-level feature of a mono signal in one blocked STFT pass.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono waveform, float, full scale = 1.
    sr : int > 0
        Sample rate, Hz.
    hop_length : int > 0
        Samples between frames.
    n_fft : int >= hop_length
        FFT size (and Hann window length), samples.
    n_mfcc : int in [1, 128]
        Number of MFCCs kept.
    block_seconds : float > 0
        Audio per STFT block, seconds (``math.inf`` for one block). The result does not depend on it
        (up to float rounding); it only bounds memory.
    tuning : float in [-0.5, 0.5)
        Deviation of the reference pitch from A440, in fractions of a semitone, for the chroma filters.

    Returns
    -------
    FrameFeatures
        ``ceil(n / hop_length)`` frames.

    Raises
    ------
    AnalysisError
        If ``y`` is not a non-empty, finite, one-dimensional array or a parameter is out of range.
    """
    y = _check_signal(y)
    if sr <= 0 or hop_length <= 0 or n_fft < hop_length or not 1 <= n_mfcc <= N_MELS:
        raise AnalysisError(
            f"invalid STFT parameters sr={sr}, hop_length={hop_length}, n_fft={n_fft}, n_mfcc={n_mfcc}; "
            f"need sr > 0, 0 < hop_length <= n_fft and 1 <= n_mfcc <= {N_MELS}."
        )
    if not block_seconds > 0:
        raise AnalysisError(f"block_seconds must be positive, got {block_seconds}.")
    fb = _filterbanks(int(sr), int(n_fft), float(tuning))
    n_frames = -(-len(y) // hop_length)
    block = n_frames if math.isinf(block_seconds) else max(int(block_seconds * sr / hop_length), 1)

    out = {
        "flux": np.empty(n_frames, np.float32),
        "chroma": np.empty((n_frames, 12), np.float32),
        "mfcc": np.empty((n_frames, n_mfcc), np.float32),
        "rms": np.empty(n_frames, np.float32),
        "centroid": np.empty(n_frames, np.float32),
        "rolloff": np.empty(n_frames, np.float32),
        "flatness": np.empty(n_frames, np.float32),
    }
    prev_db: np.ndarray | None = None
    for f0 in range(0, n_frames, block):
        f1 = min(f0 + block, n_frames)
        prev_db = _block_features(y, f0, f1, out, fb=fb, hop_length=hop_length, n_fft=n_fft, prev_db=prev_db)

    # As librosa.onset.onset_strength(center=True): the lag-1 flux is delayed by 1 + n_fft // (2 * hop)
    # frames in total, which lines its peaks up with the onsets the centred windows first catch.
    delay = n_fft // (2 * hop_length)
    onset = np.zeros(n_frames, np.float32)
    if n_frames > delay:
        onset[delay:] = out["flux"][: n_frames - delay]
    return FrameFeatures(
        sr=int(sr),
        hop_length=int(hop_length),
        onset_envelope=onset,
        chroma=np.ascontiguousarray(out["chroma"].T),
        mfcc=np.ascontiguousarray(out["mfcc"].T),
        rms=out["rms"],
        centroid_hz=out["centroid"],
        rolloff_hz=out["rolloff"],
        flatness=out["flatness"],
    )


def _check_signal(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1:
        raise AnalysisError(f"expected a mono signal of shape (n,), got shape {y.shape}.")
    if y.size == 0:
        raise AnalysisError("the signal is empty.")
    y = y.astype(np.float32, copy=False)
    if not all_finite(y):
        raise AnalysisError("the signal contains NaN or infinite samples.")
    return y


def all_finite(x: np.ndarray, *, chunk: int = 1 << 20) -> bool:
    """Whether every element of ``x`` is finite, checked in chunks to avoid a full-size temporary."""
    flat = x.reshape(-1)
    return all(np.isfinite(flat[i : i + chunk]).all() for i in range(0, len(flat), chunk))


def _block_features(
    y: np.ndarray,
    f0: int,
    f1: int,
    out: dict[str, np.ndarray],
    *,
    fb: _Filterbanks,
    hop_length: int,
    n_fft: int,
    prev_db: np.ndarray | None,
) -> np.ndarray:
    """Fill ``out[...][f0:f1]`` from one STFT block; returns the block's last log-mel frame."""
    frames = _block_frames(y, f0, f1, hop_length=hop_length, n_fft=n_fft)
    rms = np.sqrt(np.einsum("ij,ij->i", frames, frames, dtype=np.float32) / n_fft)
    spec = scipy.fft.rfft(frames * fb.window, axis=1)  # (frames, bins) complex64
    power = spec.real**2 + spec.imag**2
    del spec
    mag = np.sqrt(power)

    mel_db = 10.0 * np.log10(np.maximum(power @ fb.mel_t, 1e-10))
    np.maximum(mel_db, fb.floor_db, out=mel_db)
    before = np.concatenate([(mel_db[:1] if prev_db is None else prev_db[None]), mel_db[:-1]])
    out["flux"][f0:f1] = np.mean(np.maximum(mel_db - before, 0.0), axis=1)
    out["mfcc"][f0:f1] = (mel_db @ fb.dct[:, : out["mfcc"].shape[1]]).astype(np.float32)

    chroma = power @ fb.chroma_t
    peak = chroma.max(axis=1, keepdims=True)
    silent = (rms < SILENCE_RMS)[:, None] | (peak <= 0)
    out["chroma"][f0:f1] = np.where(silent, 0.0, chroma / np.where(peak > 0, peak, 1.0))

    total = mag.sum(axis=1)
    safe = np.where(total > 0, total, 1.0)
    out["centroid"][f0:f1] = np.where(total > 0, (mag @ fb.freqs) / safe, 0.0)
    cum = np.cumsum(mag, axis=1)
    idx = np.argmax(cum >= 0.85 * cum[:, -1:], axis=1)
    out["rolloff"][f0:f1] = np.where(total > 0, fb.freqs[idx], 0.0)
    floored = np.maximum(power, 1e-10)
    gmean = np.exp(np.mean(np.log(floored), axis=1))
    out["flatness"][f0:f1] = gmean / np.mean(floored, axis=1)
    out["rms"][f0:f1] = rms
    return mel_db[-1]


def concat_frame_features(parts: Sequence[FrameFeatures]) -> FrameFeatures:
    """Join the features of consecutive pieces of one signal into one frame sequence.

    Frames are joined end to end, so the result is on one uniform frame grid only if every part but the
    last was computed from a whole number of ``hop_length`` samples (then frame ``t`` of the result is
    centred at ``t * hop_length / sr`` of the whole signal). Each part was zero-padded at its own edges,
    so features within ``n_fft / 2`` samples of a join (and the onset envelope just after it) are
    approximate.

    Raises
    ------
    AnalysisError
        If ``parts`` is empty or the parts disagree on ``sr``, ``hop_length`` or the number of MFCCs.
    """
    if not parts:
        raise AnalysisError("cannot concatenate an empty sequence of frame features.")
    first = parts[0]
    for p in parts[1:]:
        if (p.sr, p.hop_length, p.mfcc.shape[0]) != (first.sr, first.hop_length, first.mfcc.shape[0]):
            raise AnalysisError(
                "frame features to concatenate must share sr, hop_length and n_mfcc; got "
                f"{(first.sr, first.hop_length, first.mfcc.shape[0])} and {(p.sr, p.hop_length, p.mfcc.shape[0])}."
            )
    return FrameFeatures(
        sr=first.sr,
        hop_length=first.hop_length,
        onset_envelope=np.concatenate([p.onset_envelope for p in parts]),
        chroma=np.concatenate([p.chroma for p in parts], axis=1),
        mfcc=np.concatenate([p.mfcc for p in parts], axis=1),
        rms=np.concatenate([p.rms for p in parts]),
        centroid_hz=np.concatenate([p.centroid_hz for p in parts]),
        rolloff_hz=np.concatenate([p.rolloff_hz for p in parts]),
        flatness=np.concatenate([p.flatness for p in parts]),
    )
