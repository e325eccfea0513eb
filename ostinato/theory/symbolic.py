"""Scores (MIDI, MusicXML, ABC) to the same musical description audio gets, from their exact notes.

A score is parsed with music21; its notes (percussion left out) are laid on a beat grid taken from the
score's measures and time signatures, and on a clock taken from its metronome marks (120 quarter notes
per minute where there is none), so every time is in seconds like audio's. Then:

* **chords**: each half beat's pitch classes weighted by how long they sound in it (and the lowest
  sounding note's pitch class as the bass) go through the same template matcher and HMM as audio chroma
  (``analysis.tonal.recognize_chords``, ``sevenths`` vocabulary, bare pitch-class templates);
* **key**: the same key-profile correlation as audio (``analysis.tonal.estimate_key``) over the pitch
  classes' summed durations, averaged with the chords' tones, plus a bonus for the last chord's root
  (a score ends on its tonic: that tells A minor from C major in BWV 65.2);
* **phrase ends**: the end of each fermata note (chorales mark phrase ends that way) and the end of
  the piece, for cadences.

Everything downstream (Roman numerals, local keys, progressions, cadences, ...) is the harmony stage
that audio uses, so scores and recordings get identical columns by identical rules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from ostinato.analysis.tonal import ChordSegment, KeyEstimate, estimate_key, recognize_chords
from ostinato.errors import AnalysisError
from ostinato.theory.score_formats import SCORE_FORMATS

DEFAULT_QPM = 120.0
#: Key bonus for the last chord's root: a score ends, on its tonic (see ``analysis.tonal.estimate_key``).
FINAL_ROOT_BONUS = 0.1


@dataclass(frozen=True)
class ScoreBeat:
    """One beat: time in seconds, bar index (0 = first full bar, -1 = pickup) and position (1 = downbeat)."""

    time_s: float
    bar: int
    position: int


@dataclass(frozen=True)
class ScoreDescription:
    """What a score says, in the units audio analysis uses (seconds, pitch classes)."""

    duration_s: float
    tempo_bpm: float  # beats (of the time signature) per minute at the first metronome mark
    meter: str
    beats_per_bar: int
    beats: list[ScoreBeat]
    key: KeyEstimate
    chords: list[ChordSegment]
    phrase_ends: list[float]
    n_notes: int
    onset_rate: float  # distinct note onsets per second, all voices together
    part_onsets: dict[str, np.ndarray] = field(default_factory=dict)  # distinct onsets of each part, seconds
    title: str | None = None
    composer: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def downbeat_times(self) -> np.ndarray:
        """Times of the first beat of every bar, seconds."""
        return np.array([b.time_s for b in self.beats if b.position == 1 and b.bar >= 0])


def is_symbolic(path: str) -> bool:
    """True when the path's extension is one of ``SCORE_FORMATS``."""
    return os.path.splitext(path)[1].lower() in SCORE_FORMATS


def parse_score(path: str):
    """Parse a local score file with music21; the first tune of a multi-tune file (ABC, opus).

    Raises ``AnalysisError`` with music21's complaint when the file is not a readable score.
    """
    from music21 import converter, stream

    try:
        parsed = converter.parse(path, forceSource=True)
    except Exception as exc:  # music21 raises many unrelated types for unreadable input
        raise AnalysisError(f"cannot read the score ({type(exc).__name__}: {exc})") from None
    if isinstance(parsed, stream.Opus):
        if not parsed.scores:
            raise AnalysisError("the file holds no tune")
        parsed = parsed.scores[0]
    return parsed


def describe_score(
    score, *, self_transition: float = 0.8, vocabulary: str = "sevenths", steps_per_beat: int = 2
) -> ScoreDescription:
    """Beats, key, chords and phrase ends of a music21 score (see the module docstring).

    Chords are decided on ``steps_per_beat`` equal steps of every beat (2: eighth notes in 4/4, where Bach
    changes harmony) and smoothed by the chord HMM with ``self_transition``, its probability of keeping a
    chord over half a second. On the 19 chorales of ``bench/theory.py``, half-beat steps at 0.8 against
    whole beats at 0.5 moved agreement with the human analyses from 0.872 to 0.874 (root and quality),
    0.762 to 0.786 (full chords), 0.547 to 0.573 (exact figures) and 0.65 to 0.71 (phrase-end cadences of
    the human type). Raises ``AnalysisError`` when the score has no pitched note or ``steps_per_beat`` < 1.
    """
    from music21 import chord as m21chord
    from music21 import expressions, meter
    from music21 import note as m21note

    if steps_per_beat < 1:
        raise AnalysisError(f"steps_per_beat must be at least 1, got {steps_per_beat}")

    flat = score.flatten()
    notes = []  # (onset_ql, duration_ql, midi)
    fermata_ends = []
    for n in flat.notes:
        if isinstance(n, m21chord.Chord) and type(n).__name__ == "PercussionChord":
            continue
        if isinstance(n, m21chord.Chord):
            pitches = n.pitches
        elif isinstance(n, m21note.Note):
            pitches = (n.pitch,)
        else:
            continue  # unpitched percussion
        onset, length = float(n.offset), float(n.quarterLength)
        if length <= 0:
            continue  # grace notes
        notes.extend((onset, length, int(round(p.ps))) for p in pitches)
        if any(isinstance(e, expressions.Fermata) for e in n.expressions):
            fermata_ends.append(onset + length)
    if not notes:
        raise AnalysisError("the score has no pitched note")
    end_ql = max(o + d for o, d, _ in notes)
    clock = ScoreClock(score)

    signatures = flat.getElementsByClass(meter.TimeSignature)
    ts = signatures[0] if signatures else meter.TimeSignature("4/4")
    beat_ql = float(ts.beatDuration.quarterLength)
    beats_ql = _beat_grid(score, end_ql, ts)

    onsets = np.array([o for o, _, _ in notes])
    ends = onsets + np.array([d for _, d, _ in notes])
    pcs = np.array([m % 12 for _, _, m in notes])
    midis = np.array([m for _, _, m in notes])
    beat_starts = np.array([b for b, _, _ in beats_ql])
    beat_ends = np.append(beat_starts[1:], end_ql)
    fractions = np.arange(steps_per_beat) / steps_per_beat
    edges = np.append((beat_starts[:, None] + fractions[None, :] * (beat_ends - beat_starts)[:, None]).ravel(), end_ql)
    n_steps = len(edges) - 1
    chroma, bass = np.zeros((12, n_steps + 1)), np.zeros((12, n_steps + 1))
    for k in range(n_steps):
        overlap = np.minimum(ends, edges[k + 1]) - np.maximum(onsets, edges[k])
        sounding = overlap > 1e-9
        if not sounding.any():
            continue
        np.add.at(chroma[:, k], pcs[sounding], overlap[sounding])
        lowest = sounding & (midis == midis[sounding].min())
        np.add.at(bass[:, k], pcs[lowest], overlap[lowest])
    times = np.array([clock.seconds(q) for q in edges])
    chords = recognize_chords(chroma=chroma, frame_times=times, vocabulary=vocabulary, partials=False,
                              self_transition=self_transition, bass_chroma=bass)
    chords = [c for c in chords if c.end_s - c.start_s > 1e-9]

    profile = np.zeros(12)
    np.add.at(profile, pcs, ends - onsets)
    beats = [ScoreBeat(clock.seconds(q), bar, pos) for q, bar, pos in beats_ql]
    metadata = score.metadata
    return ScoreDescription(
        duration_s=clock.seconds(end_ql),
        tempo_bpm=clock.first_qpm / beat_ql,
        meter=ts.ratioString,
        beats_per_bar=int(ts.beatCount),
        beats=beats,
        key=estimate_key(chroma=profile[:, None], chords=chords, final_root_bonus=FINAL_ROOT_BONUS),
        chords=chords,
        phrase_ends=sorted({clock.seconds(q) for q in fermata_ends} | {clock.seconds(end_ql)}),
        n_notes=len(notes),
        onset_rate=len({round(clock.seconds(o), 3) for o, _, _ in notes}) / max(clock.seconds(end_ql), 1e-9),
        part_onsets=_part_onsets(score, clock),
        title=(metadata.title if metadata is not None else None) or None,
        composer=(metadata.composer if metadata is not None else None) or None,
        warnings=[] if clock.marked else [f"the score has no tempo mark; {DEFAULT_QPM:.0f} quarter notes per minute"],
    )


def _part_onsets(score, clock: ScoreClock) -> dict[str, np.ndarray]:
    """Distinct note onsets (seconds) of each part, keyed by part name (``part1``, ... when unnamed): the
    voices whose interplay the rhythm theory measures, as stems are for audio."""
    onsets = {}
    for index, part in enumerate(score.parts or [score]):
        offsets = sorted({float(n.offset) for n in part.flatten().notes if float(n.quarterLength) > 0})
        name = part.partName or f"part{index + 1}"
        if name in onsets:
            name = f"{name}-{index + 1}"
        onsets[name] = np.array([clock.seconds(o) for o in offsets])
    return onsets


class ScoreClock:
    """Quarter-length offsets to seconds through the score's metronome marks (``DEFAULT_QPM`` without any)."""

    def __init__(self, score) -> None:
        from music21 import tempo

        marks = list(score.flatten().getElementsByClass(tempo.MetronomeMark))
        self.marked = bool(marks)
        spans = score.metronomeMarkBoundaries() if marks else []
        self.starts = [float(s) for s, _, _ in spans] or [0.0]
        self.qpm = [float(m.getQuarterBPM() or DEFAULT_QPM) for _, _, m in spans] or [DEFAULT_QPM]
        self.first_qpm = self.qpm[0]
        self.base = [0.0]
        for i in range(1, len(self.starts)):
            self.base.append(self.base[-1] + (self.starts[i] - self.starts[i - 1]) * 60.0 / self.qpm[i - 1])

    def seconds(self, offset_ql: float) -> float:
        i = max(int(np.searchsorted(self.starts, offset_ql, side="right")) - 1, 0)
        return self.base[i] + (offset_ql - self.starts[i]) * 60.0 / self.qpm[i]


def _beat_grid(score, end_ql: float, ts) -> list[tuple[float, int, int]]:
    """(offset_ql, bar, position) of every beat, from the first part's measures (a pickup is bar -1)."""
    measures = score.parts[0].getElementsByClass("Measure") if score.parts else []
    out: list[tuple[float, int, int]] = []
    bar = 0
    for m in measures:
        sig = m.timeSignature or ts
        beat_ql = float(sig.beatDuration.quarterLength)
        pad = float(m.paddingLeft or 0.0)
        length = float(m.duration.quarterLength)
        pickup = pad > 0 and not out
        k = 0
        while k * beat_ql < length - 1e-9:
            position = int(round((pad + k * beat_ql) / beat_ql)) + 1
            out.append((float(m.offset) + k * beat_ql, -1 if pickup else bar, position))
            k += 1
        if not pickup:
            bar += 1
        ts = sig
    if not out:  # no measures: a plain grid from 0
        beat_ql = float(ts.beatDuration.quarterLength)
        n = int(np.ceil(end_ql / beat_ql - 1e-9))
        out = [(k * beat_ql, k // int(ts.beatCount), k % int(ts.beatCount) + 1) for k in range(n)]
    return [b for b in out if b[0] < end_ql - 1e-9]
