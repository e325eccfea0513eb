"""Tuning, key and chords from chroma.

Key: the long-term chroma is correlated with the 24 rotations of a major and a minor key profile.
Chords: beat-synchronous chroma is compared with harmonic-aware templates of a chord vocabulary (the 24
major and minor triads, or those plus sevenths, diminished and suspended chords) and a flat "no chord"
template, and the label sequence is smoothed by Viterbi decoding of an HMM whose only structure is a
probability of keeping the current chord. Richer chords pay a small emission penalty, so a seventh is
only reported where the fourth note is really there.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ostinato.analysis.librosa_import import librosa
from ostinato.errors import AnalysisError
from ostinato.theory.hmm import sticky_viterbi
from ostinato.theory.pitch import PITCH_CLASSES, parse_pitch_class, tonic_name

#: Key profiles, tonic first: Temperley's revision of Krumhansl-Kessler ("Music and Probability", 2007),
#: with the minor profile's subtonic raised from 1.5 to 3.0 and leading tone lowered from 4.0 to 3.5,
#: since popular music uses the natural (Aeolian) minor at least as often as the harmonic minor
#: (an i-VII-VI-V progression otherwise reads as the relative major).
MAJOR_PROFILE = np.array([5.0, 2.0, 3.5, 2.0, 4.5, 4.0, 2.0, 4.5, 2.0, 3.5, 1.5, 4.0])
MINOR_PROFILE = np.array([5.0, 2.0, 3.5, 4.5, 2.0, 4.0, 2.0, 4.5, 3.5, 2.0, 3.0, 3.5])

#: Chord vocabularies: each output quality and the interval sets (semitones above the root) that it
#: stands for. In "majmin" a dominant seventh still reads as major, so V7 chords are not lost to
#: whichever triad happens to share three of their four notes.
VOCABULARIES: dict[str, dict[str, tuple[tuple[int, ...], ...]]] = {
    "majmin": {"maj": ((0, 4, 7), (0, 4, 7, 10)), "min": ((0, 3, 7),)},
    "sevenths": {
        "maj": ((0, 4, 7),), "min": ((0, 3, 7),), "7": ((0, 4, 7, 10),), "maj7": ((0, 4, 7, 11),),
        "min7": ((0, 3, 7, 10),), "dim": ((0, 3, 6),), "hdim7": ((0, 3, 6, 10),), "dim7": ((0, 3, 6, 9),),
        "sus4": ((0, 5, 7),),
    },
}

#: Tones of each quality (its first shape in any vocabulary).
_QUALITY_INTERVALS: dict[str, tuple[int, ...]] = {
    q: shapes[0] for vocabulary in reversed(VOCABULARIES.values()) for q, shapes in vocabulary.items()
}

#: Emission penalty (cosine units) per quality: a triad wins over a seventh chord sharing its three notes
#: unless the seventh is clearly present; sus4 (one note from a major triad and from a sixth chord)
#: and diminished triads pay a little more.
_QUALITY_PENALTY: dict[str, float] = {"7": 0.04, "maj7": 0.06, "min7": 0.05, "hdim7": 0.06, "dim7": 0.06,
                                      "dim": 0.05, "sus4": 0.08}

#: Relative power of partials 1-4 of a note (about 1/h^2), folded into pitch classes 0, 0, 7, 0 above it.
_PARTIAL_POWER = ((0, 1.0), (0, 0.25), (7, 0.11), (0, 0.06))

#: Sharpness of the chord emission: log-likelihood per unit of cosine similarity.
_EMISSION_SHARPNESS = 25.0

#: "No chord" similarity is the cosine with a flat chroma minus this margin, so that it wins on silence and on
#: unpitched passages (percussion, noise) but not on chords under loud drums.
_NO_CHORD_MARGIN = 0.15


@dataclass(frozen=True)
class KeyEstimate:
    """A global key: tonic pitch class (0 = C), mode and correlation strength in [0, 1]."""

    tonic: str
    tonic_pc: int
    mode: str
    strength: float

    @property
    def label(self) -> str:
        """E.g. ``"C major"``, ``"F# minor"``."""
        return f"{self.tonic} {self.mode}"


@dataclass(frozen=True)
class ChordSegment:
    """A chord over ``[start_s, end_s)`` seconds; ``root_pc`` -1 and quality ``"N"`` mean no chord."""

    start_s: float
    end_s: float
    root_pc: int
    quality: str
    bass_pc: int = -1  # lowest sounding pitch class; -1 when unknown

    @property
    def label(self) -> str:
        """Harte-style label: ``"C:maj"``, ``"A:min"``, or ``"N"``."""
        return "N" if self.root_pc < 0 else f"{PITCH_CLASSES[self.root_pc]}:{self.quality}"


def estimate_tuning(
    y: np.ndarray,
    *,
    sr: int,
    n_excerpts: int = 8,
    excerpt_s: float = 1.0,
    n_fft: int = 4096,
) -> float:
    """Deviation of the reference pitch from A440, from spectral peaks in the loudest excerpts.

    Only ``n_excerpts`` excerpts of ``excerpt_s`` seconds (the loudest, at most one per
    ``len(y) / n_excerpts`` stretch) are analysed, so the cost does not grow with the track's length.

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono waveform.
    sr : int > 0
        Sample rate, Hz.
    n_excerpts : int > 0
        Number of excerpts analysed.
    excerpt_s : float > 0
        Length of each excerpt, seconds.
    n_fft : int > 0
        FFT size for the peak search, samples.

    Returns
    -------
    float in [-0.5, 0.5)
        Fractions of a semitone (0 for silence or too short signals).
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise AnalysisError(f"expected a mono signal of shape (n,), got shape {y.shape}.")
    width = int(excerpt_s * sr)
    if width < n_fft or len(y) < width:
        return 0.0
    stretch = max(len(y) // n_excerpts, width)
    pieces = []
    for start in range(0, len(y) - width + 1, stretch):
        region = y[start : min(start + stretch, len(y))]
        n_win = len(region) // width
        windows = region[: n_win * width].reshape(n_win, width)
        energy = np.einsum("ij,ij->i", windows, windows)
        best = int(np.argmax(energy))
        if energy[best] > 0:
            pieces.append(region[best * width : (best + 1) * width])
    if not pieces:
        return 0.0
    tuning = librosa.estimate_tuning(y=np.concatenate(pieces), sr=sr, n_fft=n_fft)
    return float(((tuning + 0.5) % 1.0) - 0.5)


def estimate_bass_chroma(
    y: np.ndarray,
    *,
    sr: int,
    hop_length: int = 512,
    n_frames: int | None = None,
    tuning: float = 0.0,
    fmin_midi: int = 24,
    n_octaves: int = 4,
    floor: float = 0.3,
    block_s: float = 120.0,
) -> np.ndarray:
    """Pitch class of the lowest sounding note per frame, from a constant-Q transform of the low register.

    In each frame the lowest semitone bin of C1..B4 (by default) that is a local maximum and whose magnitude
    reaches ``floor`` times the frame's largest low-register bin is taken as the bass; its pitch class gets
    that magnitude. Taking the lowest strong bin, not the strongest, skips the bass note's own upper
    partials (its fifth at 3 f0).

    Parameters
    ----------
    y : np.ndarray [shape=(n,)]
        Mono waveform.
    sr : int > 0
        Sample rate, Hz.
    hop_length : int > 0
        Samples between frames; frame ``t`` is centred at ``t * hop_length / sr`` seconds.
    n_frames : int or None
        Frames to return (cut or zero-padded), to match other features; all CQT frames if None.
    tuning : float in [-0.5, 0.5)
        Deviation from A440 in fractions of a semitone.
    fmin_midi, n_octaves : int
        Lowest MIDI note and number of octaves searched.
    floor : float in (0, 1]
        Share of the frame's largest bin a bin needs to count as sounding.
    block_s : float > 0
        The transform runs on blocks of this many seconds (plus context), so memory stays bounded on
        hour-long tracks instead of growing with librosa's resampled copies of the whole signal; long blocks
        keep the per-call cost of building the filters off ordinary tracks (one block up to two minutes).

    Returns
    -------
    np.ndarray [shape=(12, n_frames)]
        Row 0 = C; zeros where the low register is silent.
    """
    y = np.asarray(y, dtype=np.float32)
    if y.ndim != 1:
        raise AnalysisError(f"expected a mono signal of shape (n,), got shape {y.shape}.")
    fmin = float(librosa.midi_to_hz(fmin_midi + tuning))
    spectrum = _low_register_magnitudes(y, sr=sr, hop_length=hop_length, fmin=fmin, n_bins=12 * n_octaves,
                                        block_s=block_s)
    frames = spectrum.shape[1] if n_frames is None else n_frames
    out = np.zeros((12, frames))
    spectrum = spectrum[:, :frames]
    peak = spectrum.max(axis=0)
    audible = peak > 1e-4 * max(float(peak.max()), 1e-12)
    # A note leaks about half its magnitude into the neighbouring semitone bins, so only local maxima count.
    padded = np.pad(spectrum, ((1, 1), (0, 0)))
    local_max = (spectrum >= padded[:-2]) & (spectrum >= padded[2:])
    sounding = local_max & (spectrum >= floor * peak[None, :])
    lowest = np.argmax(sounding, axis=0)
    columns = np.flatnonzero(audible)
    np.add.at(out, ((fmin_midi + lowest[columns]) % 12, columns), spectrum[lowest[columns], columns])
    return out


#: Context on each side of a block of the low-register transform, seconds: longer than the C1 filter (~0.5 s).
BASS_CONTEXT_S = 1.0


def _low_register_magnitudes(
    y: np.ndarray, *, sr: int, hop_length: int, fmin: float, n_bins: int, block_s: float
) -> np.ndarray:
    """|VQT| of shape ``(n_bins, 1 + len(y) // hop_length)``, semitone bins from ``fmin``, computed block by
    block with ``BASS_CONTEXT_S`` of context so the frames equal one transform of the whole signal."""
    n_total = 1 + len(y) // hop_length
    block = max(1, int(block_s * sr / hop_length))
    context = int(np.ceil(BASS_CONTEXT_S * sr / hop_length))
    out = np.empty((n_bins, n_total), dtype=np.float32)
    for first in range(0, n_total, block):
        last = min(first + block, n_total)
        lead = min(context, first)
        start = (first - lead) * hop_length
        stop = min(len(y), (last + context) * hop_length)
        part = np.abs(librosa.vqt(y[start:stop], sr=sr, hop_length=hop_length, fmin=fmin, n_bins=n_bins,
                                  bins_per_octave=12, gamma=0))
        out[:, first:last] = part[:, lead:lead + last - first]
    return out


def _check_chroma(chroma: np.ndarray) -> np.ndarray:
    chroma = np.asarray(chroma, dtype=np.float64)
    if chroma.ndim != 2 or chroma.shape[0] != 12:
        raise AnalysisError(f"expected chroma of shape (12, n_frames), got shape {chroma.shape}.")
    if not np.isfinite(chroma).all():
        raise AnalysisError("the chroma contains NaN or infinite values.")
    return chroma


def estimate_key(
    *,
    chroma: np.ndarray,
    weights: np.ndarray | None = None,
    chords: Sequence[ChordSegment] | None = None,
    chord_weight: float = 0.5,
    final_root_bonus: float = 0.0,
) -> KeyEstimate:
    """Global key by correlating the (weighted) mean chroma, and optionally the chords' tones, with key profiles.

    Spectral chroma carries each note's overtones (a tonic's third partial sounds its fifth), which can tip
    a key to its dominant; the chords, recognised with overtone-aware templates, give a second profile
    (each chord's tones weighted by its duration) without that bias. Their correlations are averaged.

    Parameters
    ----------
    chroma : np.ndarray [shape=(12, n_frames)]
        Chroma, row 0 = C.
    weights : np.ndarray [shape=(n_frames,)] or None
        Non-negative weight per frame (e.g. RMS); equal weights if None.
    chords : sequence of ChordSegment or None
        Recognised chords of the same track; chroma alone if None or all no-chord.
    chord_weight : float in [0, 1]
        Share of the chord profile's correlation in the combined score.
    final_root_bonus : float >= 0
        Added to both keys on the root of the last chord: a piece that ends (rather than fades out) ends on
        its tonic, which tells a key from its relative (scores use 0.1; audio 0, as recordings fade and loop).

    Returns
    -------
    KeyEstimate
        ``strength`` is the (combined) Pearson correlation with the winning profile, clipped to [0, 1]
        (0, with the key C major, when the chroma is all zeros).
    """
    chroma = _check_chroma(chroma)
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
        if weights.shape != (chroma.shape[1],) or np.any(weights < 0):
            raise AnalysisError(f"weights must be non-negative of shape ({chroma.shape[1]},), got {weights.shape}.")
        profile = chroma @ weights
    else:
        profile = chroma.sum(axis=1)
    if np.ptp(profile) <= 0:
        return KeyEstimate("C", 0, "major", 0.0)
    scores = _key_correlations(profile)  # (2, 12): major, minor by tonic
    tones = chord_tone_profile(chords or [])
    if np.ptp(tones) > 0:
        scores = (1.0 - chord_weight) * scores + chord_weight * _key_correlations(tones)
    voiced = [c for c in chords or [] if c.root_pc >= 0]
    if final_root_bonus and voiced:
        scores[:, voiced[-1].root_pc] += final_root_bonus
    mode_idx, tonic = np.unravel_index(int(np.argmax(scores)), scores.shape)
    mode = ("major", "minor")[mode_idx]
    return KeyEstimate(
        tonic=tonic_name(int(tonic), mode),
        tonic_pc=int(tonic),
        mode=mode,
        strength=float(np.clip(scores[mode_idx, tonic], 0.0, 1.0)),
    )


#: essentia's KeyExtractor window, seconds (its default 4096 samples at 44.1 kHz; 2048 at 22 050 Hz).
ESSENTIA_KEY_WINDOW_S = 4096 / 44100
#: essentia's key profile: 'bgate', its default, from Faraldo's beat-synchronous analysis of pop music.
ESSENTIA_KEY_PROFILE = "bgate"


@functools.cache
def _essentia_key_extractor(sr: int, frame: int):
    import essentia

    essentia.log.infoActive = False  # its import announces each missing optional model at INFO
    essentia.log.warningActive = False
    import essentia.standard as es

    return es.KeyExtractor(profileType=ESSENTIA_KEY_PROFILE, sampleRate=float(sr), frameSize=frame, hopSize=frame)


def estimate_key_essentia(y: np.ndarray, *, sr: int) -> KeyEstimate:
    """Global key of mono ``y`` (n,) at ``sr`` Hz by essentia's KeyExtractor (HPCP of spectral peaks, 'bgate').

    On the 50 real dev clips (bench/realdev.py) it scores 0.68 (mir_eval weighted) where the chroma-profile
    estimator (``estimate_key``) scores 0.41 and madmom's key CNN 0.64, at ~1200x realtime. The window is
    essentia's default duration at any rate (2048 samples at 22 050 Hz).
    """
    frame = int(round(ESSENTIA_KEY_WINDOW_S * sr / 2)) * 2
    y = np.ascontiguousarray(y, dtype=np.float32)
    if y.ndim != 1 or len(y) < frame:
        return KeyEstimate("C", 0, "major", 0.0)
    tonic, scale, strength = _essentia_key_extractor(int(sr), frame)(y)
    tonic_pc = parse_pitch_class(tonic)
    mode = "minor" if scale == "minor" else "major"
    if tonic_pc is None:
        raise AnalysisError(f"essentia named an unknown key tonic {tonic!r}")
    return KeyEstimate(tonic_name(tonic_pc, mode), tonic_pc, mode, float(np.clip(strength, 0.0, 1.0)))


def chord_tone_profile(chords: Sequence[ChordSegment]) -> np.ndarray:
    """Seconds each pitch class is a chord tone over ``chords``, shape (12,); no-chord segments add nothing."""
    profile = np.zeros(12)
    for c in chords:
        if c.root_pc < 0 or c.quality not in _QUALITY_INTERVALS:
            continue
        for interval in _QUALITY_INTERVALS[c.quality]:
            profile[(c.root_pc + interval) % 12] += max(c.end_s - c.start_s, 0.0)
    return profile


def _key_correlations(profile: np.ndarray) -> np.ndarray:
    """Pearson correlation of a 12-bin pitch-class profile with every major and minor key, shape (2, 12)."""
    return key_correlations(np.asarray(profile, dtype=np.float64)[None, :])[0]


def key_correlations(profiles: np.ndarray) -> np.ndarray:
    """Pearson correlations of many pitch-class profiles (n, 12) with the 24 keys, shape (n, 2, 12).

    Row ``[i, m, t]`` is profile ``i`` against mode ``m`` (0 major, 1 minor) on tonic ``t``; a flat profile
    correlates 0 with every key.
    """
    centred = profiles - profiles.mean(axis=1, keepdims=True)
    norms = np.linalg.norm(centred, axis=1, keepdims=True)
    unit = centred / np.where(norms > 0, norms, 1.0)
    return (unit @ _unit_key_profiles().T).reshape(len(profiles), 2, 12)


@functools.cache
def _unit_key_profiles() -> np.ndarray:
    """The 24 rotated key profiles (major tonics 0-11, then minor), centred and unit-norm, shape (24, 12)."""
    rows = np.stack([np.roll(ref, t) for ref in (MAJOR_PROFILE, MINOR_PROFILE) for t in range(12)])
    rows = rows - rows.mean(axis=1, keepdims=True)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


@functools.lru_cache(maxsize=8)
def _chord_templates(
    vocabulary: str, partials: bool = True
) -> tuple[np.ndarray, np.ndarray, tuple[tuple[int, str], ...]]:
    """Unit-norm templates (n_templates, 12), the state each belongs to, and each state's (root, quality).

    The last state is "no chord", with a flat template. Without ``partials`` the templates are the bare
    pitch-class sets (for exact notes from a score).
    """
    partial_power = _PARTIAL_POWER if partials else ((0, 1.0),)
    rows, owner, names = [], [], []
    for quality, shapes in VOCABULARIES[vocabulary].items():
        for root in range(12):
            for intervals in shapes:
                t = np.zeros(12)
                for iv in intervals:
                    for shift, power in partial_power:
                        t[(root + iv + shift) % 12] += power
                rows.append(t / np.linalg.norm(t))
                owner.append(len(names))
            names.append((root, quality))
    rows.append(np.full(12, 1 / np.sqrt(12)))
    owner.append(len(names))
    names.append((-1, "N"))
    return np.stack(rows), np.asarray(owner), tuple(names)


def recognize_chords(
    *,
    chroma: np.ndarray,
    frame_times: np.ndarray,
    beat_times: np.ndarray | None = None,
    vocabulary: str = "majmin",
    self_transition: float = 0.8,
    partials: bool = True,
    bass_chroma: np.ndarray | None = None,
    min_peak: float = 0.0,
) -> list[ChordSegment]:
    """Chord segments from chroma, beat-synchronous when beats are given.

    Parameters
    ----------
    chroma : np.ndarray [shape=(12, n_frames)]
        Per-frame chroma, row 0 = C, all zeros on silent frames (``FrameFeatures.chroma``).
    frame_times : np.ndarray [shape=(n_frames,)]
        Frame times, seconds, increasing.
    beat_times : np.ndarray [shape=(n_beats,)] or None
        Beat times, seconds; chroma is averaged between consecutive beats. Frame by frame if None or empty.
    vocabulary : str
        ``"majmin"``: the 24 major and minor triads plus ``"N"`` (dominant sevenths read as major).
        ``"sevenths"``: those plus 7, maj7, min7, dim, hdim7, dim7 and sus4 chords on every root.
    self_transition : float in (0, 1)
        Probability of keeping the current chord over half a second; scaled to the actual step
        (median beat or frame interval).
    partials : bool
        Fold the first partials of each note into the templates (audio); False for exact notes (scores).
    bass_chroma : np.ndarray [shape=(12, n_frames)] or None
        Pitch classes of the lowest sounding notes per frame; the strongest one over a segment's first
        step becomes its ``bass_pc`` (-1 everywhere when None).
    min_peak : float >= 0
        A step whose strongest pitch class (mean over the step) is below this is "no chord" whatever its
        shape: for chroma on an absolute scale, such as ``analysis.deep_chroma``'s probabilities.

    Returns
    -------
    list[ChordSegment]
        Contiguous segments from ``frame_times[0]`` to ``frame_times[-1]``, consecutive labels distinct.
    """
    chroma = _check_chroma(chroma)
    frame_times = np.asarray(frame_times, dtype=np.float64)
    if frame_times.shape != (chroma.shape[1],) or chroma.shape[1] == 0:
        raise AnalysisError(
            f"frame_times must have one time per chroma frame ({chroma.shape[1]}), got shape {frame_times.shape}."
        )
    if vocabulary not in VOCABULARIES:
        raise AnalysisError(f"unknown chord vocabulary {vocabulary!r}; known: {sorted(VOCABULARIES)}.")
    if not 0.0 < self_transition < 1.0:
        raise AnalysisError(f"self_transition must lie in (0, 1), got {self_transition}.")

    bounds = _step_bounds(frame_times, beat_times)  # frame index where each step starts, plus n_frames
    sums = np.add.reduceat(chroma, bounds[:-1], axis=1)
    steps = sums / np.diff(bounds)  # (12, n_steps) mean chroma per step
    templates, owner, names = _chord_templates(vocabulary, partials)
    penalty = np.array([_QUALITY_PENALTY.get(quality, 0.0) for _, quality in names])
    steps[:, steps.max(axis=0) < min_peak] = 0.0
    labels = _viterbi_labels(steps, templates, owner, frame_times, bounds, self_transition, penalty)
    bass_steps = None
    if bass_chroma is not None:
        bass_chroma = _check_chroma(bass_chroma)[:, : chroma.shape[1]]
        bass_steps = np.add.reduceat(bass_chroma, bounds[:-1], axis=1)

    edges = np.append(frame_times[bounds[:-1]], frame_times[-1])
    edges[0] = frame_times[0]
    segments: list[ChordSegment] = []
    for k, state in enumerate(labels):
        root, quality = names[state]
        if segments and (segments[-1].root_pc, segments[-1].quality) == (root, quality):
            segments[-1] = ChordSegment(segments[-1].start_s, float(edges[k + 1]), root, quality, segments[-1].bass_pc)
        else:
            bass = -1
            if bass_steps is not None and root >= 0 and bass_steps[:, k].max() > 0:
                bass = int(np.argmax(bass_steps[:, k]))
            segments.append(ChordSegment(float(edges[k]), float(edges[k + 1]), root, quality, bass))
    return segments


#: The sevenths a triad of each quality may carry.
_SEVENTHS_OF: dict[str, tuple[str, ...]] = {"maj": ("7", "maj7"), "min": ("min7",), "dim": ("hdim7", "dim7")}


def add_sevenths(
    segments: Sequence[ChordSegment], *, chroma: np.ndarray, frame_times: np.ndarray
) -> list[ChordSegment]:
    """Triads whose spectral chroma holds their seventh, relabelled as that seventh chord.

    For chords found on a chroma that names triads well but sevenths poorly (``analysis.deep_chroma``,
    trained mostly on major/minor labels): over each maj, min or dim segment the mean spectral ``chroma``
    (12, n_frames), on ``frame_times`` (n_frames,), is matched with the overtone-aware templates of the triad
    and of its sevenths on the same root; a seventh wins by the same rule as in ``recognize_chords`` (its
    similarity, less its quality penalty, above the triad's).
    """
    chroma = _check_chroma(chroma)
    frame_times = np.asarray(frame_times, dtype=np.float64)[: chroma.shape[1]]
    templates, owner, names = _chord_templates("sevenths", True)
    index = {name: i for i, name in enumerate(names)}
    out = []
    for seg in segments:
        inside = (frame_times >= seg.start_s) & (frame_times < seg.end_s)
        mean = chroma[:, inside].mean(axis=1) if inside.any() else np.zeros(12)
        norm = np.linalg.norm(mean)
        if seg.quality not in _SEVENTHS_OF or norm <= 1e-9:
            out.append(seg)
            continue
        candidates = (seg.quality, *_SEVENTHS_OF[seg.quality])
        scores = [float((templates[owner == index[(seg.root_pc, q)]] @ (mean / norm)).max())
                  - _QUALITY_PENALTY.get(q, 0.0) for q in candidates]
        best = candidates[int(np.argmax(scores))]
        out.append(ChordSegment(seg.start_s, seg.end_s, seg.root_pc, best, seg.bass_pc))
    return out


def _step_bounds(frame_times: np.ndarray, beat_times: np.ndarray | None) -> np.ndarray:
    """Start frame of every step (beat interval, or frame), followed by ``n_frames``."""
    n = len(frame_times)
    if beat_times is None or len(beat_times) == 0:
        return np.arange(n + 1)
    starts = np.searchsorted(frame_times, np.asarray(beat_times, dtype=np.float64) - 1e-9)
    return np.unique(np.concatenate([[0], starts[(starts > 0) & (starts < n)], [n]]))


def _viterbi_labels(
    steps: np.ndarray,
    templates: np.ndarray,
    owner: np.ndarray,
    frame_times: np.ndarray,
    bounds: np.ndarray,
    self_transition: float,
    penalty: np.ndarray,
) -> np.ndarray:
    """Most likely state index per step under a sticky HMM; a state scores its best-matching template."""
    norm = np.linalg.norm(steps, axis=0)
    unit = steps / np.where(norm > 0, norm, 1.0)
    starts = np.flatnonzero(np.diff(owner, prepend=-1))
    sim = np.maximum.reduceat(templates @ unit, starts, axis=0)  # (n_states, n_steps)
    sim -= penalty[:, None]
    sim[-1] -= _NO_CHORD_MARGIN
    sim[:, norm <= 1e-6] = 0.0
    sim[-1, norm <= 1e-6] = 1.0
    step_s = float(np.median(np.diff(frame_times[bounds[:-1]]))) if len(bounds) > 2 else 0.5
    p_stay = self_transition ** (max(step_s, 1e-3) / 0.5)
    # The cost of a change is that of a 24-alternative (major/minor) HMM whatever the vocabulary's size, so a
    # richer vocabulary does not make every change rarer (a uniform HMM over 108 states would).
    switch_cost = np.log(p_stay) - np.log((1.0 - p_stay) / _REFERENCE_ALTERNATIVES)
    return sticky_viterbi(log_emission=_EMISSION_SHARPNESS * sim, switch_cost=max(float(switch_cost), 0.0))


#: Number of alternatives a change of chord is spread over in the HMM (the 24 major and minor triads).
_REFERENCE_ALTERNATIVES = 24


