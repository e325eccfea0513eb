import numpy as np
import pytest

from ostinato.analysis.spectral import compute_frame_features
from ostinato.analysis.timbre import TimbreSummary, summarize_timbre
from ostinato.demo import synth


def _summary(y: np.ndarray, sr: int = 22050) -> TimbreSummary:
    return summarize_timbre(features=compute_frame_features(y, sr=sr))


@pytest.mark.parametrize("sr", [22050, 44100])
@pytest.mark.parametrize("midi", [57, 69, 81])  # 220, 440, 880 Hz
def test_centroid_of_pure_sine_is_its_frequency(sr, midi):
    s = _summary(synth.tone(midi, 3.0, sr=sr, harmonics=(1.0,)), sr)
    assert s.centroid_mean_hz == pytest.approx(float(synth.midi_to_hz(midi)), rel=0.03)
    assert s.flatness_mean < 0.01


def test_bright_signals_have_higher_centroid_and_rolloff():
    sr = 22050
    low = _summary(synth.tone(40, 3.0, sr=sr), sr)
    high = _summary(synth.tone(88, 3.0, sr=sr), sr)
    noise = _summary(np.random.default_rng(0).standard_normal(3 * sr).astype(np.float32) * 0.1, sr)
    assert low.centroid_mean_hz < high.centroid_mean_hz < noise.centroid_mean_hz
    assert low.rolloff_mean_hz < noise.rolloff_mean_hz
    assert noise.flatness_mean > 10 * low.flatness_mean


def test_silence_excluded_from_spectral_stats():
    sr = 22050
    y = synth.tone(69, 2.0, sr=sr, harmonics=(1.0,))
    padded = np.concatenate([np.zeros(4 * sr, np.float32), y, np.zeros(4 * sr, np.float32)])
    plain, with_silence = _summary(y), _summary(padded)
    assert with_silence.centroid_mean_hz == pytest.approx(plain.centroid_mean_hz, rel=0.02)
    np.testing.assert_allclose(with_silence.mfcc_mean[:5], plain.mfcc_mean[:5], rtol=0.05, atol=2.0)
    assert with_silence.rms_mean < plain.rms_mean  # RMS statistics include the silence


def test_all_silent_track():
    s = _summary(np.zeros(22050, np.float32))
    assert s.centroid_mean_hz == 0.0 and s.rms_mean == 0.0
    assert len(s.mfcc_mean) == 20 and len(s.mfcc_std) == 20
