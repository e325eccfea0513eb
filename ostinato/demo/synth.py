"""Additive synthesis of test signals whose musical truth is known by construction.

All signals are mono ``float32`` arrays at sample rate ``sr`` (Hz), peak-normalised to at most 1.
Times are in seconds, pitches in MIDI note numbers (60 = middle C, 69 = A4 = 440 Hz).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ostinato.theory.chords import CHORD_INTERVALS


def midi_to_hz(midi: float | np.ndarray) -> float | np.ndarray:
    """Equal-tempered frequency in Hz of a MIDI note number (A4 = 69 = 440 Hz)."""
    return 440.0 * 2.0 ** ((np.asarray(midi, dtype=float) - 69.0) / 12.0)


def tone(
    midi: float,
    duration_s: float,
    *,
    sr: int,
    harmonics: Sequence[float] = (1.0, 0.5, 0.33, 0.25, 0.2),
    attack_s: float = 0.01,
    release_s: float = 0.08,
    decay_per_s: float = 0.0,
) -> np.ndarray:
    """A harmonic tone of ``duration_s`` seconds with a linear attack/release envelope.

    ``harmonics[k]`` is the amplitude of partial ``k + 1``; partials above Nyquist are dropped.
    ``decay_per_s`` adds an exponential decay (plucked/piano-like) on top of the envelope.
    Returns shape ``(round(duration_s * sr),)``.
    """
    n = max(int(round(duration_s * sr)), 1)
    t = np.arange(n) / sr
    f0 = float(midi_to_hz(midi))
    y = np.zeros(n)
    for k, amp in enumerate(harmonics, start=1):
        if f0 * k < sr / 2:
            y += amp * np.sin(2 * np.pi * f0 * k * t)
    env = np.ones(n)
    n_att = min(int(attack_s * sr), n)
    n_rel = min(int(release_s * sr), n - n_att)
    if n_att:
        env[:n_att] = np.linspace(0, 1, n_att)
    if n_rel:
        env[n - n_rel :] *= np.linspace(1, 0, n_rel)
    if decay_per_s:
        env *= np.exp(-decay_per_s * t)
    return (y * env).astype(np.float32)


def chord_pitches(root_pc: int, quality: str, *, octave: int = 4) -> list[int]:
    """MIDI pitches of a root-position chord: pitch class ``root_pc`` (0 = C) in ``octave`` (4 = middle C's)."""
    if quality not in CHORD_INTERVALS:
        raise ValueError(f"unknown chord quality {quality!r}; known: {sorted(CHORD_INTERVALS)}")
    root = 12 * (octave + 1) + root_pc % 12
    return [root + i for i in CHORD_INTERVALS[quality]]


@dataclass(frozen=True)
class NoteEvent:
    """One note: onset and duration in seconds, MIDI pitch, linear gain."""

    onset_s: float
    duration_s: float
    midi: float
    gain: float = 1.0


def render_notes(
    notes: Sequence[NoteEvent],
    *,
    sr: int,
    total_s: float | None = None,
    harmonics: Sequence[float] = (1.0, 0.5, 0.33, 0.25, 0.2),
    decay_per_s: float = 0.0,
) -> np.ndarray:
    """Mix note events into one signal of ``total_s`` seconds (default: end of the last note)."""
    end = max((n.onset_s + n.duration_s for n in notes), default=0.0)
    y = np.zeros(int(round((total_s if total_s is not None else end) * sr)) + 1, dtype=np.float32)
    for note in notes:
        start = int(round(note.onset_s * sr))
        if start >= len(y):
            continue
        piece = note.gain * tone(note.midi, note.duration_s, sr=sr, harmonics=harmonics, decay_per_s=decay_per_s)
        stop = min(start + len(piece), len(y))
        y[start:stop] += piece[: stop - start]
    return normalize(y)


def render_chords(
    chords: Sequence[tuple[float, float, Sequence[int]]],
    *,
    sr: int,
    total_s: float | None = None,
) -> np.ndarray:
    """Block chords: each ``(start_s, end_s, midi_pitches)`` sounds its pitches for its span."""
    notes = [NoteEvent(s, e - s, p, 1.0 / len(ps)) for s, e, ps in chords for p in ps]
    return render_notes(notes, sr=sr, total_s=total_s)


def click(*, sr: int, freq_hz: float = 1500.0, duration_s: float = 0.03) -> np.ndarray:
    """A short decaying sine burst, the sound of a metronome tick."""
    t = np.arange(int(duration_s * sr)) / sr
    return (np.sin(2 * np.pi * freq_hz * t) * np.exp(-t * 150.0)).astype(np.float32)


def click_track(
    bpm: float,
    duration_s: float,
    *,
    sr: int,
    beats_per_bar: int = 4,
    offset_s: float = 0.0,
    accent: float = 2.0,
) -> np.ndarray:
    """Metronome clicks every ``60 / bpm`` seconds from ``offset_s``; each bar's first click is ``accent`` x louder
    and higher. Returns shape ``(round(duration_s * sr),)``."""
    y = np.zeros(int(round(duration_s * sr)), dtype=np.float32)
    for i, t in enumerate(beat_times(bpm, duration_s, offset_s=offset_s)):
        strong = i % beats_per_bar == 0
        c = click(sr=sr, freq_hz=2000.0 if strong else 1500.0) * (accent if strong else 1.0)
        start = int(round(t * sr))
        stop = min(start + len(c), len(y))
        y[start:stop] += c[: stop - start]
    return normalize(y)


def beat_times(bpm: float, duration_s: float, *, offset_s: float = 0.0) -> np.ndarray:
    """Times in seconds of every beat at ``bpm`` from ``offset_s`` up to ``duration_s``."""
    return np.arange(offset_s, duration_s - 1e-9, 60.0 / bpm)


def kick(*, sr: int, duration_s: float = 0.25) -> np.ndarray:
    """Bass drum: a sine sweeping from 120 Hz to 45 Hz with an exponential decay."""
    t = np.arange(int(duration_s * sr)) / sr
    freq = 45.0 + 75.0 * np.exp(-t * 30.0)
    phase = 2 * np.pi * np.cumsum(freq) / sr
    return (np.sin(phase) * np.exp(-t * 12.0)).astype(np.float32)


def snare(*, sr: int, duration_s: float = 0.18, seed: int = 0) -> np.ndarray:
    """Snare drum: seeded white noise plus a 190 Hz body, fast decay."""
    t = np.arange(int(duration_s * sr)) / sr
    noise = np.random.default_rng(seed).standard_normal(len(t))
    return ((0.7 * noise + 0.5 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t * 25.0)).astype(np.float32) * 0.6


def hihat(*, sr: int, duration_s: float = 0.05, seed: int = 1) -> np.ndarray:
    """Closed hi-hat: first-difference (high-passed) seeded noise with a very fast decay."""
    t = np.arange(int(duration_s * sr)) / sr
    noise = np.diff(np.random.default_rng(seed).standard_normal(len(t) + 1))
    return (noise * np.exp(-t * 80.0)).astype(np.float32) * 0.25


def place(y: np.ndarray, hit: np.ndarray, time_s: float, *, sr: int, gain: float = 1.0) -> None:
    """Add ``hit`` into ``y`` in place, starting at ``time_s``; whatever falls past the end is dropped."""
    start = int(round(time_s * sr))
    if start >= len(y):
        return
    stop = min(start + len(hit), len(y))
    y[start:stop] += gain * hit[: stop - start]


def drum_groove(
    bpm: float,
    bars: int,
    *,
    sr: int,
    beats_per_bar: int = 4,
    swing: float = 0.5,
    offset_s: float = 0.0,
) -> np.ndarray:
    """Kick on beats 1 (and 3 in 4/4), snare on the other even beats, hi-hat on every eighth.

    ``swing`` is the share of the beat taken by the first eighth: 0.5 is straight, 2/3 a triplet swing.
    """
    beat_s = 60.0 / bpm
    y = np.zeros(int(round((offset_s + bars * beats_per_bar * beat_s) * sr)) + 1, dtype=np.float32)
    k, s, h = kick(sr=sr), snare(sr=sr), hihat(sr=sr)
    for b in range(bars * beats_per_bar):
        t = offset_s + b * beat_s
        pos = b % beats_per_bar
        if pos == 0 or (beats_per_bar == 4 and pos == 2):
            place(y, k, t, sr=sr)
        elif pos % 2 == 1:
            place(y, s, t, sr=sr)
        place(y, h, t, sr=sr)
        place(y, h, t + swing * beat_s, sr=sr, gain=0.7)
    return normalize(y)


def mix(*signals: np.ndarray, gains: Sequence[float] | None = None) -> np.ndarray:
    """Sum signals of possibly different lengths (zero-padded to the longest), then peak-normalise."""
    gains = gains or [1.0] * len(signals)
    out = np.zeros(max(len(s) for s in signals), dtype=np.float32)
    for sig, g in zip(signals, gains, strict=True):
        out[: len(sig)] += g * sig
    return normalize(out)


def normalize(y: np.ndarray, *, peak: float = 0.9) -> np.ndarray:
    """Scale so that the largest absolute sample is ``peak``; silence stays silence."""
    m = float(np.max(np.abs(y))) if len(y) else 0.0
    return (y * (peak / m)).astype(np.float32) if m > 0 else y.astype(np.float32)
