"""Separated stems where they help the networks: the chord network hears the harmonic stems, the beat network
the drums, through the same StemAccumulator the separation stage uses."""

import numpy as np
import pytest

from ostinato.analysis.describe import describe_track
from ostinato.analysis.stems import StemAccumulator
from ostinato.demo import synth

SR = 22050
SOURCES = ["drums", "bass", "other", "vocals"]
PROGRESSION = [(0, "maj"), (5, "maj"), (7, "maj"), (9, "min")] * 2  # I-IV-V-vi in C, a bar each
BPM = 128
BAR_S = 4 * 60.0 / BPM


def _separated(**mono: np.ndarray):
    """What the separation stage hands to describe for stems given as mono signals at SR."""
    n = max(len(y) for y in mono.values())
    stems = np.zeros((len(SOURCES), 2, n), np.float32)
    for name, y in mono.items():
        stems[SOURCES.index(name), :, : len(y)] = y
    accumulator = StemAccumulator(SOURCES, model_sr=SR, analysis_sr=SR, keep_signals=True)
    accumulator.add(stems)
    return accumulator.finish()


def _majmin_agreement(chords, truth: list[tuple[float, float, str]]) -> float:
    """Share of 50 ms steps where the recognised chord reduced to major/minor is the true one."""
    hits = total = 0
    for start, end, label in truth:
        for t in np.arange(start, end, 0.05):
            found = next((c for c in chords if c.start_s <= t < c.end_s), None)
            reduced = None if found is None or found.root_pc < 0 else (
                found.root_pc, "min" if found.quality.startswith("min") else "maj")
            hits += reduced == label
            total += 1
    return hits / total


@pytest.fixture(scope="module")
def drums_and_chords():
    drums = synth.drum_groove(BPM, len(PROGRESSION), sr=SR)
    bars = [(BAR_S * i, BAR_S * (i + 1)) for i in range(len(PROGRESSION))]
    chords = [(start, end, synth.chord_pitches(r, q, octave=3))
              for (start, end), (r, q) in zip(bars, PROGRESSION, strict=True)]
    harmony = synth.render_chords(chords, sr=SR, total_s=len(drums) / SR)[: len(drums)]
    truth = [(start + 0.1, end - 0.1, chord) for (start, end), chord in zip(bars, PROGRESSION, strict=True)]
    return drums, harmony, truth


def test_chords_and_their_bass_come_from_the_harmonic_stems(drums_and_chords):
    # Root-position keyboard chords 40 dB under the drums. From the mix, the kick's pitch (F#) reads as the
    # bass of every chord (all "inversions") and drum noise as sevenths; from the harmonic stems, free of
    # the drums, every chord is the plain triad over its root.
    drums, harmony, truth = drums_and_chords
    keys = 0.01 * harmony
    mix = drums + keys
    stems = _separated(drums=drums, other=keys)
    with_stems = describe_track(mix, sr=SR, harmonic_signal=stems.harmonic_signal,
                                harmonic_chroma=stems.harmonic_chroma, drum_signal=stems.drum_signal)
    assert _majmin_agreement(with_stems.chords, truth) == 1.0
    assert [(c.root_pc, c.quality, c.bass_pc) for c in with_stems.chords] == [(r, q, r) for r, q in PROGRESSION]
    from_mix = describe_track(mix, sr=SR).chords
    assert sum(c.bass_pc != c.root_pc for c in from_mix) >= len(PROGRESSION) // 2


def test_the_drum_stem_keeps_the_pulse_under_a_loud_pad(drums_and_chords):
    # Drums 34 dB under sustained chords: from the mix alone the network hears the chord changes (60 BPM);
    # beside the drum stem it hears the drums' 128. (So quiet a stem does not count as present, and the analyze
    # pipeline passes only present drums: this checks what describe does with the stem it is given.)
    drums, harmony, _ = drums_and_chords
    quiet = 0.02 * drums
    mix = harmony + quiet
    stems = _separated(drums=quiet, other=harmony)
    with_stems = describe_track(mix, sr=SR, harmonic_signal=stems.harmonic_signal, drum_signal=stems.drum_signal)
    assert with_stems.beats.tempo_bpm == pytest.approx(BPM, rel=0.02)
    truth = synth.beat_times(BPM, len(drums) / SR)
    found = with_stems.beats.beat_times
    assert np.abs(found[:, None] - truth[None, :]).min(axis=1).max() < 0.05
    assert describe_track(mix, sr=SR).beats.tempo_bpm != pytest.approx(BPM, rel=0.1)
