"""Decoding every supported container to float32 at the analysis rate, with tags, and damaged streams."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ostinato.analysis.decode import decode, probe
from ostinato.demo import encode
from ostinato.demo.synth import tone
from ostinato.errors import AnalysisError
from ostinato.testing.corpus import id3v2_tag

SR = 44100


def _stereo_a440(seconds: float = 3.0, sr: int = SR) -> np.ndarray:
    y = tone(69, seconds, sr=sr, harmonics=(1.0,), attack_s=0.005, release_s=0.005) * 0.5
    return np.stack([y, y])


def _peak_hz(y: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(y * np.hanning(len(y))))
    return float(np.argmax(spectrum) * sr / len(y))


WRITERS = {
    "wav": lambda y, p: encode.write_wav(y, sr=SR, path=p),
    "flac": lambda y, p: encode.write_flac(y, sr=SR, path=p),
    "ogg": lambda y, p: encode.write_ogg(y, sr=SR, path=p),
    "mp3": lambda y, p: encode.encode_mp3(y, sr=SR, path=p),
    "m4a": lambda y, p: encode.write_m4a(y, sr=SR, path=p),
}


@pytest.mark.parametrize("fmt", sorted(WRITERS))
@pytest.mark.parametrize("target_sr", [22050, 16000])
def test_every_format_decodes_to_the_same_tone(tmp_path: Path, fmt: str, target_sr: int):
    path = WRITERS[fmt](_stereo_a440(), tmp_path / f"a440.{fmt}")
    audio = decode(str(path), sr=target_sr)
    assert audio.sr == target_sr and audio.y.dtype == np.float32 and audio.y.shape[0] == 2
    assert audio.duration_s == pytest.approx(3.0, abs=0.06)  # AAC/Vorbis priming may add a frame
    assert _peak_hz(audio.mono(), target_sr) == pytest.approx(440.0, abs=1.0)
    assert audio.info.sample_rate == SR and audio.info.channels == 2
    assert not audio.warnings


def test_keep_native_rate_and_limit_duration(tmp_path: Path):
    path = encode.write_flac(_stereo_a440(5.0), sr=SR, path=tmp_path / "a.flac")
    assert decode(str(path)).sr == SR
    assert decode(str(path), sr=22050, max_duration_s=2.0).duration_s == pytest.approx(2.0, abs=1e-3)


def test_file_objects_decode_like_paths(tmp_path: Path):
    path = encode.encode_mp3(_stereo_a440(), sr=SR, path=tmp_path / "a.mp3")
    with open(path, "rb") as handle:
        from_handle = decode(handle, sr=22050)
    np.testing.assert_allclose(from_handle.y, decode(str(path), sr=22050).y)


def test_mp3_tags_and_bitrate(tmp_path: Path):
    path = encode.encode_mp3(_stereo_a440(), sr=SR, path=tmp_path / "plain.mp3", bitrate_kbps=128)
    tagged = tmp_path / "tagged.mp3"
    tagged.write_bytes(id3v2_tag(title="Ostinato in C", artist="The Testers") + path.read_bytes())
    info = probe(str(tagged))
    assert info.tags == {"title": "Ostinato in C", "artist": "The Testers"}
    assert info.codec == "mp3" and info.bitrate_kbps == pytest.approx(128, rel=0.1)


def test_more_than_two_channels_are_downmixed(tmp_path: Path):
    y = np.concatenate([_stereo_a440(), _stereo_a440(), _stereo_a440()])  # 6 channels
    path = encode.write_wav(y, sr=SR, path=tmp_path / "surround.wav")
    assert decode(str(path), sr=22050).y.shape[0] == 2


def test_truncated_stream_decodes_what_is_there_with_a_warning(tmp_path: Path):
    path = encode.encode_mp3(_stereo_a440(10.0), sr=SR, path=tmp_path / "full.mp3")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size * 4 // 10])
    audio = decode(str(cut), sr=22050)
    assert 3.0 < audio.duration_s < 5.0
    assert "damaged after 4.0 s" in audio.warnings[0] or "truncated" in audio.warnings[0]


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "not a readable audio file"), (b"just some text\n" * 20, "not a readable audio file")],
)
def test_unreadable_files_raise_one_clear_error(tmp_path: Path, content: bytes, reason: str):
    path = tmp_path / "bad.mp3"
    path.write_bytes(content)
    with pytest.raises(AnalysisError, match=reason):
        decode(str(path))


def test_mono_decode_with_a_meter_sees_every_channel(tmp_path: Path):
    from ostinato.analysis.loudness import LoudnessMeter, measure_loudness

    left = _stereo_a440(6.0)[0]
    path = encode.write_flac(np.stack([left, 0.25 * left]), sr=SR, path=tmp_path / "unbalanced.flac")
    meter = LoudnessMeter(sr=22050, channels=2)
    mono = decode(str(path), sr=22050, mono=True, on_block=meter.add)
    stereo = decode(str(path), sr=22050)
    assert mono.y.shape == (1, stereo.y.shape[1])
    np.testing.assert_allclose(mono.y[0], stereo.y.mean(axis=0), atol=1e-6)
    assert meter.result() == measure_loudness(stereo.y, sr=22050)
    assert meter.samples == stereo.y.shape[1]


def test_one_decode_serves_separator_and_analysis(tmp_path: Path):
    """With separation a track is decoded once, at the separator's rate; its mono mix resampled to the analysis
    rate equals a direct mono decode at that rate."""
    from ostinato.analysis.decode import resample_mono

    stereo = np.stack([tone(220.0, 3.0, sr=44100), 0.5 * tone(330.0, 3.0, sr=44100)]).astype(np.float32)
    path = encode.write_wav(stereo, sr=44100, path=tmp_path / "two.wav")
    direct = decode(str(path), sr=22050, mono=True)
    once = resample_mono(decode(str(path), sr=44100), sr=22050)
    assert once.y.shape == direct.y.shape and once.sr == 22050
    np.testing.assert_allclose(once.y, direct.y, atol=2e-3)
