import numpy as np
import pytest

from ostinato.analysis.loudness import (
    LOUDNESS_FLOOR_LUFS,
    PEAK_FLOOR_DBFS,
    Loudness,
    _k_weighting,
    measure_loudness,
)
from ostinato.demo import synth
from ostinato.errors import AnalysisError


def _sine(freq: float, seconds: float, *, sr: int, dbfs: float = 0.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (10 ** (dbfs / 20) * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _stereo(y: np.ndarray) -> np.ndarray:
    return np.stack([y, y])


def test_filter_matches_bs1770_table_at_48k():
    sos = _k_weighting(48000)
    np.testing.assert_allclose(
        sos[0],
        [1.53512485958697, -2.69169618940638, 1.19839281085285, 1.0, -1.69065929318241, 0.73248077421585],
        atol=1e-8,
    )
    np.testing.assert_allclose(sos[1], [1.0, -2.0, 1.0, 1.0, -1.99004745483398, 0.99007225036621], atol=1e-8)


@pytest.mark.parametrize(("sr", "tol"), [(48000, 0.01), (44100, 0.01), (22050, 0.05)])
def test_full_scale_sine(sr, tol):
    # BS.1770: a 0 dBFS 997 Hz sine in one channel reads -3.01 LUFS; in both channels of a pair, 0 LUFS.
    s = _sine(997.0, 10.0, sr=sr)
    mono = measure_loudness(s, sr=sr)
    assert mono.integrated_lufs == pytest.approx(-3.01, abs=tol)
    assert mono.peak_dbfs == pytest.approx(0.0, abs=0.01)
    assert measure_loudness(_stereo(s), sr=sr).integrated_lufs == pytest.approx(0.0, abs=tol)
    assert measure_loudness(s, sr=sr, dual_mono=True).integrated_lufs == pytest.approx(0.0, abs=tol)


@pytest.mark.parametrize("sr", [22050, 48000])
@pytest.mark.parametrize("dbfs", [-23.0, -33.0])
def test_tech3341_steady_sines(sr, dbfs):
    loud = measure_loudness(_stereo(_sine(1000.0, 20.0, sr=sr, dbfs=dbfs)), sr=sr)
    assert loud.integrated_lufs == pytest.approx(dbfs, abs=0.1)
    assert loud.loudness_range_lu == pytest.approx(0.0, abs=0.1)
    assert loud.peak_dbfs == pytest.approx(dbfs, abs=0.01)


def test_tech3341_relative_gate():
    sr = 22050
    y = np.concatenate(
        [
            _sine(1000.0, 10.0, sr=sr, dbfs=-36.0),
            _sine(1000.0, 60.0, sr=sr, dbfs=-23.0),
            _sine(1000.0, 10.0, sr=sr, dbfs=-36.0),
        ]
    )
    assert measure_loudness(_stereo(y), sr=sr).integrated_lufs == pytest.approx(-23.0, abs=0.1)


@pytest.mark.parametrize(("quiet", "expected"), [(-30.0, 10.0), (-15.0, 5.0)])
def test_tech3342_loudness_range(quiet, expected):
    sr = 22050
    y = np.concatenate([_sine(1000.0, 20.0, sr=sr, dbfs=-20.0), _sine(1000.0, 20.0, sr=sr, dbfs=quiet)])
    assert measure_loudness(_stereo(y), sr=sr).loudness_range_lu == pytest.approx(expected, abs=0.5)


def test_scaled_to_target():
    sr = 22050
    y = synth.mix(synth.drum_groove(120, 8, sr=sr), synth.render_chords([(0.0, 16.0, [60, 64, 67])], sr=sr))
    first = measure_loudness(y, sr=sr).integrated_lufs
    scaled = y * 10 ** ((-23.0 - first) / 20)
    assert measure_loudness(scaled, sr=sr).integrated_lufs == pytest.approx(-23.0, abs=0.01)


def test_22050_agrees_with_44100():
    def music(sr: int) -> np.ndarray:
        chords = [(2.0 * i, 2.0 * i + 2.0, synth.chord_pitches(r, "maj")) for i, r in enumerate([0, 5, 7, 0] * 2)]
        return synth.mix(synth.drum_groove(120, 8, sr=sr), synth.render_chords(chords, sr=sr))

    low, high = measure_loudness(music(22050), sr=22050), measure_loudness(music(44100), sr=44100)
    assert low.integrated_lufs == pytest.approx(high.integrated_lufs, abs=0.5)
    assert low.loudness_range_lu == pytest.approx(high.loudness_range_lu, abs=0.5)


def test_silence_and_too_short_hit_the_floor():
    assert measure_loudness(np.zeros(22050 * 5, np.float32), sr=22050) == Loudness(
        LOUDNESS_FLOOR_LUFS, 0.0, PEAK_FLOOR_DBFS
    )
    short = measure_loudness(_sine(1000.0, 0.3, sr=22050), sr=22050)
    assert short.integrated_lufs == LOUDNESS_FLOOR_LUFS and short.loudness_range_lu == 0.0


@pytest.mark.parametrize("bad", [np.zeros(0), np.zeros((2, 2, 2)), np.array([0.0, np.nan])])
def test_bad_input_raises(bad):
    with pytest.raises(AnalysisError):
        measure_loudness(bad, sr=22050)
