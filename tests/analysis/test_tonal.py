import numpy as np
import pytest

from ostinato.analysis.rhythm import track_beats
from ostinato.analysis.spectral import compute_frame_features
from ostinato.analysis.tonal import (
    PITCH_CLASSES,
    ChordSegment,
    KeyEstimate,
    estimate_bass_chroma,
    estimate_key,
    estimate_tuning,
    recognize_chords,
)
from ostinato.demo import synth
from ostinato.errors import AnalysisError

SR = 22050


def _block_progression(chords: list[tuple[int, str]], *, transpose: int = 0, chord_s: float = 2.0) -> np.ndarray:
    spans = [
        (i * chord_s, (i + 1) * chord_s, synth.chord_pitches((r + transpose) % 12, q))
        for i, (r, q) in enumerate(chords)
    ]
    return synth.render_chords(spans, sr=SR)


def _song(
    chords: list[tuple[int, str]], *, bpm: float = 120.0, offset_s: float = 0.5, drum_gain: float = 0.5
) -> np.ndarray:
    """One chord per 4/4 bar: chord stabs on every beat, a bass root per bar and a drum groove."""
    beat = 60.0 / bpm
    notes = []
    for i, (root, quality) in enumerate(chords):
        t0 = offset_s + 4 * i * beat
        notes += [
            synth.NoteEvent(t0 + b * beat, 0.9 * beat, p, 0.3)
            for b in range(4)
            for p in synth.chord_pitches(root, quality)
        ]
        notes.append(synth.NoteEvent(t0, 3.8 * beat, 36 + root, 0.6))
    music = synth.render_notes(notes, sr=SR, total_s=offset_s + 4 * len(chords) * beat + 0.5, decay_per_s=1.5)
    drums = synth.drum_groove(bpm, len(chords), sr=SR, offset_s=offset_s)
    return synth.mix(music, drums, gains=[1.0, drum_gain])


def _key(y: np.ndarray) -> KeyEstimate:
    f = compute_frame_features(y, sr=SR)
    return estimate_key(chroma=f.chroma, weights=f.rms)


def test_c_major_cadence():
    key = _key(_block_progression([(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")]))
    assert key.label == "C major" and key.tonic_pc == 0 and key.mode == "major"
    assert 0.5 < key.strength <= 1.0


def test_a_minor_progression():
    key = _key(_block_progression([(9, "min"), (2, "min"), (4, "maj"), (9, "min")]))
    assert key.label == "A minor"


@pytest.mark.parametrize(
    ("transpose", "mode", "label"),
    [(7, "major", "G major"), (3, "major", "Eb major"), (9, "minor", "F# minor"), (1, "minor", "Bb minor")],
)
def test_transposed_keys(transpose, mode, label):
    # Major: I-IV-V-I from C; minor: i-iv-V-i from A, both moved up by `transpose` semitones.
    if mode == "major":
        chords = [(0, "maj"), (5, "maj"), (7, "maj"), (0, "maj")]
    else:
        chords = [(9, "min"), (2, "min"), (4, "maj"), (9, "min")]
    assert _key(_block_progression(chords, transpose=transpose)).label == label


def test_key_of_silence_has_zero_strength():
    key = estimate_key(chroma=np.zeros((12, 50)))
    assert key.strength == 0.0


@pytest.mark.parametrize("drum_gain", [0.5, 3.0])
def test_chords_of_pop_progression_in_g(drum_gain):
    prog = [(7, "maj"), (2, "maj"), (4, "min"), (0, "maj")] * 2  # I-V-vi-IV in G, one chord per bar
    y = _song(prog, drum_gain=drum_gain)
    f = compute_frame_features(y, sr=SR)
    bt = track_beats(onset_envelope=f.onset_envelope, sr=SR, hop_length=f.hop_length, rms=f.rms, chroma=f.chroma)
    segments = recognize_chords(chroma=f.chroma, frame_times=f.times, beat_times=bt.beat_times)

    assert segments[0].start_s == pytest.approx(0.0) and segments[-1].end_s == pytest.approx(f.times[-1])
    assert all(a.end_s == b.start_s for a, b in zip(segments, segments[1:], strict=False))
    assert all(a.label != b.label for a, b in zip(segments, segments[1:], strict=False))

    truth = [f"{PITCH_CLASSES[r]}:{q}" for r, q in prog]
    grid = np.arange(0.5, 0.5 + 2.0 * len(prog), 0.01)
    found = [next(s.label for s in segments if s.start_s <= t < s.end_s or s is segments[-1]) for t in grid]
    expected = [truth[int((t - 0.5) // 2.0)] for t in grid]
    assert np.mean([a == b for a, b in zip(found, expected, strict=True)]) >= 0.9

    starts = [s.start_s for s in segments if s.label != "N"]
    for k in range(1, len(prog)):
        assert min(abs(np.array(starts) - (0.5 + 2.0 * k))) < 0.25
    assert estimate_key(chroma=f.chroma, weights=f.rms).label == "G major"


def test_chords_without_beats_frame_by_frame():
    y = _block_progression([(9, "min"), (5, "maj"), (0, "maj"), (7, "maj")])
    f = compute_frame_features(y, sr=SR)
    segments = recognize_chords(chroma=f.chroma, frame_times=f.times)
    labels = [s.label for s in segments if s.end_s - s.start_s > 0.3]
    assert labels == ["A:min", "F:maj", "C:maj", "G:maj"]


def test_dominant_seventh_reads_as_major():
    y = _block_progression([(5, "maj"), (10, "maj"), (0, "7"), (5, "maj")])
    f = compute_frame_features(y, sr=SR)
    segments = recognize_chords(chroma=f.chroma, frame_times=f.times, beat_times=np.arange(0.0, 8.0, 0.5))
    assert [s.label for s in segments if s.end_s - s.start_s > 0.3] == ["F:maj", "Bb:maj", "C:maj", "F:maj"]


def test_silence_is_one_no_chord_segment():
    f = compute_frame_features(np.zeros(5 * SR, np.float32), sr=SR)
    segments = recognize_chords(chroma=f.chroma, frame_times=f.times, beat_times=np.arange(0.5, 5.0, 0.5))
    assert len(segments) == 1
    assert segments[0] == ChordSegment(0.0, float(f.times[-1]), -1, "N")
    assert segments[0].label == "N"


def test_percussion_and_noise_are_no_chord():
    noise = np.random.default_rng(0).standard_normal(5 * SR).astype(np.float32) * 0.1
    for y in (synth.drum_groove(120, 4, sr=SR), noise):
        f = compute_frame_features(y, sr=SR)
        segments = recognize_chords(chroma=f.chroma, frame_times=f.times, beat_times=np.arange(0.0, 8.0, 0.5))
        assert [s.label for s in segments] == ["N"]


def test_chord_labels_are_harte():
    assert ChordSegment(0.0, 1.0, 3, "maj").label == "Eb:maj"
    assert ChordSegment(0.0, 1.0, 9, "min").label == "A:min"


@pytest.mark.parametrize("deviation", [-0.3, 0.0, 0.2])
def test_estimate_tuning(deviation):
    notes = [synth.NoteEvent(0.5 * i, 0.5, 60 + deviation + [0, 4, 7, 12][i % 4]) for i in range(40)]
    assert estimate_tuning(synth.render_notes(notes, sr=SR), sr=SR) == pytest.approx(deviation, abs=0.03)


def test_tuning_of_silence_is_zero():
    assert estimate_tuning(np.zeros(3 * SR, np.float32), sr=SR) == 0.0


def test_bad_inputs_raise():
    with pytest.raises(AnalysisError):
        estimate_key(chroma=np.zeros((11, 5)))
    with pytest.raises(AnalysisError):
        recognize_chords(chroma=np.zeros((12, 5)), frame_times=np.arange(4))
    with pytest.raises(AnalysisError):
        recognize_chords(chroma=np.zeros((12, 5)), frame_times=np.arange(5), vocabulary="jazz")


def test_sevenths_vocabulary_names_every_quality():
    qualities = ["maj", "min", "7", "maj7", "min7", "dim", "hdim7", "dim7", "sus4"]
    roots = [0, 2, 7, 5, 9, 11, 4, 1, 7]
    spans = [
        (2.0 * i, 2.0 * (i + 1), synth.chord_pitches(r, q))
        for i, (r, q) in enumerate(zip(roots, qualities, strict=True))
    ]
    f = compute_frame_features(synth.render_chords(spans, sr=SR), sr=SR)
    segments = recognize_chords(chroma=f.chroma, frame_times=f.times, beat_times=np.arange(0.0, 18.0, 0.5),
                                vocabulary="sevenths")
    labels = [s.label for s in segments if s.end_s - s.start_s > 0.6]
    # A fully diminished seventh is symmetric: any of its four notes may be named the root.
    assert labels[:7] == ["C:maj", "D:min", "G:7", "F:maj7", "A:min7", "B:dim", "E:hdim7"]
    assert labels[7] in {"C#:dim7", "E:dim7", "G:dim7", "Bb:dim7"} and labels[8] == "G:sus4"


def test_triads_stay_triads_in_the_sevenths_vocabulary():
    y = _block_progression([(9, "min"), (5, "maj"), (0, "maj"), (7, "maj")])
    f = compute_frame_features(y, sr=SR)
    segments = recognize_chords(chroma=f.chroma, frame_times=f.times, beat_times=np.arange(0.0, 8.0, 0.5),
                                vocabulary="sevenths")
    assert [s.label for s in segments if s.end_s - s.start_s > 0.3] == ["A:min", "F:maj", "C:maj", "G:maj"]


def test_bass_chroma_gives_the_segment_bass():
    chroma = np.zeros((12, 8))
    chroma[[7, 11, 2], :4] = 1.0  # G major
    chroma[[0, 4, 7], 4:] = 1.0  # C major
    bass = np.zeros((12, 8))
    bass[11, :4] = 1.0  # B in the bass: first inversion
    bass[0, 4:] = 1.0
    segments = recognize_chords(chroma=chroma, frame_times=np.arange(8.0), partials=False, bass_chroma=bass)
    assert [(s.label, s.bass_pc) for s in segments] == [("G:maj", 11), ("C:maj", 0)]


def test_chord_tones_keep_the_key_off_the_overtones_dominant():
    """Bach's BWV 86.6 (E major), rendered with harmonic tones: the third partials make B the loudest
    chroma bin and the chroma alone reads B major; the recognised chords' tones put it back in E major."""
    from music21 import corpus

    from ostinato.testing.scores import score_notes

    y = synth.render_notes(score_notes(corpus.parse("bach/bwv86.6"), bpm=108.0), sr=SR, decay_per_s=1.0)
    f = compute_frame_features(y, sr=SR)
    bt = track_beats(onset_envelope=f.onset_envelope, sr=SR, hop_length=f.hop_length, rms=f.rms, chroma=f.chroma)
    chords = recognize_chords(chroma=f.chroma, frame_times=f.times, beat_times=bt.beat_times, vocabulary="sevenths",
                              self_transition=0.3)
    assert estimate_key(chroma=f.chroma).label == "B major"
    assert estimate_key(chroma=f.chroma, chords=chords).label == "E major"


@pytest.mark.parametrize("bass_midi", [40, 43, 47, 50])  # E2, G2, B2, D3 under a C major triad above middle C
def test_bass_chroma_finds_the_lowest_note(bass_midi):
    notes = [synth.NoteEvent(0.0, 2.0, bass_midi)] + [synth.NoteEvent(0.0, 2.0, p) for p in (60, 64, 67, 72)]
    y = synth.render_notes(notes, sr=SR)
    bass = estimate_bass_chroma(y, sr=SR)
    middle = bass[:, 10:70].sum(axis=1)
    assert int(np.argmax(middle)) == bass_midi % 12
    assert estimate_bass_chroma(np.zeros(SR, np.float32), sr=SR).sum() == 0.0


def test_final_chord_tells_a_key_from_its_relative():
    """I-vi-IV-V-vi in C: the tones fit C major and A minor alike; ending on A minor decides, when asked to."""
    chords = [ChordSegment(i, i + 1.0, r, q) for i, (r, q) in enumerate([(0, "maj"), (9, "min"), (5, "maj"),
                                                                          (7, "maj"), (9, "min")])]
    profile = np.zeros((12, 1))
    for c in chords:
        for interval in synth.CHORD_INTERVALS[c.quality]:
            profile[(c.root_pc + interval) % 12] += 1.0
    assert estimate_key(chroma=profile, chords=chords).label == "C major"
    assert estimate_key(chroma=profile, chords=chords, final_root_bonus=0.1).label == "A minor"


def test_bass_transform_in_blocks_equals_one_transform_of_the_whole():
    """Blocks with context bound memory on hour-long tracks without changing a single frame."""
    from ostinato.analysis.librosa_import import librosa
    from ostinato.analysis.tonal import _low_register_magnitudes

    sr, rng = 22050, np.random.default_rng(3)
    t = np.arange(sr * 65) / sr
    y = (0.2 * rng.standard_normal(t.size) + 0.5 * np.sin(2 * np.pi * 55.0 * t)).astype(np.float32)
    fmin = float(librosa.midi_to_hz(24))
    whole = np.abs(librosa.vqt(y, sr=sr, hop_length=512, fmin=fmin, n_bins=48, bins_per_octave=12, gamma=0))
    blocks = _low_register_magnitudes(y, sr=sr, hop_length=512, fmin=fmin, n_bins=48, block_s=20.0)
    assert blocks.shape == whole.shape
    np.testing.assert_allclose(blocks, whole, atol=1e-5 * whole.max())
