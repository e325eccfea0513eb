"""Time signatures (2/4, 3/4, 4/4, 6/8, 12/8) and beat tracking through soft onsets and leading silence."""

import mir_eval
import numpy as np
import pytest

from ostinato.analysis.rhythm import BeatTrack, detect_onsets
from ostinato.analysis.spectral import compute_frame_features
from ostinato.testing import grooves
from ostinato.testing.beats import track_with
from ostinato.theory.meter import METERS

SR = 22050


def _track(y: np.ndarray, beat_tracker: str) -> BeatTrack:
    return track_with(y, SR, beat_tracker)


def _beat_f(found: np.ndarray, truth: np.ndarray) -> float:
    # No trimming: beats placed in the leading silence must count as false positives.
    return float(mir_eval.beat.f_measure(np.asarray(truth, float), np.asarray(found, float)))


@pytest.mark.parametrize(
    ("meter", "bpm"),
    [("2/4", 100), ("3/4", 110), ("4/4", 120), ("6/8", 66), ("6/8", 80), ("12/8", 60), ("12/8", 70)],
)
def test_time_signature_of_synthetic_grooves(meter, bpm, beat_tracker):
    # 6/8 at 66 and 12/8 at 60 make the tracker follow the eighths (198 and 180 BPM); 6/8 at 80 makes it
    # follow the dotted quarters: both must come out as the compound meter counted in dotted quarters.
    g = grooves.meter_groove(meter, bpm=bpm, bars=16 if meter == "2/4" else 10, sr=SR)
    bt = _track(g.y, beat_tracker)
    assert bt.meter == meter
    assert bt.tempo_bpm == pytest.approx(bpm, rel=0.02)
    assert bt.beats_per_bar == METERS[meter].beats_per_bar
    assert _beat_f(bt.beat_times, g.beat_times) >= 0.9
    found_downbeats = bt.downbeat_times[:, None] - g.downbeat_times[None, :]
    assert np.abs(found_downbeats).min(axis=1).max() < 0.07
    assert 0.0 < bt.meter_confidence <= 1.0
    assert len(bt.beat_accents) == len(bt.beat_times)


@pytest.mark.parametrize(("bpm", "attack_s"), [(72, 0.2), (100, 0.3), (130, 0.2)])
def test_soft_pads_after_five_seconds_of_silence(bpm, attack_s, beat_tracker):
    # librosa.beat.beat_track on the same signal puts its beats in the silence (F ~ 0.03) and its beats are
    # late by the attack; here tempo, phase and the start of the music must all be right.
    g = grooves.soft_pad_groove(bpm=bpm, beats=32, sr=SR, attack_s=attack_s, lead_silence_s=5.0)
    bt = _track(g.y, beat_tracker)
    assert bt.tempo_bpm == pytest.approx(bpm, rel=0.02)
    assert bt.beat_times[0] > 4.9
    assert _beat_f(bt.beat_times, g.beat_times) >= 0.9


@pytest.mark.parametrize("soft", [False, True])
def test_groove_after_silence(soft, beat_tracker):
    g = grooves.with_leading_silence(grooves.meter_groove("3/4", bpm=90, bars=10, sr=SR, soft=soft), 5.0)
    bt = _track(g.y, beat_tracker)
    assert bt.meter == "3/4" and bt.tempo_bpm == pytest.approx(90, rel=0.02)
    assert _beat_f(bt.beat_times, g.beat_times) >= 0.9


def test_swing_is_not_mistaken_for_a_compound_meter(beat_tracker):
    g = grooves.swing_groove(bpm=120, bars=10, sr=SR, ratio=2.0)
    bt = _track(g.y, beat_tracker)
    assert not bt.meter.endswith("/8")
    assert bt.tempo_bpm == pytest.approx(120, rel=0.02)


def test_detect_onsets_times_the_leading_edge():
    g = grooves.pattern_groove(grooves.ON_BEAT, bpm=120, bars=4, sr=SR)
    f = compute_frame_features(g.voices["bass"], sr=SR)
    times, strengths = detect_onsets(onset_envelope=f.onset_envelope, sr=SR, hop_length=f.hop_length)
    assert len(times) == 16 and np.all(strengths >= 0.2)
    assert np.abs(times - g.beat_times).max() < 0.025
