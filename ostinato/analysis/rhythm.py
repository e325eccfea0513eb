"""Tempo, beats, downbeats and meter from a frame-level onset envelope.

The tempo comes from the autocorrelation of the onset envelope, weighted by a log-normal prior and then
pushed to the fastest metrical level that is as periodic as the chosen one (so an even click at 174 BPM
reads 174, not 87). Beats come from librosa's dynamic-programming tracker run at that tempo, each moved to
the leading edge of its onset (soft attacks peak late), with beats over leading/trailing silence dropped.
The bar length (2, 3 or 4 beats) and phase are the ones whose bar starts carry the most accent (onset
strength, loudness and harmonic change); beats that divide in three, or fast beats grouped in threes that
alternate strong-weak, make a compound meter (6/8, 9/8, 12/8) counted in dotted quarters.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ostinato.analysis.librosa_import import librosa
from ostinato.errors import AnalysisError

#: Tempo search range, BPM.
MIN_BPM, MAX_BPM = 40.0, 220.0

#: The twice-faster level replaces the chosen one when the autocorrelation at its odd multiples is at least
#: this share of that at its even multiples (those of the chosen level).
OCTAVE_UP_RATIO = 0.95

#: Beats are moved to the leading edge of the strongest onset within EDGE_BACK frames before and EDGE_AHEAD
#: frames after the tracker's frame (4 frames = 93 ms at 22050 Hz / 512): the point where the onset envelope
#: first reaches EDGE_LEVEL of its local rise.
EDGE_BACK, EDGE_AHEAD, EDGE_LEVEL = 4, 3, 0.25

#: Beats divide in three when the onset strength at both thirds of the beat exceeds this multiple of that at
#: its half.
TRIPLE_RATIO = 1.5
#: A 4-beat bar whose beat 3 is not accented less than beat 1 by this Welch t statistic is read as two 2/4 bars
#: (synthetic 2/4 grooves measure below 0.1, the 4/4 demo-corpus tracks 1.4 and more).
HALF_BAR_T = 1.0
#: Tracked beats faster than this that group in threes may be the eighths of 6/8 or 12/8 ...
COMPOUND_MIN_BPM = 140.0
#: ... which they are when the groups alternate strong-weak with at least this t statistic.
COMPOUND_MIN_T = 1.5

#: Leading/trailing beats whose onset strength is below this share of the median beat's are dropped.
TRIM_RATIO = 0.1
#: ... and so are those whose frame RMS is below this share of the median beat's (-30 dB).
TRIM_LEVEL_RATIO = 10 ** (-30 / 20)


@dataclass(frozen=True)
class BeatTrack:
    """Beats and bars of one track.

    Attributes
    ----------
    tempo_bpm : float >= 0
        Global tempo, counted beats per minute (dotted quarters in compound meters; 0 when no pulse was found).
    tempo_confidence : float in [0, 1]
        Normalised autocorrelation of the onset envelope at the beat period (1 = perfectly periodic).
    beat_times : np.ndarray [shape=(n_beats,)]
        Beat times, seconds, increasing.
    downbeat_times : np.ndarray [shape=(n_bars,)]
        Times of the first beat of each bar, seconds (a subset of ``beat_times``).
    beats_per_bar : int
        Counted beats per bar: 2, 3 or 4 (4 when undecided).
    meter : str
        ``"2/4"``, ``"3/4"``, ``"4/4"``, ``"6/8"``, ``"9/8"`` or ``"12/8"``.
    meter_confidence : float in [0, 1]
        How much more accent the chosen bar grid has than the best grid of the other bar length.
    beat_accents : np.ndarray [shape=(n_beats,)]
        Accent of each beat in ``beat_times`` (z-scored onset strength, loudness rise and harmonic change),
        the measure the downbeats were chosen by.
    """

    tempo_bpm: float
    tempo_confidence: float
    beat_times: np.ndarray
    downbeat_times: np.ndarray
    beats_per_bar: int
    meter: str
    meter_confidence: float
    beat_accents: np.ndarray = field(default_factory=lambda: np.zeros(0))


def track_beats(
    *,
    onset_envelope: np.ndarray,
    sr: int,
    hop_length: int,
    rms: np.ndarray | None = None,
    chroma: np.ndarray | None = None,
    start_bpm: float = 120.0,
    tightness: float = 100.0,
    beat_times: np.ndarray | None = None,
) -> BeatTrack:
    """Estimate tempo, beats, downbeats and meter.

    With ``beat_times`` (seconds, from a beat tracker of its own such as ``analysis.beat_rnn``) those beats
    are taken as tracked and the tempo is their median rate; otherwise tempo and beats come from the onset
    envelope (autocorrelation tempo, librosa's dynamic programming). Either way the meter and downbeats come
    from the accents of the beats.

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
    empty = np.zeros(0)
    if beat_times is not None:
        frames, times, tempo, confidence = _tracked_beats(np.asarray(beat_times, dtype=np.float64), env, rms, fps)
        if tempo <= 0:
            return BeatTrack(0.0, 0.0, empty, empty, 4, "4/4", 0.0)
    else:
        tempo, confidence = envelope_tempo(env, fps=fps, start_bpm=start_bpm)
        if tempo <= 0:
            return BeatTrack(0.0, 0.0, empty, empty, 4, "4/4", 0.0)
        _, frames = librosa.beat.beat_track(
            onset_envelope=env, sr=sr, hop_length=hop_length, bpm=tempo, tightness=tightness, trim=False
        )
        frames = _trim_weak_ends(np.asarray(frames, dtype=int), env, rms)
        times = _onset_starts(frames, env) / fps
    accent = _beat_accent(frames, env, rms=rms, chroma=chroma)
    bar = _choose_meter(frames, env, accent, tempo_bpm=tempo)
    counted = times[bar.first_beat :: bar.group]
    return BeatTrack(
        tempo_bpm=float(tempo / bar.group),
        tempo_confidence=float(confidence),
        beat_times=counted,
        downbeat_times=counted[bar.phase :: bar.beats_per_bar],
        beats_per_bar=bar.beats_per_bar,
        meter=bar.meter,
        meter_confidence=float(bar.confidence),
        beat_accents=accent[bar.first_beat :: bar.group],
    )


def _tracked_beats(
    beat_times: np.ndarray, env: np.ndarray, rms: np.ndarray | None, fps: float
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Frames, times, tempo (BPM) and confidence of beats tracked elsewhere, weak ends dropped.

    The tempo is the median inter-beat rate; the confidence is the onset envelope's normalised
    autocorrelation at that period, as for the envelope's own tempo. Tempo 0 when fewer than 3 beats remain.
    """
    times = np.sort(beat_times[np.isfinite(beat_times) & (beat_times >= 0)])
    frames = np.clip(np.round(times * fps).astype(int), 0, max(len(env) - 1, 0))
    keep = _trim_weak_ends(frames, env, rms)
    if len(keep) < 3:
        return frames[:0], times[:0], 0.0, 0.0
    first = int(np.searchsorted(frames, keep[0]))
    frames, times = keep, times[first : first + len(keep)]
    period = float(np.median(np.diff(times)))
    lag = period * fps
    confidence = peak_near(autocorrelation(env, int(np.ceil(lag)) + 3), lag, 1)[1] if len(env) > lag + 3 else 0.0
    return frames, times, 60.0 / period, float(np.clip(confidence, 0.0, 1.0))


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
    fps = sr / hop_length
    return float(len(_pick_peaks(env, fps)) / (len(env) / fps)) if len(env) else 0.0


def detect_onsets(
    *, onset_envelope: np.ndarray, sr: int, hop_length: int, min_strength: float = 0.2
) -> tuple[np.ndarray, np.ndarray]:
    """Onset times and strengths: peaks of the envelope, timed at their leading edge.

    Parameters
    ----------
    onset_envelope : np.ndarray [shape=(n_frames,)]
        Onset strength per frame (mean positive log-mel rise, dB), e.g. a separated stem's.
    sr, hop_length : int > 0
        Sample rate (Hz) and hop (samples) of the frames.
    min_strength : float >= 0
        Peaks weaker than this are dropped (0.2 as for stem onset densities: the flux of a steady tone
        stays below it, real note and hit onsets exceed it even at -40 dBFS).

    Returns
    -------
    times : np.ndarray [shape=(n_onsets,)]
        Seconds, increasing; where the envelope first rises a quarter of the way to each peak.
    strengths : np.ndarray [shape=(n_onsets,)]
        Envelope value at each peak.
    """
    env = _check_envelope(onset_envelope)
    peaks = _pick_peaks(env, sr / hop_length)
    peaks = peaks[env[peaks] >= min_strength]
    return _onset_starts(peaks, env) * hop_length / sr, env[peaks]


def _pick_peaks(env: np.ndarray, fps: float) -> np.ndarray:
    """Frame indices of onset peaks, with librosa.onset.onset_detect's picking parameters."""
    peak = float(env.max()) if len(env) else 0.0
    if peak <= 0 or peak <= env.min():
        return np.zeros(0, dtype=int)
    norm = (env - env.min()) / (peak - env.min())
    return np.asarray(librosa.util.peak_pick(
        norm,
        pre_max=max(int(0.03 * fps), 1),
        post_max=int(0.0 * fps) + 1,
        pre_avg=max(int(0.10 * fps), 1),
        post_avg=int(0.10 * fps) + 1,
        wait=max(int(0.03 * fps), 1),
        delta=0.07,
    ), dtype=int)


def _check_envelope(onset_envelope: np.ndarray) -> np.ndarray:
    env = np.asarray(onset_envelope, dtype=np.float64)
    if env.ndim != 1:
        raise AnalysisError(f"expected an onset envelope of shape (n_frames,), got shape {env.shape}.")
    if not np.isfinite(env).all():
        raise AnalysisError("the onset envelope contains NaN or infinite values.")
    return env


def autocorrelation(env: np.ndarray, max_lag: int) -> np.ndarray:
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


def peak_near(acf: np.ndarray, lag: float, radius: float) -> tuple[float, float]:
    """Position (sub-frame, parabolic) and height of the highest autocorrelation value within ``radius``."""
    lo, hi = max(int(np.floor(lag - radius)), 1), min(int(np.ceil(lag + radius)), len(acf) - 2)
    if hi < lo:
        return lag, 0.0
    i = lo + int(np.argmax(acf[lo : hi + 1]))
    a, b, c = acf[i - 1], acf[i], acf[i + 1]
    denom = a - 2 * b + c
    shift = 0.5 * (a - c) / denom if denom < 0 else 0.0
    return i + float(np.clip(shift, -0.5, 0.5)), float(b)


def envelope_tempo(env: np.ndarray, *, fps: float, start_bpm: float) -> tuple[float, float]:
    """Global tempo (BPM) and its confidence in [0, 1]; (0, 0) when there is no pulse."""
    min_lag, max_lag = int(np.floor(60 * fps / MAX_BPM)), int(np.ceil(60 * fps / MIN_BPM))
    if len(env) < 2 * max_lag or np.ptp(env) <= 0:
        return 0.0, 0.0
    acf = autocorrelation(env, 8 * max_lag)
    lags = np.arange(max(min_lag, 1), max_lag + 1)
    bpm = 60 * fps / lags
    prior = np.exp(-0.5 * (np.log2(bpm / start_bpm)) ** 2)
    best = lags[int(np.argmax(np.maximum(acf[lags], 0) * prior))]
    lag, height = peak_near(acf, best, 1)
    if height <= 0:
        return 0.0, 0.0
    # Go to the faster level when it is a pulse of its own: an even click at 174 BPM is also periodic
    # at 87, but (unlike straight eighths over a backbeat) its odd multiples are as strong as its even ones.
    while 60 * fps / (lag / 2) <= MAX_BPM:
        fast, odd1 = peak_near(acf, lag / 2, 1)
        odd = 0.5 * (odd1 + peak_near(acf, 1.5 * lag, 1.5)[1])
        even = 0.5 * (height + peak_near(acf, 2 * lag, 2)[1])
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
        pos, h = peak_near(acf, k * (lag if not peaks else _fit(ks, peaks)), 1.5)
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


def _trim_weak_ends(frames: np.ndarray, env: np.ndarray, rms: np.ndarray | None = None) -> np.ndarray:
    """Drop leading and trailing beats with almost no onset, or almost no sound, under them.

    librosa's own ``trim`` also drops genuine first beats that are merely weaker than average. The level test
    catches leading silence with a noise floor (tape hiss, dither), whose flux is as large as a soft onset's.
    """
    if len(frames) == 0:
        return frames
    strength = _beat_strength(frames, env)
    keep = strength > TRIM_RATIO * np.median(strength)
    if rms is not None and len(rms) == len(env):
        level = _beat_strength(frames, np.asarray(rms, dtype=np.float64))
        keep &= level > TRIM_LEVEL_RATIO * np.median(level)
    strong = np.flatnonzero(keep)
    return frames[strong[0] : strong[-1] + 1] if len(strong) else frames[:0]


def _onset_starts(frames: np.ndarray, env: np.ndarray) -> np.ndarray:
    """Sub-frame position of the leading edge of the onset under each beat, in frames.

    The tracker puts a beat on the envelope's peak, which trails the physical onset by a frame or two for
    sharp hits and by up to the attack time for soft ones (a pad fading in over 0.2 s peaks ~80 ms late,
    beyond the +-70 ms that beat evaluation tolerates). The leading edge is where the envelope first climbs
    EDGE_LEVEL of the way from the local floor to the local peak, linearly interpolated between frames.
    """
    out = frames.astype(np.float64)
    n = len(env)
    for i, b in enumerate(frames):
        lo, hi = max(b - EDGE_BACK, 1), min(b + EDGE_AHEAD, n - 1)
        if hi <= lo:
            continue
        k = lo + int(np.argmax(env[lo : hi + 1]))
        floor = float(env[lo - 1 : k + 1].min())
        level = floor + EDGE_LEVEL * (float(env[k]) - floor)
        if env[k] <= floor:
            continue
        j = k
        while j > lo and env[j - 1] >= level:
            j -= 1
        below, above = float(env[j - 1]), float(env[j])
        frac = (level - below) / (above - below) if above > below else 1.0
        out[i] = j - 1 + float(np.clip(frac, 0.0, 1.0))
    return out


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


def _bar_scores(accent: np.ndarray, bpb: int) -> tuple[float, int]:
    """Best t statistic (accent of bar starts minus that of the other beats) over the phases of a ``bpb`` grid."""
    n, std = len(accent), accent.std()
    scores = []
    for phase in range(bpb):
        on = np.zeros(n, dtype=bool)
        on[phase::bpb] = True
        contrast = accent[on].mean() - accent[~on].mean()
        scores.append(contrast * np.sqrt(on.sum() * (~on).sum() / n) / std)
    p = int(np.argmax(scores))
    return float(scores[p]), p


def _choose_bar(accent: np.ndarray, lengths: tuple[int, ...] = (3, 4)) -> tuple[int, int, float]:
    """Beats per bar (one of ``lengths``), phase of the first downbeat and meter confidence from beat accents.

    Each (bar length, phase) grid is scored by the t statistic of the accent difference between its bar
    starts and the other beats; the confidence grows with the winner's margin over the best grid of the
    other bar lengths and with its own significance. A 4-beat winner becomes 2 beats per bar when ``2`` is
    allowed and its beat 3 is accented like its beat 1 (Welch t below HALF_BAR_T).
    """
    n = len(accent)
    std = accent.std() if n else 0.0
    if n < 6 or std <= 1e-9:
        return max(lengths) if 4 not in lengths else 4, 0, 0.0
    best = {bpb: _bar_scores(accent, bpb) for bpb in lengths if bpb != 2}
    bpb = max(best, key=lambda b: best[b][0])
    t_best, phase = best[bpb]
    t_other = max((t for b, (t, _) in best.items() if b != bpb), default=0.0)
    margin = np.clip((t_best - max(t_other, 0.0)) / 4.0, 0.0, 1.0)
    significance = np.clip((t_best - 1.0) / 3.0, 0.0, 1.0)
    if bpb == 4 and 2 in lengths:
        first, third = accent[phase::4], accent[phase + 2 :: 4]
        t_half = (first.mean() - third.mean()) / np.sqrt(first.var() / len(first) + third.var() / len(third) + 1e-12)
        if t_half < HALF_BAR_T:
            return 2, phase % 2, float(significance * np.clip((HALF_BAR_T - t_half) / HALF_BAR_T, 0.0, 1.0))
        margin = min(margin, float(np.clip((t_half - HALF_BAR_T) / HALF_BAR_T, 0.0, 1.0)))
    return bpb, phase, float(margin * significance)


@dataclass(frozen=True)
class _Bar:
    """How tracked beats group into counted beats and bars."""

    meter: str
    beats_per_bar: int  # counted beats per bar
    phase: int  # index of the first downbeat among the counted beats
    confidence: float
    group: int = 1  # tracked beats per counted beat (3 when the tracker followed the eighths of 6/8 or 12/8)
    first_beat: int = 0  # index of the first counted beat among the tracked beats


def _subdivision(frames: np.ndarray, env: np.ndarray) -> tuple[int, float]:
    """Whether beats divide in three (compound meter) or two, and how clearly.

    Compares the median over beats of the onset strength at 1/3 and 2/3 of the beat with that at 1/2. Both
    thirds must be filled in most beats: a swung off-beat (at 2/3 only) is a duple subdivision played
    long-short, and three notes across a 4-beat bar (a polyrhythm) fill the thirds of only some beats.
    Returns ``(3, strength)`` or ``(2, strength)``; strength in [0, 1].
    """
    if len(frames) < 4:
        return 2, 0.0
    starts, periods = frames[:-1].astype(float), np.diff(frames).astype(float)

    def strength_at(fraction: float) -> float:
        at = np.clip(np.round(starts + fraction * periods).astype(int), 0, len(env) - 1)
        near = np.clip(at[:, None] + np.arange(-1, 2)[None, :], 0, len(env) - 1)
        return float(np.median(env[near].max(axis=1)))

    beat = float(np.median(_beat_strength(frames, env)))
    third, half = min(strength_at(1 / 3), strength_at(2 / 3)), strength_at(0.5)
    if beat <= 0:
        return 2, 0.0
    if third > TRIPLE_RATIO * half and third > 0.1 * beat:
        return 3, float(np.clip((third / max(half, 1e-9) - TRIPLE_RATIO) / TRIPLE_RATIO, 0.0, 1.0))
    return 2, float(np.clip(half / beat, 0.0, 1.0))


def _choose_meter(frames: np.ndarray, env: np.ndarray, accent: np.ndarray, *, tempo_bpm: float) -> _Bar:
    """Time signature among 2/4, 3/4, 4/4, 6/8, 9/8 and 12/8 from the tracked beats.

    Three cases: (1) the tracked beats divide in three: they are dotted quarters, grouped 2, 3 or 4 to a bar;
    (2) they are fast (over COMPOUND_MIN_BPM) and group in threes, which in turn alternate strong-weak: the
    tracker followed the eighths of a compound meter, so every third beat is counted; (3) otherwise a simple
    meter of 2, 3 or 4 quarter beats.
    """
    sub, _ = _subdivision(frames, env)
    if sub == 3:
        bpb, phase, conf = _choose_bar(accent, (2, 3, 4))
        return _Bar(f"{3 * bpb}/8", bpb, phase, conf)
    bpb, phase, conf = _choose_bar(accent, (2, 3, 4))
    if bpb == 3 and tempo_bpm > COMPOUND_MIN_BPM:
        groups = accent[phase::3]
        if len(groups) >= 6 and groups.std() > 1e-9:
            outer, outer_phase, outer_conf = _choose_bar(groups, (2, 4))
            t_two = _bar_scores(groups, 2)[0]
            if t_two > COMPOUND_MIN_T:
                return _Bar(f"{3 * outer}/8", outer, outer_phase, min(conf, max(outer_conf, 0.5)), 3, phase)
    return _Bar(f"{bpb}/4", bpb, phase, conf)
