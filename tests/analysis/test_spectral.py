import math

import numpy as np
import pytest

from ostinato.analysis.librosa_import import librosa
from ostinato.analysis.spectral import FrameFeatures, compute_frame_features, concat_frame_features
from ostinato.demo import synth
from ostinato.errors import AnalysisError

FIELDS = ("onset_envelope", "chroma", "mfcc", "rms", "centroid_hz", "rolloff_hz", "flatness")


@pytest.fixture(scope="module")
def groove() -> np.ndarray:
    sr = 22050
    chords = [(2.0 * i, 2.0 * i + 2.0, synth.chord_pitches(pc, "maj")) for i, pc in enumerate([0, 5, 7, 0] * 3)]
    return synth.mix(synth.drum_groove(120, 12, sr=sr), synth.render_chords(chords, sr=sr))


def test_shapes_and_times(groove):
    sr, hop = 22050, 512
    f = compute_frame_features(groove, sr=sr, hop_length=hop, n_mfcc=13)
    n = math.ceil(len(groove) / hop)
    assert isinstance(f, FrameFeatures)
    assert f.n_frames == n
    assert f.chroma.shape == (12, n) and f.mfcc.shape == (13, n)
    for name in FIELDS:
        arr = getattr(f, name)
        assert arr.dtype == np.float32 and arr.shape[-1] == n and np.isfinite(arr).all(), name
    assert f.times[1] == pytest.approx(hop / sr)
    assert f.duration_s == pytest.approx(n * hop / sr)


@pytest.mark.parametrize("block_seconds", [1.0, 3.3, 10.0])
def test_blocked_equals_unblocked(groove, block_seconds):
    whole = compute_frame_features(groove, sr=22050, block_seconds=math.inf)
    blocked = compute_frame_features(groove, sr=22050, block_seconds=block_seconds)
    for name in FIELDS:
        np.testing.assert_allclose(getattr(blocked, name), getattr(whole, name), rtol=1e-4, atol=1e-3, err_msg=name)
    # Onset continuity at block edges: the frames right after each block start match exactly.
    edges = np.arange(0, whole.n_frames, int(block_seconds * 22050 / 512))[1:]
    for e in edges:
        np.testing.assert_allclose(blocked.onset_envelope[e : e + 4], whole.onset_envelope[e : e + 4], atol=1e-4)


def test_matches_librosa_where_comparable(groove):
    sr = 22050
    f = compute_frame_features(groove, sr=sr)
    n = f.n_frames
    np.testing.assert_allclose(f.rms, librosa.feature.rms(y=groove)[0, :n], atol=1e-5)
    np.testing.assert_allclose(f.chroma, librosa.feature.chroma_stft(y=groove, sr=sr, tuning=0.0)[:, :n], atol=1e-4)
    cent = librosa.feature.spectral_centroid(y=groove, sr=sr)[0, :n]
    np.testing.assert_allclose(f.centroid_hz, cent, rtol=1e-3, atol=0.5)
    onset = librosa.onset.onset_strength(y=groove, sr=sr)[:n]
    assert np.corrcoef(onset, f.onset_envelope)[0, 1] > 0.9
    # Onset peaks land on the hits (every eighth note at 120 BPM = every 0.25 s).
    peaks = f.times[
        librosa.util.peak_pick(f.onset_envelope, pre_max=3, post_max=3, pre_avg=3, post_avg=3, delta=0.5, wait=5)
    ]
    assert np.median(np.abs(peaks - np.round(peaks * 4) / 4)) < 0.03


@pytest.mark.parametrize("sr", [22050, 44100])
def test_sine_centroid_and_chroma(sr):
    y = synth.tone(69, 2.0, sr=sr, harmonics=(1.0,))  # A4 = 440 Hz, pure
    f = compute_frame_features(y, sr=sr)
    mid = slice(10, f.n_frames - 10)
    assert np.median(f.centroid_hz[mid]) == pytest.approx(440.0, rel=0.03)
    assert np.all(np.argmax(f.chroma[:, mid], axis=0) == 9)
    assert np.median(f.rms[mid]) == pytest.approx(1 / np.sqrt(2), rel=0.02)
    assert np.median(f.flatness[mid]) < 0.01


def test_noise_is_flat_and_bright():
    y = np.random.default_rng(0).standard_normal(22050).astype(np.float32) * 0.1
    f = compute_frame_features(y, sr=22050)
    assert np.median(f.flatness) > 0.3
    assert np.median(f.centroid_hz) > 4000


def test_silence_gives_zero_chroma_and_no_onsets():
    f = compute_frame_features(np.zeros(22050 * 2, np.float32), sr=22050)
    assert not f.chroma.any() and not f.onset_envelope.any() and not f.rms.any()
    assert np.isfinite(f.mfcc).all()


def test_concat_tiles_whole_hops(groove):
    hop = 512
    cut = 100 * hop
    whole = compute_frame_features(groove, sr=22050)
    a = compute_frame_features(groove[:cut], sr=22050)
    b = compute_frame_features(groove[cut:], sr=22050)
    joined = concat_frame_features([a, b])
    assert joined.n_frames == whole.n_frames
    far = np.r_[0:96, 106 : whole.n_frames]  # frames whose windows do not straddle the cut
    np.testing.assert_allclose(joined.rms[far], whole.rms[far], atol=1e-6)
    np.testing.assert_allclose(joined.chroma[:, far], whole.chroma[:, far], atol=1e-5)


def test_concat_rejects_mismatch(groove):
    a = compute_frame_features(groove[:22050], sr=22050)
    b = compute_frame_features(groove[:22050], sr=22050, hop_length=256)
    with pytest.raises(AnalysisError):
        concat_frame_features([a, b])
    with pytest.raises(AnalysisError):
        concat_frame_features([])


@pytest.mark.parametrize(
    "bad", [np.zeros(0, np.float32), np.zeros((2, 100), np.float32), np.array([0.0, np.nan], np.float32)]
)
def test_bad_input_raises(bad):
    with pytest.raises(AnalysisError):
        compute_frame_features(bad, sr=22050)
