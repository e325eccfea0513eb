"""Chords from the deep chroma network: the harmony under a melody, no chord where there is none."""

import numpy as np
import pytest

from ostinato.analysis import deep_chroma as dc
from ostinato.analysis.madmom_import import import_madmom
from ostinato.analysis.tonal import recognize_chords
from ostinato.demo import synth

SR = 22050


def _chords(y: np.ndarray, step_s: float = 0.5):
    chroma = dc.deep_chroma(y, sr=SR)
    times = np.arange(chroma.shape[1]) / dc.FPS
    beats = np.arange(0.0, times[-1], step_s)
    return recognize_chords(chroma=chroma, frame_times=times, beat_times=beats, vocabulary="sevenths",
                            self_transition=0.3, partials=False, min_peak=dc.NO_CHORD_PEAK)


def _share(segments, root_pc: int, quality: str, start: float, end: float) -> float:
    """Share of [start, end) seconds labelled ``root_pc:quality``."""
    hit = sum(max(0.0, min(s.end_s, end) - max(s.start_s, start)) for s in segments
              if (s.root_pc, s.quality) == (root_pc, quality))
    return hit / (end - start)


def _melody_over_chords(progression, *, seconds_per_chord: float = 2.0) -> np.ndarray:
    """Held triads (octave 3) under a louder melody running up each chord's scale in eighths (octave 5)."""
    notes = []
    for i, (root, quality) in enumerate(progression):
        start = i * seconds_per_chord
        for p in synth.chord_pitches(root, quality, octave=3):
            notes.append(synth.NoteEvent(start, seconds_per_chord, p, 0.25))
        scale = [0, 2, 4, 5, 7, 9, 11, 12] if quality == "maj" else [0, 2, 3, 5, 7, 8, 10, 12]
        for k in range(int(seconds_per_chord / 0.25)):
            notes.append(synth.NoteEvent(start + 0.25 * k, 0.25, 72 + root + scale[k % len(scale)], 0.6))
    return synth.render_notes(notes, sr=SR)


def test_matches_madmoms_processor():
    import_madmom("test")
    import soxr
    from madmom.audio.chroma import DeepChromaProcessor

    y = _melody_over_chords([(9, "maj"), (2, "maj")])
    reference = DeepChromaProcessor()(soxr.resample(y, SR, 44100).astype(np.float32))
    ours = dc.deep_chroma(y, sr=SR).T
    n = min(len(reference), len(ours))
    assert abs(len(reference) - len(ours)) <= 1
    assert np.abs(reference[:n] - ours[:n]).max() < 0.02


def test_harmony_not_melody():
    # I-vi-IV-V in A with a scale melody on top: spectral chroma reads the melody notes as chords.
    progression = [(9, "maj"), (6, "min"), (2, "maj"), (4, "maj")]
    segments = _chords(_melody_over_chords(progression))
    for i, (root, quality) in enumerate(progression):
        assert _share(segments, root, quality, 2.0 * i + 0.5, 2.0 * i + 2.0) >= 0.6, (root, quality, segments)


def test_no_chord_on_drums_alone():
    drums = synth.drum_groove(110, 6, sr=SR)
    segments = _chords(drums)
    voiced = sum(s.end_s - s.start_s for s in segments if s.root_pc >= 0)
    assert voiced / segments[-1].end_s < 0.2


def test_chords_under_loud_drums_are_still_chords():
    progression = [(0, "maj"), (9, "min"), (5, "maj"), (7, "maj")]
    chords = synth.render_chords(
        [(2.0 * i, 2.0 * (i + 1), synth.chord_pitches(r, q, octave=3)) for i, (r, q) in enumerate(progression)], sr=SR
    )
    drums = synth.drum_groove(120, 4, sr=SR)
    n = min(len(chords), len(drums))
    segments = _chords(synth.mix(chords[:n], drums[:n], gains=[1.0, 1.0]))
    for i, (root, quality) in enumerate(progression):
        assert _share(segments, root, quality, 2.0 * i + 0.5, 2.0 * i + 2.0) >= 0.6, (root, quality, segments)


def test_silence_is_no_chord():
    segments = _chords(np.zeros(6 * SR, np.float32))
    assert all(s.root_pc == -1 for s in segments)


@pytest.mark.parametrize("frame_s", [0.0, 0.05, 0.1, 1.23])
def test_on_frames_holds_nearest_frame(frame_s):
    chroma = np.arange(12 * 20, dtype=np.float32).reshape(12, 20)
    held = dc.on_frames(chroma, np.array([frame_s]))
    assert np.array_equal(held[:, 0], chroma[:, int(round(frame_s * dc.FPS))])
