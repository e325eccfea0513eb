import numpy as np
import pytest

from ostinato.analysis.rhythm import track_beats
from ostinato.analysis.spectral import FrameFeatures, compute_frame_features
from ostinato.analysis.structure import Section, segment_sections
from ostinato.demo import synth
from ostinato.errors import AnalysisError

SR = 22050
BRIGHT = (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)


def _part(
    chords, *, seconds=16.0, bpm=120.0, octave=4, harmonics=(1.0, 0.5, 0.33, 0.25, 0.2), drums=True, decay=1.5
) -> np.ndarray:
    """Chord stabs on every beat plus a bass root per 4/4 bar, optionally over a drum groove."""
    beat = 60.0 / bpm
    n_bars = int(seconds / (4 * beat))
    notes = []
    for i in range(n_bars):
        root, quality = chords[i % len(chords)]
        t0 = 4 * i * beat
        notes += [
            synth.NoteEvent(t0 + b * beat, 0.9 * beat, p, 0.3)
            for b in range(4)
            for p in synth.chord_pitches(root, quality, octave=octave)
        ]
        notes.append(synth.NoteEvent(t0, 3.8 * beat, 36 + root, 0.6))
    y = synth.render_notes(notes, sr=SR, total_s=seconds, harmonics=harmonics, decay_per_s=decay)[: int(seconds * SR)]
    if drums:
        y = synth.mix(y, synth.drum_groove(bpm, n_bars, sr=SR)[: len(y)], gains=[1.0, 0.5])
    return y


VERSE = [(7, "maj"), (2, "maj"), (4, "min"), (0, "maj")]
CHORUS = [(10, "maj"), (5, "min"), (3, "maj"), (8, "maj")]


def _sections(y: np.ndarray) -> tuple[list[Section], FrameFeatures]:
    f = compute_frame_features(y, sr=SR)
    bt = track_beats(onset_envelope=f.onset_envelope, sr=SR, hop_length=f.hop_length, rms=f.rms, chroma=f.chroma)
    return segment_sections(features=f, beat_times=bt.beat_times), f


def _check_contiguous(sections: list[Section], f: FrameFeatures) -> None:
    assert sections[0].start_s == 0.0 and sections[-1].end_s == pytest.approx(f.duration_s)
    assert all(a.end_s == b.start_s for a, b in zip(sections, sections[1:], strict=False))


@pytest.mark.parametrize(
    "b_part",
    [
        pytest.param(dict(chords=CHORUS, octave=5, harmonics=BRIGHT, drums=False, decay=0.0), id="harmony+timbre"),
        pytest.param(dict(chords=VERSE, octave=5, harmonics=BRIGHT, drums=False, decay=0.0), id="timbre-only"),
        pytest.param(dict(chords=[(9, "min"), (4, "min")]), id="harmony-only"),
    ],
)
def test_aba(b_part):
    a = _part(VERSE)
    sections, f = _sections(np.concatenate([a, _part(**b_part), a]))
    _check_contiguous(sections, f)
    assert [s.label for s in sections] == ["A", "B", "A"]
    assert sections[1].start_s == pytest.approx(16.0, abs=2.0)
    assert sections[2].start_s == pytest.approx(32.0, abs=2.0)


def test_repetition_of_one_part_is_one_section():
    a = _part(VERSE)
    sections, f = _sections(np.concatenate([a, a, a]))
    assert [s.label for s in sections] == ["A"]
    _check_contiguous(sections, f)


def test_melody_over_steady_accompaniment_is_one_section():
    rng = np.random.default_rng(3)
    scale = [67, 69, 71, 72, 74, 76, 78, 79]  # G major, above the chords
    onsets = np.cumsum(rng.choice([0.25, 0.5, 1.0], size=120))
    melody = [synth.NoteEvent(float(t), 0.4, int(rng.choice(scale)), 0.8) for t in onsets if t < 47.5]
    accompaniment = np.concatenate([_part(VERSE)] * 3)
    lead = synth.render_notes(melody, sr=SR, total_s=48.0, harmonics=(1.0, 0.2, 0.45, 0.1, 0.25))
    sections, f = _sections(synth.mix(accompaniment, lead[: len(accompaniment)], gains=[1.0, 0.6]))
    assert [s.label for s in sections] == ["A"]


def test_three_distinct_parts_get_three_labels():
    parts = [
        _part(VERSE),
        _part(CHORUS, octave=5, harmonics=BRIGHT, drums=False, decay=0.0),
        _part([(9, "min"), (4, "min")]),
        _part(VERSE),
    ]
    sections, _ = _sections(np.concatenate(parts))
    assert [s.label for s in sections] == ["A", "B", "C", "A"]


def test_silence_and_short_input_are_one_section():
    silent = compute_frame_features(np.zeros(30 * SR, np.float32), sr=SR)
    assert segment_sections(features=silent, beat_times=np.zeros(0)) == [Section(0.0, silent.duration_s, "A")]
    short = compute_frame_features(_part(VERSE, seconds=8.0), sr=SR)
    assert segment_sections(features=short, beat_times=np.arange(0.0, 8.0, 0.5)) == [
        Section(0.0, short.duration_s, "A")
    ]


def test_max_sections_is_respected():
    a, b = _part(VERSE), _part(CHORUS, octave=5, harmonics=BRIGHT, drums=False, decay=0.0)
    f = compute_frame_features(np.concatenate([a, b, a, b]), sr=SR)
    sections = segment_sections(features=f, beat_times=np.arange(0.0, f.duration_s, 0.5), max_sections=2)
    assert len(sections) <= 2


def test_bad_parameters_raise():
    f = compute_frame_features(np.zeros(SR, np.float32), sr=SR)
    with pytest.raises(AnalysisError):
        segment_sections(features=f, beat_times=np.zeros(0), min_section_s=0.0)
