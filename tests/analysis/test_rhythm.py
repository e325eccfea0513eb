import numpy as np
import pytest

from ostinato.analysis.rhythm import BeatTrack, onset_rate, track_beats
from ostinato.analysis.spectral import compute_frame_features
from ostinato.demo import synth
from ostinato.errors import AnalysisError
from ostinato.testing.beats import track_with


def _track(y: np.ndarray, sr: int, beat_tracker: str) -> BeatTrack:
    return track_with(y, sr, beat_tracker)


def _max_error(found: np.ndarray, truth: np.ndarray) -> float:
    return float(np.max(np.abs(found[:, None] - truth[None, :]).min(axis=1)))


@pytest.mark.parametrize("sr", [22050, 44100])
@pytest.mark.parametrize("bpm", [90, 128, 174])
def test_click_tempo_and_beats(sr, bpm, beat_tracker):
    y = synth.click_track(bpm, 20.0, sr=sr, offset_s=0.5)
    bt = _track(y, sr, beat_tracker)
    assert bt.tempo_bpm == pytest.approx(bpm, rel=0.02)
    truth = synth.beat_times(bpm, 20.0, offset_s=0.5)
    assert len(bt.beat_times) >= len(truth) - 2
    assert _max_error(bt.beat_times, truth) < 0.05
    assert bt.tempo_confidence > 0.6


@pytest.mark.parametrize("sr", [22050, 44100])
@pytest.mark.parametrize(("bpb", "bpm"), [(4, 120), (3, 120), (4, 96), (3, 150)])
def test_meter_and_downbeats(sr, bpb, bpm, beat_tracker):
    y = synth.click_track(bpm, 24.0, sr=sr, beats_per_bar=bpb, offset_s=0.5)
    bt = _track(y, sr, beat_tracker)
    assert bt.beats_per_bar == bpb and bt.meter == f"{bpb}/4"
    truth = synth.beat_times(bpm, 24.0, offset_s=0.5)[::bpb]
    assert len(bt.downbeat_times) >= len(truth) - 1
    assert _max_error(bt.downbeat_times, truth) < 0.07
    assert bt.meter_confidence > 0.5


@pytest.mark.parametrize("bpb", [3, 4])
def test_meter_of_groove_with_chord_per_bar(bpb, beat_tracker):
    sr, bpm, bars = 22050, 100, 10
    bar_s = bpb * 60 / bpm
    drums = synth.drum_groove(bpm, bars, sr=sr, beats_per_bar=bpb, offset_s=0.5)
    chords = [
        (0.5 + i * bar_s, 0.5 + (i + 1) * bar_s, synth.chord_pitches([0, 7, 9, 5][i % 4], "maj")) for i in range(bars)
    ]
    bt = _track(synth.mix(drums, synth.render_chords(chords, sr=sr), gains=[0.5, 1.0]), sr, beat_tracker)
    assert bt.tempo_bpm == pytest.approx(bpm, rel=0.02)
    assert bt.beats_per_bar == bpb
    assert _max_error(bt.downbeat_times, 0.5 + bar_s * np.arange(bars)) < 0.07


def test_leading_silence_has_no_beats(beat_tracker):
    sr = 22050
    y = synth.click_track(128, 20.0, sr=sr, offset_s=3.0)
    bt = _track(y, sr, beat_tracker)
    assert bt.beat_times[0] >= 2.9
    assert bt.tempo_bpm == pytest.approx(128, rel=0.02)


def test_silence_returns_no_tempo(beat_tracker):
    sr = 22050
    bt = _track(np.zeros(10 * sr, np.float32), sr, beat_tracker)
    assert bt.tempo_bpm == 0.0 and bt.tempo_confidence == 0.0
    assert len(bt.beat_times) == 0 and len(bt.downbeat_times) == 0
    assert onset_rate(onset_envelope=np.zeros(100), sr=sr, hop_length=512) == 0.0


def test_confidence_low_on_noise(beat_tracker):
    sr = 22050
    y = np.random.default_rng(0).standard_normal(20 * sr).astype(np.float32) * 0.1
    bt = _track(y, sr, beat_tracker)
    assert 0.0 <= bt.tempo_confidence < 0.3
    assert 0.0 <= bt.meter_confidence < 0.5


def test_onset_rate_counts_clicks():
    sr = 22050
    f = compute_frame_features(synth.click_track(120, 20.0, sr=sr), sr=sr)  # 2 clicks per second
    assert onset_rate(onset_envelope=f.onset_envelope, sr=sr, hop_length=f.hop_length) == pytest.approx(2.0, rel=0.1)


def test_bad_envelope_raises():
    with pytest.raises(AnalysisError):
        track_beats(onset_envelope=np.zeros((2, 10)), sr=22050, hop_length=512)
    with pytest.raises(AnalysisError):
        track_beats(onset_envelope=np.array([0.0, np.inf]), sr=22050, hop_length=512)
