"""The demo corpus: files decode to the stated length, the truth is consistent and is what the audio holds."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import av
import numpy as np
import pytest

from ostinato.demo import TRACK_SPECS, DemoCorpus, TrackTruth, render_track, write_demo_corpus
from ostinato.demo.synth import CHORD_INTERVALS
from ostinato.errors import ConfigError
from ostinato.theory.roman import roman_numerals


def decode(path: Path) -> tuple[np.ndarray, int]:
    """All samples of ``path`` as float32 ``(channels, n)`` and the sample rate, via PyAV."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        frames = [f.to_ndarray() for f in container.decode(stream)]
        return np.concatenate(frames, axis=1).astype(np.float32), stream.rate


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[DemoCorpus, float]:
    t0 = time.perf_counter()
    c = write_demo_corpus(tmp_path_factory.mktemp("demo"))
    return c, time.perf_counter() - t0


def test_default_corpus_is_the_documented_six_tracks(corpus: tuple[DemoCorpus, float]) -> None:
    c, elapsed = corpus
    described = [(t.key, t.mode, t.bpm, t.meter, t.progression) for t in c.tracks]
    assert described == [
        ("G", "major", 120.0, "4/4", ["I", "V", "vi", "IV"]),
        ("D", "major", 96.0, "4/4", ["vi", "IV", "I", "V"]),
        ("A", "minor", 140.0, "4/4", ["i", "VII", "VI", "V"]),
        ("C", "major", 100.0, "4/4", ["I", "IV", "V", "I"]),
        ("F", "major", 150.0, "3/4", ["I", "IV", "V7", "I"]),
        ("Eb", "major", 110.0, "4/4", ["I", "vi", "IV", "V"]),
    ]
    assert elapsed < 30.0, f"default corpus took {elapsed:.1f} s"


def test_files_exist_and_decode_to_the_stated_duration(corpus: tuple[DemoCorpus, float]) -> None:
    c, _ = corpus
    assert c.truth_path.is_file()
    for path, truth_path, truth in zip(c.audio_paths, c.truth_paths, c.tracks, strict=True):
        assert path.is_file() and truth_path.is_file()
        y, sr = decode(path)
        assert sr == truth.sr == 44100
        assert y.shape[0] == 2
        assert abs(y.shape[1] / sr - truth.duration_s) < 0.1
        assert truth.duration_s == pytest.approx(24.0)
        assert np.abs(y[0] - y[1]).max() > 0.01  # panned: not dual mono
        assert 0.3 < np.abs(y).max() <= 1.0


def test_truth_files_agree_and_round_trip(corpus: tuple[DemoCorpus, float]) -> None:
    c, _ = corpus
    data = json.loads(c.truth_path.read_text())
    assert data["seed"] == 0 and data["sr"] == 44100
    for entry, truth_path, truth in zip(data["tracks"], c.truth_paths, c.tracks, strict=True):
        assert json.loads(truth_path.read_text()) == entry
        assert TrackTruth.from_dict(entry) == truth
    assert DemoCorpus.load(c.folder) == c


def test_chords_tile_the_track_one_per_bar(corpus: tuple[DemoCorpus, float]) -> None:
    c, _ = corpus
    for t in c.tracks:
        starts = np.array([ch.start_s for ch in t.chords])
        ends = np.array([ch.end_s for ch in t.chords])
        assert starts[0] == 0.0 and ends[-1] == pytest.approx(t.duration_s)
        np.testing.assert_allclose(starts[1:], ends[:-1])
        assert np.all(ends > starts)
        np.testing.assert_allclose(starts, t.downbeat_times[: len(starts)], atol=1e-6)
        assert [ch.numeral for ch in t.chords] == [
            t.progression[i % len(t.progression)] for i in range(len(t.chords))
        ]
        for ch in t.chords:
            assert ch.label.split(":")[1] == ch.quality


def test_beats_are_evenly_spaced_at_the_tempo(corpus: tuple[DemoCorpus, float]) -> None:
    c, _ = corpus
    for t in c.tracks:
        beats = np.array(t.beat_times)
        assert beats[0] == 0.0 and beats[-1] < t.duration_s
        assert len(beats) == int(np.ceil(t.duration_s * t.bpm / 60 - 1e-9))
        np.testing.assert_allclose(np.diff(beats), 60.0 / t.bpm, atol=2e-6)
        assert t.downbeat_times == t.beat_times[:: t.beats_per_bar]


def test_truth_numerals_are_what_roman_analysis_reads(corpus: tuple[DemoCorpus, float]) -> None:
    c, _ = corpus
    for t in c.tracks:
        read = roman_numerals(t.chords, tonic_pc=t.tonic_pc, mode=t.mode)
        assert [r.figure for r in read] == [ch.numeral for ch in t.chords]
        assert [r.chord for r in read] == [ch.label for ch in t.chords]
        assert [r.function for r in read] == [ch.function for ch in t.chords]


def test_each_bar_sounds_its_chord(corpus: tuple[DemoCorpus, float]) -> None:
    """The three loudest pitch classes of each bar (60 Hz - 1.5 kHz) are tones of the bar's chord."""
    c, _ = corpus
    hits = total = 0
    for path, t in zip(c.audio_paths, c.tracks, strict=True):
        y, sr = decode(path)
        mono = y.mean(axis=0)
        for ch in t.chords:
            seg = mono[int(ch.start_s * sr) : int(ch.end_s * sr)]
            power = np.abs(np.fft.rfft(seg * np.hanning(len(seg)))) ** 2
            freqs = np.fft.rfftfreq(len(seg), 1 / sr)
            band = (freqs > 60) & (freqs < 1500)
            pcs = np.round(12 * np.log2(freqs[band] / 440.0) + 69).astype(int) % 12
            chroma = np.bincount(pcs, weights=power[band], minlength=12)
            chord_pcs = {(ch.root_pc + i) % 12 for i in CHORD_INTERVALS[ch.quality]}
            hits += set(np.argsort(chroma)[::-1][:3].tolist()) <= chord_pcs
            total += 1
    assert hits / total > 0.95, f"{hits}/{total} bars"


def test_decoded_audio_is_sample_aligned_with_the_rendering(corpus: tuple[DemoCorpus, float]) -> None:
    """The MP3 is gapless: truth times hold in the decoded file, not shifted by the encoder delay."""
    c, _ = corpus
    _, rendered = render_track(TRACK_SPECS[0], index=0, seconds=24.0, sr=44100, rng=np.random.default_rng(0))
    decoded, sr = decode(c.audio_paths[0])
    assert decoded.shape == rendered.shape
    a, b = rendered[0, sr : 3 * sr], decoded[0, sr - 500 : 3 * sr + 500]
    lags = [float(np.dot(a, b[k : k + len(a)])) for k in range(1000)]
    assert int(np.argmax(lags)) - 500 == 0
    assert np.corrcoef(rendered[0], decoded[0])[0, 1] > 0.95


def _digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    a = write_demo_corpus(tmp_path / "a", n_tracks=2, seconds=4.0, seed=3)
    b = write_demo_corpus(tmp_path / "b", n_tracks=2, seconds=4.0, seed=3)
    other = write_demo_corpus(tmp_path / "c", n_tracks=2, seconds=4.0, seed=4)
    assert _digest(a.folder) == _digest(b.folder)
    assert a.tracks == b.tracks
    assert [t.chords for t in other.tracks] == [t.chords for t in a.tracks]
    assert [t.melody_notes for t in other.tracks] != [t.melody_notes for t in a.tracks]


@pytest.mark.parametrize("sr", [22050, 48000])
def test_more_tracks_than_specs_and_other_rates(tmp_path: Path, sr: int) -> None:
    c = write_demo_corpus(tmp_path, n_tracks=8, seconds=3.0, sr=sr, seed=1)
    assert len(c.tracks) == len({t.name for t in c.tracks}) == 8
    for path, t in zip(c.audio_paths[6:], c.tracks[6:], strict=True):
        base = TRACK_SPECS[c.tracks.index(t) % 6]
        assert t.progression == list(base.progression) and t.mode == base.mode
        assert abs(t.bpm - base.bpm) <= 0.1 * base.bpm + 0.5
        y, rate = decode(path)
        assert rate == sr and abs(y.shape[1] / sr - 3.0) < 0.1
        read = roman_numerals(t.chords, tonic_pc=t.tonic_pc, mode=t.mode)
        assert [r.figure for r in read] == [ch.numeral for ch in t.chords]


@pytest.mark.parametrize(
    ("kwargs", "match"), [({"n_tracks": 0}, "n_tracks"), ({"seconds": 0.0}, "seconds"), ({"sr": 96000}, "sr")]
)
def test_bad_arguments(tmp_path: Path, kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        write_demo_corpus(tmp_path, **kwargs)
