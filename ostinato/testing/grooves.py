"""Synthetic grooves with known rhythm: meters, swing, syncopation and polyrhythm.

Every function returns mono ``float32`` at ``sr`` Hz (peak-normalised by :func:`ostinato.demo.synth.normalize`)
together with, where useful, the truth it was built from. Times are in seconds; ``bpm`` is always the tempo of
the *counted beat* (the quarter note in 2/4, 3/4, 4/4; the dotted quarter in 6/8 and 12/8).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ostinato.demo import synth
from ostinato.theory.meter import COMMON_METERS, METERS

#: Meter -> (beats per bar, subdivisions per beat).

#: Chord roots (pitch classes) cycled one per bar, so bar starts also carry a harmonic change.
_BAR_ROOTS = (0, 7, 9, 5)


@dataclass(frozen=True)
class Groove:
    """A rendered groove and its truth.

    Attributes
    ----------
    y : np.ndarray [shape=(n,), float32]
        The mix.
    sr : int
        Sample rate, Hz.
    beat_times : np.ndarray [shape=(n_beats,)]
        Counted beats, seconds.
    downbeat_times : np.ndarray [shape=(n_bars,)]
        First beat of every bar, seconds.
    meter : str
        E.g. ``"6/8"``.
    voices : dict[str, np.ndarray]
        Each voice rendered alone (same length as ``y``), as separated stems would be.
    """

    y: np.ndarray
    sr: int
    beat_times: np.ndarray
    downbeat_times: np.ndarray
    meter: str
    voices: dict[str, np.ndarray]


def _silence(seconds: float, sr: int) -> np.ndarray:
    return np.zeros(int(round(seconds * sr)) + 1, dtype=np.float32)


def _pad_chords(
    times: np.ndarray, bar_s: float, total: int, *, sr: int, attack_s: float, roots: Sequence[int] = _BAR_ROOTS
) -> np.ndarray:
    """One sustained triad per bar (roots cycling through ``roots``), attack ``attack_s``."""
    pad = np.zeros(total, dtype=np.float32)
    for i, t in enumerate(times):
        for p in synth.chord_pitches(roots[i % len(roots)], "maj", octave=3):
            note = synth.tone(p, bar_s, sr=sr, attack_s=attack_s, release_s=min(0.1, bar_s / 4)) / 3
            synth.place(pad, note, t, sr=sr)
    return pad


def meter_groove(
    meter: str,
    *,
    bpm: float,
    bars: int,
    sr: int,
    offset_s: float = 0.5,
    soft: bool = False,
) -> Groove:
    """Drums and a chord per bar in ``meter`` (one of ``theory.meter.COMMON_METERS``).

    Chords cycle I-V-vi-IV in C (one chord re-struck in two-beat bars); kick on the downbeat (and on beat 3
    of 4/4 and 12/8, softer), snare on the other counted beats, hi-hat on every subdivision (eighths, or
    triplet eighths in compound meters) with the first of each beat louder.
    ``soft=True`` replaces the drums by pads and mallet-like tones with 60 ms attacks (no sharp onsets), as
    in ambient or string music, which defeats onset detectors tuned to percussion.
    """
    if meter not in COMMON_METERS:
        raise ValueError(f"unknown meter {meter!r}; known: {list(COMMON_METERS)}")
    bpb, sub = METERS[meter].beats_per_bar, METERS[meter].division
    beat_s = 60.0 / bpm
    bar_s = bpb * beat_s
    total = int(round((offset_s + bars * bar_s + 0.5) * sr))
    beats = offset_s + beat_s * np.arange(bars * bpb)
    downbeats = beats[::bpb]
    drums = np.zeros(total, dtype=np.float32)
    k, s, h = synth.kick(sr=sr), synth.snare(sr=sr), synth.hihat(sr=sr)
    for i, t in enumerate(beats):
        pos = i % bpb
        if soft:
            pitch = 79 if pos == 0 else 74
            synth.place(drums, synth.tone(pitch, 0.4 * beat_s, sr=sr, attack_s=0.06, decay_per_s=4.0), t, sr=sr,
                        gain=1.0 if pos == 0 else 0.6)
            for j in range(1, sub):
                synth.place(drums, synth.tone(72, 0.3 * beat_s, sr=sr, attack_s=0.06, decay_per_s=4.0),
                            t + j * beat_s / sub, sr=sr, gain=0.35)
            continue
        if pos == 0:
            synth.place(drums, k, t, sr=sr)
        elif bpb == 4 and pos == 2:
            synth.place(drums, k, t, sr=sr, gain=0.6)
        else:
            synth.place(drums, s, t, sr=sr)
        for j in range(sub):
            synth.place(drums, h, t + j * beat_s / sub, sr=sr, gain=1.0 if j == 0 else 0.5)
    # Two-beat bars re-strike one chord: any chord cycle accents every second bar differently (level,
    # amount of change), which is a 4-beat (or 12/8) bar in its own right.
    pad = _pad_chords(downbeats, bar_s, total, sr=sr, attack_s=0.08 if soft else 0.01,
                      roots=(0,) if bpb == 2 else _BAR_ROOTS)
    y = synth.mix(drums, pad, gains=[1.0, 0.6])
    return Groove(y, sr, beats, downbeats, meter, {"drums": drums, "other": pad})


def soft_pad_groove(
    *, bpm: float, beats: int, sr: int, attack_s: float = 0.2, lead_silence_s: float = 5.0, noise_dbfs: float = -60.0
) -> Groove:
    """Triads re-struck on every beat with a slow linear fade-in of ``attack_s`` and no percussion, after
    ``lead_silence_s`` of silence; white noise at ``noise_dbfs`` runs throughout (a tape/dither floor).

    The chord changes every 4 beats (I-V-vi-IV in C) and each bar's first chord is 3 dB louder.
    """
    beat_s = 60.0 / bpm
    total = int(round((lead_silence_s + beats * beat_s + 1.0) * sr))
    times = lead_silence_s + beat_s * np.arange(beats)
    y = np.zeros(total, dtype=np.float32)
    for i, t in enumerate(times):
        for p in synth.chord_pitches(_BAR_ROOTS[(i // 4) % 4], "maj", octave=4):
            note = synth.tone(p, 0.95 * beat_s, sr=sr, attack_s=attack_s, release_s=0.1) / 3
            synth.place(y, note, t, sr=sr, gain=1.0 if i % 4 == 0 else 0.7)
    noise = np.random.default_rng(0).standard_normal(total) * 10 ** (noise_dbfs / 20)
    y = synth.normalize(y) + noise.astype(np.float32)
    return Groove(y, sr, times, times[::4], "4/4", {"other": y})


def swing_groove(*, bpm: float, bars: int, sr: int, ratio: float, offset_s: float = 0.5) -> Groove:
    """4/4 drums (:func:`ostinato.demo.synth.drum_groove`) whose off-beat hi-hats make a long:short ``ratio``.

    ``ratio`` 1 is straight eighths, 2 the triplet swing of jazz and shuffle (first eighth 2/3 of the beat).
    """
    swing = ratio / (1.0 + ratio)
    y = synth.drum_groove(bpm, bars, sr=sr, swing=swing, offset_s=offset_s)
    beats = offset_s + 60.0 / bpm * np.arange(bars * 4)
    return Groove(y, sr, beats, beats[::4], "4/4", {"drums": y})


def polyrhythm_groove(
    *, bpm: float, bars: int, sr: int, a: int = 3, b: int = 2, offset_s: float = 0.5, beats_per_bar: int = 4
) -> Groove:
    """Two voices over one bar: ``a`` evenly spaced high notes against ``b`` evenly spaced low notes.

    Voice ``"other"`` plays the ``a`` pulse (a marimba-like tone), voice ``"bass"`` the ``b`` pulse, and a
    quiet click marks every counted beat in ``"drums"`` so that the beat is still defined.
    """
    beat_s = 60.0 / bpm
    bar_s = beats_per_bar * beat_s
    total = int(round((offset_s + bars * bar_s + 0.5) * sr))
    beats = offset_s + beat_s * np.arange(bars * beats_per_bar)
    high, low, clicks = (np.zeros(total, dtype=np.float32) for _ in range(3))
    for bar in range(bars):
        t0 = offset_s + bar * bar_s
        for j in range(a):
            synth.place(high, synth.tone(76, 0.15, sr=sr, decay_per_s=12.0), t0 + j * bar_s / a, sr=sr)
        for j in range(b):
            synth.place(low, synth.tone(40, 0.3, sr=sr, decay_per_s=8.0), t0 + j * bar_s / b, sr=sr)
    for i, t in enumerate(beats):
        synth.place(clicks, synth.click(sr=sr), t, sr=sr, gain=0.6 if i % beats_per_bar == 0 else 0.3)
    y = synth.mix(high, low, clicks)
    return Groove(y, sr, beats, beats[::beats_per_bar], f"{beats_per_bar}/4",
                  {"other": high, "bass": low, "drums": clicks})


#: Sixteenth-note patterns of one 4/4 bar (1 = onset) used by the syncopation tests.
ON_BEAT = (1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0)
#: The 3-3-2 "tresillo" figure plus an anticipation of the next downbeat: a classic syncopated bass line.
SYNCOPATED = (1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0)


def pattern_groove(
    pattern: Sequence[int], *, bpm: float, bars: int, sr: int, offset_s: float = 0.5
) -> Groove:
    """A bass-drum ``pattern`` of sixteenths over a steady hi-hat on every beat (which fixes the beat).

    ``voices["drums"]`` holds the hi-hat and ``voices["bass"]`` the pattern alone.
    """
    steps = len(pattern)
    beat_s = 60.0 / bpm
    bar_s = 4 * beat_s
    total = int(round((offset_s + bars * bar_s + 0.5) * sr))
    beats = offset_s + beat_s * np.arange(bars * 4)
    hats, bass = np.zeros(total, dtype=np.float32), np.zeros(total, dtype=np.float32)
    for t in beats:
        synth.place(hats, synth.hihat(sr=sr), t, sr=sr)
    for bar in range(bars):
        for j, on in enumerate(pattern):
            if on:
                synth.place(bass, synth.tone(38, 0.2, sr=sr, decay_per_s=10.0),
                            offset_s + bar * bar_s + j * bar_s / steps, sr=sr)
    y = synth.mix(hats, bass)
    return Groove(y, sr, beats, beats[::4], "4/4", {"drums": hats, "bass": bass})


def with_leading_silence(groove: Groove, seconds: float) -> Groove:
    """The same groove after ``seconds`` of digital silence (truth times shifted accordingly)."""
    pad = _silence(seconds, groove.sr)[:-1]
    return Groove(
        np.concatenate([pad, groove.y]), groove.sr, groove.beat_times + seconds, groove.downbeat_times + seconds,
        groove.meter, {k: np.concatenate([pad, v]) for k, v in groove.voices.items()},
    )
