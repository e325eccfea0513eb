"""Rhythm theory on onsets placed in the bar: metric hierarchy, syncopation, density, polyrhythm, swing, complexity.

Input is the beat grid (beats, downbeats, meter) from :mod:`ostinato.analysis.rhythm` and one onset list per
*voice*: the separated stems (``drums``, ``bass``, ``other``, ``vocals``) when separation ran, else the mix
alone (``{"mix": ...}``). Every onset is placed in its bar by interpolating between the surrounding beats, so
tempo drift does not smear the positions.

Definitions (the README's rhythm section repeats them)

- **metric hierarchy**: ``exp(a_k - max_k a_k)`` where ``a_k`` is the mean over bars of the accent of the
  bar's ``k``-th counted beat, the accent the downbeats were found by (z-scored onset strength, loudness rise
  and harmonic change, :attr:`~ostinato.analysis.rhythm.BeatTrack.beat_accents`); the strongest position is 1.
  Without beat accents, the strongest accent-voice onset within 0.15 beat of each beat, over its maximum.
- **syncopation**: Longuet-Higgins & Lee index (:mod:`ostinato.theory.syncopation`) per bar on the meter's
  sixteenth grid, of the drum and bass voices; the larger of the two voices' means over bars. With the mix
  alone, of all its onsets: a mix where something sounds on every beat then reads as unsyncopated even if
  one part (say the bass) is syncopated, which only separated stems reveal.
- **note density**: distinct onsets per second over all voices (onsets of different voices within 30 ms count
  once).
- **polyrhythm**: ``"p:q"`` when, in most bars, onsets fill both an evenly spaced ``p``-pulse that lies off the
  meter's subdivision grid (e.g. three even notes over a 4/4 bar) and a ``q``-pulse on that grid, with
  ``p:q`` not a power-of-two ratio; confidence is the least filled position's share of bars.
- **swing ratio**: median long:short ratio of the off-beat eighth (the strongest swing-voice onset between
  0.4 and 0.8 of each beat) in simple meters; 1 is straight, 2 the triplet swing. None when fewer than
  MIN_SWING_BEATS beats have an off-beat onset, or the meter is compound (its beats divide in three anyway).
- **rhythmic complexity** in [0, 1]: ``0.4 min(syncopation / 8, 1) + 0.2 min(note_density / 10, 1)
  + 0.25 polyrhythm_confidence + 0.15 (1 - meter_confidence)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from ostinato.analysis.rhythm import BeatTrack, detect_onsets
from ostinato.errors import AnalysisError
from ostinato.theory.meter import METERS
from ostinato.theory.syncopation import lhl_syncopation, metrical_weights

#: Voices whose onsets make the accents and the syncopation (when present); otherwise every voice does.
ACCENT_VOICES = ("drums", "bass")
#: Voices that carry the swung eighths, in order of preference.
SWING_VOICES = ("drums", "other", "mix")
#: Onsets of different voices closer than this count as one note event for the density, seconds.
MERGE_S = 0.03
#: Onsets further than this share of a grid step from every grid position are off the grid.
GRID_TOLERANCE = 0.4
#: Onsets up to this many beats before a bar line count in the new bar (timing jitter).
BAR_SLACK = 0.1
#: Steps per counted beat of the fine grid used for polyrhythm (divisible by 2, 3, 4, 6 and 12).
FINE_STEPS = 12
#: A pulse position counts as filled in a bar when an onset lies within GRID_TOLERANCE fine steps of it; a
#: polyrhythm needs every position of both pulses filled in at least this share of bars.
MIN_POLY_OCCUPANCY = 0.5
#: Fewer beats with an off-beat onset than this leave the swing ratio undefined.
MIN_SWING_BEATS = 4
#: Saturation points of the complexity terms: an LHL index of 8 per bar and 10 onsets per second.
SYNCOPATION_REF, DENSITY_REF = 8.0, 10.0


@dataclass(frozen=True)
class Onsets:
    """One voice's onsets: ``times`` in seconds (increasing) and ``strengths`` (same shape)."""

    times: np.ndarray
    strengths: np.ndarray

    def __post_init__(self) -> None:
        if np.shape(self.times) != np.shape(self.strengths) or np.ndim(self.times) != 1:
            raise AnalysisError(
                f"onset times and strengths must be 1-D of one length, got {np.shape(self.times)} and "
                f"{np.shape(self.strengths)}."
            )


@dataclass(frozen=True)
class RhythmProfile:
    """Rhythm descriptors of one track (see the module docstring for the definitions).

    Attributes
    ----------
    metric_hierarchy : list[float]
        One value in [0, 1] per counted beat of the bar (empty without beats).
    syncopation : float or None
        LHL syncopation per bar (>= 0); None without a bar grid or for an unsupported meter.
    note_density : float
        Distinct onsets per second over all voices.
    voice_density : dict[str, float]
        Onsets per second of each voice.
    polyrhythm : str or None
        E.g. ``"3:2"``.
    polyrhythm_confidence : float in [0, 1]
    swing_ratio : float or None
        Long:short ratio of off-beat eighths.
    complexity : float in [0, 1]
    """

    metric_hierarchy: list[float]
    syncopation: float | None
    note_density: float
    voice_density: dict[str, float] = field(default_factory=dict)
    polyrhythm: str | None = None
    polyrhythm_confidence: float = 0.0
    swing_ratio: float | None = None
    complexity: float = 0.0


@dataclass(frozen=True)
class _Grid:
    """Where beats and bars fall: counted beats, index of the first downbeat among them, beats per bar."""

    beat_times: np.ndarray
    first_downbeat: int
    beats_per_bar: int

    @property
    def n_bars(self) -> int:
        return max((len(self.beat_times) - self.first_downbeat) // self.beats_per_bar, 0)

    def place(self, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Bar index and position in beats of each time; bar -1 outside complete bars.

        Positions lie in ``[-BAR_SLACK, beats_per_bar - BAR_SLACK)``: an onset a few milliseconds before a
        downbeat (timing jitter) belongs to the new bar, at a slightly negative position.
        """
        beats = self.beat_times
        period = float(np.median(np.diff(beats)))
        # One extra beat on each side so onsets just before the first or after the last beat are placed.
        knots = np.concatenate([[beats[0] - period], beats, [beats[-1] + period]])
        index = np.interp(times, knots, np.arange(-1, len(knots) - 1, dtype=float), left=-1e9, right=1e9)
        rel = index - self.first_downbeat
        bar = np.floor((rel + BAR_SLACK) / self.beats_per_bar).astype(int)
        position = rel - bar * self.beats_per_bar
        bar[(bar < 0) | (bar >= self.n_bars)] = -1
        return bar, position


def describe_rhythm(
    *,
    beat_times: np.ndarray,
    downbeat_times: np.ndarray,
    beats_per_bar: int,
    meter: str,
    meter_confidence: float,
    voices: Mapping[str, Onsets],
    duration_s: float,
    beat_accents: np.ndarray | None = None,
) -> RhythmProfile:
    """Describe the rhythm of one track.

    Parameters
    ----------
    beat_times : np.ndarray [shape=(n_beats,)]
        Counted beats, seconds (dotted quarters in 6/8 and 12/8).
    downbeat_times : np.ndarray [shape=(n_bars,)]
        Bar starts, seconds (a subset of ``beat_times``).
    beats_per_bar : int > 0
        Counted beats per bar.
    meter : str
        ``"2/4"``, ``"3/4"``, ``"4/4"``, ``"6/8"``, ``"9/8"`` or ``"12/8"``.
    meter_confidence : float in [0, 1]
    voices : mapping of str to Onsets
        Onsets per voice (stem names, or ``"mix"``).
    duration_s : float > 0
        Length of the track, seconds.
    beat_accents : np.ndarray [shape=(n_beats,)] or None
        Accent of each beat (see the module docstring); None to use onset strengths.
    """
    density = {name: len(v.times) / duration_s if duration_s > 0 else 0.0 for name, v in voices.items()}
    all_times = np.sort(np.concatenate([v.times for v in voices.values()])) if voices else np.zeros(0)
    distinct = int(np.count_nonzero(np.diff(all_times) > MERGE_S)) + 1 if len(all_times) else 0
    note_density = distinct / duration_s if duration_s > 0 else 0.0
    grid = _grid(beat_times, downbeat_times, beats_per_bar)
    if grid is None:
        return RhythmProfile([], None, note_density, density, complexity=_complexity(None, note_density, 0.0, 0.0))
    accent_voices = {k: v for k, v in voices.items() if k in ACCENT_VOICES and len(v.times)} or dict(voices)
    if beat_accents is not None and len(beat_accents) == len(grid.beat_times):
        hierarchy = _accent_hierarchy(grid, np.asarray(beat_accents, dtype=float))
    else:
        hierarchy = _metric_hierarchy(grid, _merge(accent_voices.values()))
    syncopation = None
    if meter in METERS and int(np.prod(METERS[meter].levels)) % beats_per_bar == 0:
        scores = [_voice_syncopation(grid, v, meter) for v in accent_voices.values()]
        syncopation = max(scores) if scores else 0.0
    compound = meter.endswith("/8")
    poly, poly_conf = _polyrhythm(grid, voices.values(), subdivision=3 if compound else 2)
    swing = None if compound else _swing_ratio(grid, voices)
    return RhythmProfile(
        metric_hierarchy=hierarchy,
        syncopation=syncopation,
        note_density=note_density,
        voice_density=density,
        polyrhythm=poly,
        polyrhythm_confidence=poly_conf,
        swing_ratio=swing,
        complexity=_complexity(syncopation, note_density, poly_conf, meter_confidence),
    )


def rhythm_from_envelopes(
    *,
    beats: BeatTrack,
    onset_envelopes: Mapping[str, np.ndarray],
    sr: int,
    hop_length: int,
    duration_s: float,
) -> RhythmProfile:
    """:func:`describe_rhythm` on onsets picked from per-voice onset envelopes (stems, or ``{"mix": env}``).

    ``onset_envelopes[name]`` has shape ``(n_frames,)``, frame ``t`` at ``t * hop_length / sr`` seconds.
    """
    voices = {}
    for name, env in onset_envelopes.items():
        times, strengths = detect_onsets(onset_envelope=env, sr=sr, hop_length=hop_length)
        voices[name] = Onsets(times, strengths)
    return describe_rhythm(
        beat_times=beats.beat_times, downbeat_times=beats.downbeat_times, beats_per_bar=beats.beats_per_bar,
        meter=beats.meter, meter_confidence=beats.meter_confidence, voices=voices, duration_s=duration_s,
        beat_accents=beats.beat_accents,
    )


def _grid(beat_times: np.ndarray, downbeat_times: np.ndarray, beats_per_bar: int) -> _Grid | None:
    beats = np.asarray(beat_times, dtype=float)
    downbeats = np.asarray(downbeat_times, dtype=float)
    if beats_per_bar <= 0 or len(downbeats) == 0 or len(beats) < beats_per_bar + 1:
        return None
    first = int(np.argmin(np.abs(beats - downbeats[0])))
    grid = _Grid(beats, first, int(beats_per_bar))
    return grid if grid.n_bars > 0 else None


def _merge(voices: Sequence[Onsets] | Mapping) -> Onsets:
    voices = list(voices)
    if not voices:
        return Onsets(np.zeros(0), np.zeros(0))
    times = np.concatenate([v.times for v in voices])
    strengths = np.concatenate([v.strengths for v in voices])
    order = np.argsort(times)
    return Onsets(times[order], strengths[order])


def _accent_hierarchy(grid: _Grid, accents: np.ndarray) -> list[float]:
    start = grid.first_downbeat
    bars = accents[start : start + grid.n_bars * grid.beats_per_bar].reshape(grid.n_bars, grid.beats_per_bar)
    mean = bars.mean(axis=0)
    return [float(v) for v in np.exp(mean - mean.max())]


def _metric_hierarchy(grid: _Grid, onsets: Onsets) -> list[float]:
    bar, position = grid.place(onsets.times)
    accents = np.zeros((grid.n_bars, grid.beats_per_bar))
    for b, pos, s in zip(bar, position, onsets.strengths, strict=True):
        beat = int(round(pos)) % grid.beats_per_bar
        if b >= 0 and abs(pos - round(pos)) <= 0.15:
            accents[b, beat] = max(accents[b, beat], s)
    mean = accents.mean(axis=0)
    top = mean.max()
    return [float(v / top) if top > 0 else 0.0 for v in mean]


def _voice_syncopation(grid: _Grid, onsets: Onsets, meter: str) -> float:
    weights = metrical_weights(meter)
    steps_per_beat = len(weights) // grid.beats_per_bar
    bar, position = grid.place(onsets.times)
    step = position * steps_per_beat
    on_grid = (bar >= 0) & (np.abs(step - np.round(step)) <= GRID_TOLERANCE)
    pattern = np.zeros((grid.n_bars, len(weights)), dtype=bool)
    pattern[bar[on_grid], np.round(step[on_grid]).astype(int) % len(weights)] = True
    if not pattern.any():
        return 0.0
    return float(lhl_syncopation(pattern, weights).mean())


def _occupancy(grid: _Grid, voices: Sequence[Onsets]) -> np.ndarray:
    """Share of bars with an onset (any voice) at each fine-grid position, shape ``(beats_per_bar * FINE_STEPS,)``."""
    steps = grid.beats_per_bar * FINE_STEPS
    filled = np.zeros((grid.n_bars, steps), dtype=bool)
    for v in voices:
        bar, position = grid.place(v.times)
        step = position * FINE_STEPS
        ok = (bar >= 0) & (np.abs(step - np.round(step)) <= GRID_TOLERANCE)
        filled[bar[ok], np.round(step[ok]).astype(int) % steps] = True
    return filled.mean(axis=0)


def _polyrhythm(grid: _Grid, voices: Sequence[Onsets], *, subdivision: int) -> tuple[str | None, float]:
    voices = list(voices)
    if grid.n_bars < 2 or not voices:
        return None, 0.0
    occupancy = _occupancy(grid, voices)
    steps = len(occupancy)
    sub_step = FINE_STEPS // subdivision
    pulses = [n for n in range(2, steps // sub_step + 1) if steps % n == 0]
    best: tuple[float, int, str] | None = None
    for p in pulses:
        cross = np.arange(p) * (steps // p)
        if np.all(cross % sub_step == 0):
            continue  # on the meter's own subdivision grid: not a cross-rhythm
        for q in pulses:
            metrical = np.arange(q) * (steps // q)
            g = math.gcd(p, q)
            a, b = p // g, q // g
            if np.any(metrical % sub_step) or min(a, b) < 2:  # off the meter, or a mere subdivision (a:1)
                continue
            score = float(occupancy[np.union1d(cross, metrical)].min())
            candidate = (score, -(a + b), f"{a}:{b}")
            if score >= MIN_POLY_OCCUPANCY and (best is None or candidate[:2] > best[:2]):
                best = candidate
    return (best[2], best[0]) if best else (None, 0.0)


def _swing_ratio(grid: _Grid, voices: Mapping[str, Onsets]) -> float | None:
    name = next((v for v in SWING_VOICES if v in voices and len(voices[v].times)), None)
    if name is None:
        name = next((k for k, v in voices.items() if len(v.times)), None)
    if name is None:
        return None
    onsets = voices[name]
    beats = grid.beat_times
    index = np.interp(onsets.times, beats, np.arange(len(beats), dtype=float), left=-1.0, right=-1.0)
    fraction = index - np.floor(index)
    best: dict[int, tuple[float, float]] = {}
    for i, f, s in zip(np.floor(index).astype(int), fraction, onsets.strengths, strict=True):
        if i >= 0 and 0.4 <= f <= 0.8 and s > best.get(i, (0.0, -1.0))[1]:
            best[i] = (float(f), float(s))
    if len(best) < MIN_SWING_BEATS:
        return None
    f = float(np.median([v[0] for v in best.values()]))
    return f / (1.0 - f)


def _complexity(syncopation: float | None, note_density: float, poly_conf: float, meter_conf: float) -> float:
    s = min((syncopation or 0.0) / SYNCOPATION_REF, 1.0)
    d = min(note_density / DENSITY_REF, 1.0)
    value = 0.4 * s + 0.2 * d + 0.25 * poly_conf + 0.15 * (1.0 - meter_conf)
    return float(np.clip(value, 0.0, 1.0))
