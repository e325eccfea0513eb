"""Per-stem features from synthetic stems with known answers, chunk-size invariance, and FLAC stems."""

from __future__ import annotations

import math

import numpy as np
import pytest
import soundfile
import soxr

from ostinato.analysis.spectral import compute_frame_features
from ostinato.analysis.stems import (
    RMS_FLOOR_DB,
    StemAccumulator,
    StemAnalysis,
    StemFlacWriter,
    write_stems_flac,
)
from ostinato.demo import synth
from ostinato.errors import AnalysisError

SOURCES = ["drums", "bass", "other", "vocals"]
SR = 44100


def _stems(n: int, **mono: np.ndarray) -> np.ndarray:
    """Stereo stems (4, 2, n) with the given mono signals (both channels) and silence elsewhere."""
    out = np.zeros((len(SOURCES), 2, n), np.float32)
    for name, y in mono.items():
        out[SOURCES.index(name), :, : len(y)] = y[:n]
    return out


def _run(stems: np.ndarray, chunk_sizes=None, *, model_sr: int = SR, **kwargs) -> StemAnalysis:
    acc = StemAccumulator(SOURCES, model_sr=model_sr, **kwargs)
    n = stems.shape[-1]
    bounds = [0, *np.cumsum(chunk_sizes or [n]).tolist()]
    for lo, hi in zip(bounds[:-1], bounds[1:], strict=True):
        acc.add(stems[..., lo:min(hi, n)])
    return acc.finish()


def _by_name(analysis: StemAnalysis):
    return {f.name: f for f in analysis.stems}


def test_drums_only():
    """A 2-clicks-per-second metronome in the drums stem, silence elsewhere."""
    clicks = synth.click_track(120, 10.0, sr=SR, offset_s=0.25) * 0.5
    result = _run(_stems(len(clicks), drums=clicks))
    stems = _by_name(result)
    assert stems["drums"].present
    assert stems["drums"].energy_share == pytest.approx(1.0)
    assert stems["drums"].onset_density == pytest.approx(2.0, abs=0.1)
    for name in ("bass", "other", "vocals"):
        assert not stems[name].present
        assert stems[name].energy_share == 0.0
        assert stems[name].onset_density == 0.0
        assert stems[name].rms_max_db == pytest.approx(RMS_FLOOR_DB)
    assert sum(f.energy_share for f in result.stems) == pytest.approx(1.0)
    n_frames = math.ceil(len(clicks) / 2 / 512)  # 44.1 kHz -> 22.05 kHz, hop 512
    assert result.harmonic_chroma.shape == (12, n_frames)
    assert not result.harmonic_chroma.any()  # drums are not harmonic
    assert set(result.onset_envelopes) == set(SOURCES)
    envelopes = result.onset_envelopes.values()
    assert all(env.shape == (n_frames,) and env.dtype == np.float32 for env in envelopes)


def test_equal_power_stems_share_equally():
    n = 8 * SR
    t = np.arange(n) / SR
    bass = (np.sqrt(2) * 0.1 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)  # RMS 0.1
    other = (0.1 * np.random.default_rng(0).standard_normal(n)).astype(np.float32)  # RMS 0.1
    stems = _by_name(_run(_stems(n, bass=bass, other=other)))
    assert stems["bass"].energy_share == pytest.approx(0.5, abs=0.01)
    assert stems["other"].energy_share == pytest.approx(0.5, abs=0.01)
    assert stems["bass"].present and stems["other"].present
    assert not stems["drums"].present and not stems["vocals"].present
    # A steady sine at RMS 0.1 is -20 dBFS in every frame but the zero-padded edges.
    assert stems["bass"].rms_max_db == pytest.approx(-20.0, abs=0.1)
    assert stems["bass"].rms_mean_db == pytest.approx(-20.0, abs=0.3)
    assert stems["bass"].onset_density < 0.2  # no onsets in a steady tone


def test_bass_line_onsets():
    notes = [synth.NoteEvent(0.25 + 0.5 * i, 0.45, midi) for i, midi in enumerate([36, 43, 41, 38] * 4)]
    bass = synth.render_notes(notes, sr=SR, total_s=8.25) * 0.5
    stems = _by_name(_run(_stems(len(bass), bass=bass)))
    assert stems["bass"].onset_density == pytest.approx(16 / 8.25, abs=0.15)


def test_presence_needs_more_than_a_tenth_of_the_frames():
    """One loud burst (5 % of the frames) has a large share but is not 'present' by the rule."""
    n = 10 * SR
    burst = np.zeros(n, np.float32)
    burst[SR : SR + SR // 2] = 0.3 * np.random.default_rng(1).standard_normal(SR // 2)
    bed = (0.01 * np.sin(2 * np.pi * 220 * np.arange(n) / SR)).astype(np.float32)
    stems = _by_name(_run(_stems(n, drums=burst, other=bed)))
    assert stems["drums"].energy_share > 0.9
    assert not stems["drums"].present
    assert stems["other"].present  # -43 dBFS throughout, share about 2 %


def test_harmonic_chroma_uses_bass_and_other_only():
    n = 6 * SR
    bass = synth.tone(57, 6.0, sr=SR) * 0.1  # A3 (lower notes smear over neighbours at n_fft=2048)
    chord = sum(synth.tone(m, 6.0, sr=SR) for m in synth.chord_pitches(0, "maj")) * 0.1  # C E G
    vocals = synth.tone(66, 6.0, sr=SR) * 0.5  # F#4: not a harmonic source
    drums = (0.2 * np.random.default_rng(2).standard_normal(n)).astype(np.float32)
    result = _run(_stems(n, bass=bass, other=chord, vocals=vocals, drums=drums))
    profile = result.harmonic_chroma.mean(axis=1)
    assert set(np.argsort(profile)[-4:].tolist()) == {0, 4, 7, 9}  # C, E, G, A
    assert profile[6] < 0.2 * profile.max()  # no F#


@pytest.mark.parametrize("model_sr", [44100, 48000, 22050])
def test_chunking_does_not_change_the_frames(model_sr):
    """Any chunking gives the frames of one full-signal analysis (same grid as the mix analysis)."""
    seconds = 7.3
    n = int(seconds * model_sr)
    rng = np.random.default_rng(model_sr)
    groove = synth.drum_groove(120, 4, sr=model_sr)[:n]
    notes = [synth.NoteEvent(0.5 * i, 0.5, m) for i, m in enumerate([48, 52, 55, 60] * 4)]
    keys = synth.render_notes(notes, sr=model_sr, total_s=seconds)[:n]
    noise = 0.05 * rng.standard_normal(n).astype(np.float32)
    stems = _stems(n, drums=groove * 0.5, other=keys * 0.3, vocals=noise)
    stems[:, 1] *= 0.8  # channels differ

    whole = _run(stems, model_sr=model_sr, keep_signals=True)
    sizes = rng.integers(1, int(1.7 * model_sr), size=40).tolist()
    chunked = _run(stems, sizes, model_sr=model_sr, keep_signals=True)
    for name in SOURCES:
        np.testing.assert_allclose(chunked.onset_envelopes[name], whole.onset_envelopes[name], atol=1e-4)
    np.testing.assert_allclose(chunked.harmonic_chroma, whole.harmonic_chroma, atol=1e-5)
    for a, b in zip(chunked.stems, whole.stems, strict=True):
        assert a.present == b.present
        for field in ("rms_mean_db", "rms_std_db", "rms_max_db", "energy_share", "onset_density"):
            assert getattr(a, field) == pytest.approx(getattr(b, field), abs=1e-4)

    mono = stems.mean(axis=1)
    if model_sr != 22050:
        mono = soxr.resample(np.ascontiguousarray(mono.T), model_sr, 22050).T
    for k, name in enumerate(SOURCES):
        reference = compute_frame_features(mono[k], sr=22050, hop_length=512)
        assert reference.n_frames == whole.n_frames
        np.testing.assert_allclose(whole.onset_envelopes[name], reference.onset_envelope, atol=1e-4)
    harmonic = compute_frame_features(mono[1] + mono[2], sr=22050, hop_length=512)
    np.testing.assert_allclose(whole.harmonic_chroma, harmonic.chroma, atol=1e-5)
    # The kept signals are the one-shot mono stems at the analysis rate, whatever the chunking.
    for kept in (whole, chunked):
        np.testing.assert_allclose(kept.harmonic_signal, mono[1] + mono[2], atol=1e-5)
        np.testing.assert_allclose(kept.drum_signal, mono[0], atol=1e-5)
    assert _run(stems, model_sr=model_sr).drum_signal is None  # not kept unless asked for


def test_tuning_reaches_the_chroma_filters():
    """A4 sung 40 cents sharp: with the tuning passed in, the harmonic chroma is the tuned analysis'."""
    y = synth.tone(69.4, 3.0, sr=SR) * 0.3
    stems = _stems(len(y), other=y)
    tuned = _run(stems, tuning=0.4).harmonic_chroma
    mono = soxr.resample(np.ascontiguousarray(stems[2].mean(axis=0)), SR, 22050)
    np.testing.assert_allclose(tuned, compute_frame_features(mono, sr=22050, tuning=0.4).chroma, atol=1e-5)
    assert not np.allclose(tuned, _run(stems).harmonic_chroma, atol=1e-3)


def test_silence():
    result = _run(_stems(3 * SR))
    for f in result.stems:
        assert (f.energy_share, f.onset_density, f.present) == (0.0, 0.0, False)
        assert f.rms_mean_db == pytest.approx(RMS_FLOOR_DB)
    assert not result.harmonic_chroma.any()


def test_n_frames_cuts_or_pads():
    stems = _stems(2 * SR, bass=synth.tone(45, 2.0, sr=SR))
    for n_frames in (40, 100):
        acc = StemAccumulator(SOURCES, model_sr=SR)
        acc.add(stems)
        result = acc.finish(n_frames=n_frames)
        assert result.n_frames == n_frames and result.harmonic_chroma.shape == (12, n_frames)
        assert all(env.shape == (n_frames,) for env in result.onset_envelopes.values())


def test_accumulator_errors():
    with pytest.raises(AnalysisError, match="harmonic"):
        StemAccumulator(["vocals", "accompaniment"], model_sr=SR)
    with pytest.raises(AnalysisError):
        StemAccumulator(SOURCES, model_sr=0)
    acc = StemAccumulator(SOURCES, model_sr=SR)
    with pytest.raises(AnalysisError, match="nothing"):
        acc.finish()
    with pytest.raises(AnalysisError, match="shape"):
        acc.add(np.zeros((3, 2, 100), np.float32))
    acc.add(np.zeros((4, 2, 100), np.float32))
    with pytest.raises(AnalysisError, match="2 channels"):
        acc.add(np.zeros((4, 1, 100), np.float32))
    with pytest.raises(AnalysisError, match="NaN"):
        acc.add(np.full((4, 2, 10), np.nan, np.float32))
    acc.finish()
    with pytest.raises(AnalysisError):
        acc.add(np.zeros((4, 2, 100), np.float32))
    with pytest.raises(AnalysisError):
        acc.finish()
    with pytest.raises(AnalysisError):
        acc.finish()


# ------------------------------------------------------------------------------------------------ FLAC


def test_flac_writer_appends_chunks(tmp_path):
    rng = np.random.default_rng(3)
    stems = (0.3 * rng.standard_normal((4, 2, 50000))).astype(np.float32)
    stems[0, 0, :10] = 1.7  # clipped to full scale, not wrapped around
    with write_stems_flac(sr=SR, sources=SOURCES, folder=tmp_path, track_id="abc123") as writer:
        for lo in range(0, 50000, 12345):
            writer.write(stems[..., lo:lo + 12345])
    assert [p.name for p in writer.paths] == [f"{s}.flac" for s in SOURCES]
    assert sorted(p.name for p in (tmp_path / "abc123").iterdir()) == sorted(f"{s}.flac" for s in SOURCES)
    for k, path in enumerate(writer.paths):
        data, sr = soundfile.read(path, dtype="float32", always_2d=True)
        assert sr == SR and data.shape == (50000, 2)
        np.testing.assert_allclose(data.T, np.clip(stems[k], -1, 1), atol=2.0**-22)  # 24-bit PCM


def test_flac_one_call_and_abort(tmp_path):
    stems = np.zeros((4, 2, 1000), np.float32)
    paths = write_stems_flac(stems, sr=SR, sources=SOURCES, folder=tmp_path, track_id="one")
    assert all(p.is_file() for p in paths)

    writer = StemFlacWriter(sr=SR, sources=SOURCES, folder=tmp_path, track_id="two")
    with pytest.raises(RuntimeError), writer:
        writer.write(stems)
        raise RuntimeError("separation failed half way")
    assert list((tmp_path / "two").iterdir()) == []

    with pytest.raises(AnalysisError):
        StemFlacWriter(sr=SR, sources=SOURCES, folder=tmp_path, track_id="../escape")
    writer = StemFlacWriter(sr=SR, sources=SOURCES, folder=tmp_path, track_id="three")
    with pytest.raises(AnalysisError):
        writer.write(np.zeros((2, 2, 10), np.float32))
    assert writer.close() == []
