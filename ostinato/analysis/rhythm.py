"""Tempo, beats, downbeats and meter from a frame-level onset envelope.

The tempo comes from the autocorrelation of the onset envelope, weighted by a log-normal prior and then
pushed to the fastest metrical level that is as periodic as the chosen one (so an even click at 174 BPM
reads 174, not 87). Beats come from librosa's dynamic-programming tracker run at that tempo; the bar length
(3 or 4 beats) and phase are the ones whose bar starts carry the most accent (onset strength, loudness and
harmonic change).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ostinato.analysis.librosa_import import librosa
from ostinato.errors import AnalysisError

#: Tempo search range, BPM.
MIN_BPM, MAX_BPM = 40.0, 220.0

#: The twice-faster level replaces the chosen one when the autocorrelation at its odd multiples is at least
#: this share of that at its even multiples (those of the chosen level).
OCTAVE_UP_RATIO = 0.95

#: Leading/trailing beats whose onset strength is below this share of the median beat's are dropped.
TRIM_RATIO = 0.1


@dataclass(frozen=True)
class BeatTrack:
    """Beats and bars of one track.

    Attributes
    ----------
    tempo_bpm : float >= 0
        Global tempo, beats per minute (0 when no pulse was found).
    tempo_confidence : float in [0, 1]
        Normalised autocorrelation of the onset envelope at the beat period (1 = perfectly periodic).
    beat_times : np.ndarray [shape=(n_beats,)]
        Beat times, seconds, increasing.
    downbeat_times : np.ndarray [shape=(n_bars,)]
        Times of the first beat of each bar, seconds (a subset of ``beat_times``).
    beats_per_bar : int
        3 or 4 (4 when undecided).
    meter : str
        ``"4/4"`` or ``"3/4"``.
    meter_confidence : float in [0, 1]
        How much more accent the chosen bar grid has than the best grid of the other bar length.
    """

    tempo_bpm: float
    tempo_confidence: float
    beat_times: np.ndarray
    downbeat_times: np.ndarray
    beats_per_bar: int
    meter: str
    meter_confidence: float


def track_beats(
    *,
    onset_envelope: np.ndarray,
    sr: int,
    hop_length: int,
    rms: np.ndarray | None = None,
    chroma: np.ndarray | None = None,
    start_bpm: float = 120.0,
    tightness: float = 100.0,
) -> BeatTrack:
    """Estimate tempo, beats, downbeats and meter.

    Parameters
    ----------
    onset_envelope : np.ndarray [shape=(n_frames,)]
        Onset strength per frame (``FrameFeatures.onset_envelope``); frame ``t`` is at ``t * hop_length / sr``.
    sr : int > 0
        Sample rate of the analysed audio, Hz.
    hop_length : int > 0
        Samples between frames.
    rms : np.ndarray [shape=(n_frames,)] or None
        Frame RMS, used as a loudness accent for downbeats.
    chroma : np.ndarray [shape=(12, n_frames)] or None
        Frame chroma, used as a harmonic-change accent for downbeats.
    start_bpm : float > 0
        Centre of the log-normal tempo prior, BPM.
    tightness : float > 0
        How strictly beats follow the tempo (librosa's ``tightness``).

    Returns
    -------
    BeatTrack
        Tempo 0 and no beats when the envelope has no pulse (e.g. silence) or spans less than two
        periods of the slowest tempo considered (``2 * 60 / MIN_BPM`` = 3 s).
    """
    env = _check_envelope(onset_envelope)
    if sr <= 0 or hop_length <= 0 or start_bpm <= 0:
        raise AnalysisError(f"sr, hop_length and start_bpm must be positive, got {sr}, {hop_length}, {start_bpm}.")
    fps = sr / hop_length
    tempo, confidence = _estimate_tempo(env, fps=fps, start_bpm=start_bpm)
    empty = np.zeros(0)
    if tempo <= 0:
        return BeatTrack(0.0, 0.0, empty, empty, 4, "4/4", 0.0)
    _, frames = librosa.beat.beat_track(
        onset_envelope=env, sr=sr, hop_length=hop_length, bpm=tempo, tightness=tightness, trim=False
    )
    frames = _trim_weak_ends(np.asarray(frames, dtype=int), env)
    beat_times = frames / fps
    accent = _beat_accent(frames, env, rms=rms, chroma=chroma)
    bpb, phase, meter_conf = _choose_bar(accent)
    return BeatTrack(
        tempo_bpm=float(tempo),
        tempo_confidence=float(confidence),
        beat_times=beat_times,
        downbeat_times=beat_times[phase::bpb],
        beats_per_bar=bpb,
        meter=f"{bpb}/4",
        meter_confidence=float(meter_conf),
    )


def onset_rate(*, onset_envelope: np.ndarray, sr: int, hop_length: int) -> float:
    """Onsets per second, by peak picking the onset envelope as ``librosa.onset.onset_detect`` does.

    Parameters
    ----------
    onset_envelope : np.ndarray [shape=(n_frames,)]
        Onset strength per frame.
    sr, hop_length : int > 0
        Sample rate (Hz) and hop (samples) of the frames.

    Returns
    -------
    float >= 0
        Number of detected onsets divided by the envelope's duration in seconds (0 for silence).
    """
    env = _check_envelope(onset_envelope)
    peak = float(env.max())
    if peak <= 0:
        return 0.0
    fps = sr / hop_length
    norm = (env - env.min()) / (peak - env.min())
    onsets = librosa.util.peak_pick(
        norm,
        pre_max=max(int(0.03 * fps), 1),
        post_max=int(0.0 * fps) + 1,
        pre_avg=max(int(0.10 * fps), 1),
        post_avg=int(0.10 * fps) + 1,
        wait=max(int(0.03 * fps), 1),
        delta=0.07,
    )
    return float(len(onsets) / (len(env) / fps))


def _check_envelope(onset_envelope: np.ndarray) -> np.ndarray:
    env = np.asarray(onset_envelope, dtype=np.float64)
    if env.ndim != 1:
        raise AnalysisError(f"expected an onset envelope of shape (n_frames,), got shape {env.shape}.")
    if not np.isfinite(env).all():
        raise AnalysisError("the onset envelope contains NaN or infinite values.")
    return env


def _autocorrelation(env: np.ndarray, max_lag: int) -> np.ndarray:
    """Unbiased autocorrelation of the smoothed, mean-removed envelope, divided by its zero-lag value.

    Summing three frames first makes each onset's weight independent of where it falls between frames
    (the log-mel rise of a sharp onset is split over two frames in a way that depends on that phase).
    """
    x = np.convolve(env, np.ones(3), mode="same")
    x -= x.mean()
    n = len(x)
    spec = np.fft.rfft(x, n=2 * n)
    acf = np.fft.irfft(spec.real**2 + spec.imag**2)[: min(max_lag, n - 1) + 1]
    acf /= n - np.arange(len(acf))
    return acf / acf[0] if acf[0] > 0 else np.zeros_like(acf)


def _peak_near(acf: np.ndarray, lag: float, radius: float) -> tuple[float, float]:
    """Position (sub-frame, parabolic) and height of the highest autocorrelation value within ``radius``."""
    lo, hi = max(int(np.floor(lag - radius)), 1), min(int(np.ceil(lag + radius)), len(acf) - 2)
    if hi < lo:
        return lag, 0.0
    i = lo + int(np.argmax(acf[lo : hi + 1]))
    a, b, c = acf[i - 1], acf[i], acf[i + 1]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return i + float(np.clip(shift, -0.5, 0.5)), float(b)


def _estimate_tempo(env: np.ndarray, *, fps: float, start_bpm: float) -> tuple[float, float]:
    """Global tempo (BPM) and its confidence in [0, 1]; (0, 0) when there is no pulse."""
    min_lag, max_lag = int(np.floor(60 * fps / MAX_BPM)), int(np.ceil(60 * fps / MIN_BPM))
    if len(env) < 2 * max_lag or np.ptp(env) <= 0:
        return 0.0, 0.0
    acf = _autocorrelation(env, 8 * max_lag)
    lags = np.arange(max(min_lag, 1), max_lag + 1)
    bpm = 60 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpm / start_bpm)) ** 2)
    best = lags[int(np.argmax(np.maximum(acf[lags], 0) * prior))]
    lag, height = _peak_near(acf, best, 1)
    if height <= 0:
        return 0.0, 0.0
    # Go to the faster level when it is a pulse of its own: an even click at 174 BPM is also periodic
    # at 87, but (unlike straight eighths over a backbeat) its odd multiples are as strong as its even ones.
    while 60 * fps / (lag / 2) <= MAX_BPM:
        fast, odd1 = _peak_near(acf, lag / 2, 1)
        odd = 0.5 * (odd1 + _peak_near(acf, 1.5 * lag, 1.5)[1])
        even = 0.5 * (height + _peak_near(acf, 2 * lag, 2)[1])
        if odd < OCTAVE_UP_RATIO * even:
            break
        lag, height = fast, odd1
    lag = _refine_lag(acf, lag)
    return 60 * fps / lag, float(np.clip(height, 0.0, 1.0))


def _refine_lag(acf: np.ndarray, lag: float) -> float:
    """Sub-frame beat period from the autocorrelation peaks at its multiples (least squares through 0)."""
    ks, peaks = [], []
    for k in range(1, 9):
        if k * lag + 2 >= len(acf):
            break
        pos, h = _peak_near(acf, k * (lag if not peaks else _fit(ks, peaks)), 1.5)
        if h <= 0:
            continue
        ks.append(k)
        peaks.append(pos)
    return _fit(ks, peaks) if ks else lag


def _fit(ks: list[int], peaks: list[float]) -> float:
    k = np.asarray(ks, dtype=float)
    return float(np.dot(k, peaks) / np.dot(k, k))


def _beat_strength(frames: np.ndarray, env: np.ndarray) -> np.ndarray:
    """Largest onset strength within two frames of each beat."""
    near = np.clip(frames[:, None] + np.arange(-2, 3)[None, :], 0, len(env) - 1)
    return env[near].max(axis=1)


def _trim_weak_ends(frames: np.ndarray, env: np.ndarray) -> np.ndarray:
    """Drop leading and trailing beats with almost no onset under them (silence before and after music).

    librosa's own ``trim`` also drops genuine first beats that are merely weaker than average.
    """
    if len(frames) == 0:
        return frames
    strength = _beat_strength(frames, env)
    strong = np.flatnonzero(strength > TRIM_RATIO * np.median(strength))
    return frames[strong[0] : strong[-1] + 1] if len(strong) else frames[:0]


def _zscore(x: np.ndarray) -> np.ndarray:
    std = x.std()
    return (x - x.mean()) / std if std > 1e-9 else np.zeros_like(x)


def _beat_accent(
    frames: np.ndarray, env: np.ndarray, *, rms: np.ndarray | None, chroma: np.ndarray | None
) -> np.ndarray:
    """Accent of each beat: z-scored onset strength, loudness rise and harmonic change at the beat."""
    n = len(env)
    if len(frames) == 0:
        return np.zeros(0)
    near = np.clip(frames[:, None] + np.arange(-1, 3)[None, :], 0, n - 1)
    # Log-mel flux hardly sees level accents (a hit 6 dB louder rises from the same floor), so the
    # onset term gets half the weight of the loudness and harmonic-change terms.
    accent = 0.5 * _zscore(env[near].max(axis=1))
    if rms is not None and len(rms) == n:
        level = np.log(np.asarray(rms, dtype=np.float64) + 1e-5)
        accent = accent + _zscore(level[near].max(axis=1))
    if chroma is not None and chroma.shape[-1] == n and len(frames) > 2:
        bounds = np.concatenate([frames, [n]])
        sums = np.add.reduceat(np.asarray(chroma, dtype=np.float64), bounds[:-1], axis=1)  # (12, n_beats)
        unit = sums / np.maximum(np.linalg.norm(sums, axis=0, keepdims=True), 1e-9)
        change = np.zeros(len(frames))
        change[1:] = 1.0 - np.sum(unit[:, 1:] * unit[:, :-1], axis=0)
        accent = accent + _zscore(change)
    return accent


def _choose_bar(accent: np.ndarray) -> tuple[int, int, float]:
    """Beats per bar, phase of the first downbeat and meter confidence from per-beat accents.

    Each (bar length, phase) grid is scored by the t statistic of the accent difference between its bar
    starts and the other beats; the confidence grows with the winner's margin over the best grid of the
    other bar length and with its own significance.
    """
    n = len(accent)
    std = accent.std() if n else 0.0
    if n < 6 or std <= 1e-9:
        return 4, 0, 0.0
    best: dict[int, tuple[float, int]] = {}
    for bpb in (3, 4):
        scores = []
        for phase in range(bpb):
            on = np.zeros(n, dtype=bool)
            on[phase::bpb] = True
            contrast = accent[on].mean() - accent[~on].mean()
            scores.append(contrast * np.sqrt(on.sum() * (~on).sum() / n) / std)
        p = int(np.argmax(scores))
        best[bpb] = (float(scores[p]), p)
    bpb = 3 if best[3][0] > best[4][0] else 4
    t_best, t_other = best[bpb][0], best[7 - bpb][0]
    margin = np.clip((t_best - max(t_other, 0.0)) / 4.0, 0.0, 1.0)
    significance = np.clip((t_best - 1.0) / 3.0, 0.0, 1.0)
    return bpb, best[bpb][1], float(margin * significance)
