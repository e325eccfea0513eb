"""Small progressions and scores whose harmony is known by construction, for tests and benches.

``progression_chords`` turns Roman-numeral figures into chord segments (what the audio chord
recogniser would ideally output); ``progression_score`` realises the same figures as a four-voice
music21 score (bass on the figure's bass note, three upper voices in close position, voice-led to the
nearest position), which ``write_score`` saves as MIDI or MusicXML and ``progression_audio`` renders
with the additive synth.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from music21 import chord as m21chord
from music21 import key as m21key
from music21 import meter as m21meter
from music21 import roman as m21roman
from music21 import stream as m21stream
from music21 import tempo as m21tempo

from ostinato.analysis.tonal import ChordSegment
from ostinato.demo.synth import NoteEvent, render_notes
from ostinato.theory.chords import QUALITY_OF_INTERVALS
from ostinato.theory.score_formats import WRITE_FORMATS


def realise(figure: str, key: str) -> tuple[int, str, int, list[int]]:
    """Root pitch class, quality name, bass pitch class and pitch classes of ``figure`` in music21 ``key``
    (``"C"`` major, ``"a"`` minor)."""
    rn = m21roman.RomanNumeral(figure, m21key.Key(key))
    root = rn.root().pitchClass
    intervals = frozenset((p - root) % 12 for p in rn.pitchClasses)
    quality = QUALITY_OF_INTERVALS.get(intervals)
    if quality is None:
        raise ValueError(f"figure {figure!r} in {key} is not a chord of CHORD_INTERVALS")
    return root, quality, rn.bass().pitchClass, sorted(set(rn.pitchClasses))


def progression_chords(
    figures: Sequence[str], *, key: str = "C", seconds_per_chord: float = 2.0, start_s: float = 0.0,
    durations: Sequence[float] | None = None,
) -> list[ChordSegment]:
    """One chord segment per figure (bass set for inversions); ``durations`` in chords overrides the lengths."""
    out, t = [], start_s
    for i, figure in enumerate(figures):
        root, quality, bass, _ = realise(figure, key)
        length = seconds_per_chord * (durations[i] if durations is not None else 1.0)
        out.append(ChordSegment(t, t + length, root, quality, bass))
        t += length
    return out


def _voicing(figure: str, key: str, previous: list[int] | None) -> list[int]:
    """MIDI pitches: the bass in octave 2-3 and the chord's tones above middle C, nearest to ``previous``."""
    rn = m21roman.RomanNumeral(figure, m21key.Key(key))
    bass = 36 + (rn.bass().pitchClass - 0) % 12
    bass = bass + 12 if bass < 40 else bass
    pcs = sorted({p.pitchClass for p in rn.pitches})
    candidates = []
    for base in range(58, 70):
        upper = sorted(base + (pc - base) % 12 for pc in pcs)
        candidates.append(upper)
    if previous is None:
        upper = min(candidates, key=lambda u: abs(u[0] - 62))
    else:
        upper = min(candidates, key=lambda u: sum(abs(a - b) for a, b in zip(u, previous[1:], strict=False)))
    return [bass, *upper]


def progression_score(
    figures: Sequence[str], *, key: str = "C", meter: str = "4/4", beats_per_chord: float = 4.0,
    bpm: float = 100.0, durations: Sequence[float] | None = None,
) -> m21stream.Score:
    """A one-part score of block chords, one per figure (``durations`` in chords scale each),
    with key signature, time signature and metronome mark."""
    part = m21stream.Part()
    part.append(m21tempo.MetronomeMark(number=bpm))
    part.append(m21meter.TimeSignature(meter))
    part.append(m21key.Key(key))
    previous = None
    for i, figure in enumerate(figures):
        previous = _voicing(figure, key, previous)
        c = m21chord.Chord(previous)
        c.quarterLength = beats_per_chord * (durations[i] if durations is not None else 1.0)
        part.append(c)
    score = m21stream.Score([part])
    return score.makeNotation()


def write_score(score: m21stream.Score, path: str | Path) -> Path:
    """Write ``score`` to ``path``; the format follows the extension (.mid/.midi, .musicxml/.xml/.mxl)."""
    path = Path(path)
    score.write(WRITE_FORMATS[path.suffix.lower()], fp=str(path))
    return path


def score_notes(score: m21stream.Score, *, bpm: float) -> list[NoteEvent]:
    """Every note of ``score`` as a NoteEvent at a constant ``bpm`` (quarter-note beats)."""
    beat_s = 60.0 / bpm
    out = []
    for n in score.flatten().notes:
        pitches = n.pitches if isinstance(n, m21chord.Chord) else [n.pitch]
        for p in pitches:
            out.append(NoteEvent(float(n.offset) * beat_s, float(n.quarterLength) * beat_s, float(p.midi),
                                 1.0 / max(len(pitches), 1)))
    return out


def progression_audio(
    figures: Sequence[str], *, key: str = "C", bpm: float = 100.0, beats_per_chord: float = 4.0, sr: int = 22050,
    durations: Sequence[float] | None = None,
) -> np.ndarray:
    """The ``progression_score`` rendered by the additive synth: mono float32 at ``sr`` Hz, plus 0.5 s of tail."""
    score = progression_score(figures, key=key, bpm=bpm, beats_per_chord=beats_per_chord, durations=durations)
    notes = score_notes(score, bpm=bpm)
    end = max(n.onset_s + n.duration_s for n in notes)
    return render_notes(notes, sr=sr, total_s=end + 0.5, decay_per_s=0.8)


def abc_tune(*, title: str = "test", meter: str = "4/4", key: str = "C", body: str) -> str:
    """A minimal ABC tune text (``body`` in ABC note syntax with unit length 1/4)."""
    return f"X:1\nT:{title}\nM:{meter}\nL:1/4\nQ:1/4=100\nK:{key}\n{body}\n"


