"""The bad-input set and the encoders behind it: each file is what its key claims."""

from __future__ import annotations

import contextlib
import tracemalloc
from pathlib import Path

import av
import numpy as np
import pytest
import soundfile as sf

from ostinato.demo.encode import Mp3Writer, encode_mp3, write_flac, write_ogg, write_wav
from ostinato.demo.synth import tone
from ostinato.testing.corpus import (
    BAD_INPUT_KEYS,
    ID3_TAG_BYTES,
    TRUNCATE_HEADER_BYTES,
    write_bad_inputs,
    write_long_mp3,
)


def decode(path: Path) -> tuple[np.ndarray, int]:
    """Every decodable sample as float32 ``(channels, n)`` and the rate; stops quietly at a corrupt tail."""
    frames = []
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        with contextlib.suppress(av.error.InvalidDataError):
            frames.extend(_planar(f) for f in container.decode(stream))
        return np.concatenate(frames, axis=1), stream.rate


def _planar(frame: av.AudioFrame) -> np.ndarray:
    """One frame as float32 ``(channels, n)``, whatever PyAV's sample layout (packed s32 for FLAC)."""
    a = frame.to_ndarray()
    if not frame.format.is_planar:
        a = a.reshape(-1, len(frame.layout.channels)).T
    if np.issubdtype(a.dtype, np.integer):
        a = a / float(np.iinfo(a.dtype).max)
    return a.astype(np.float32)


def undecodable(path: Path) -> bool:
    """True when PyAV cannot open ``path`` as audio or gets no sample out of it."""
    try:
        y, _ = decode(path)
    except (av.error.FFmpegError, IndexError, ValueError):
        return True
    return y.shape[1] == 0


@pytest.fixture(scope="module")
def bad(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_bad_inputs(tmp_path_factory.mktemp("bad"))


def test_keys_and_files(bad: dict[str, Path]) -> None:
    assert tuple(bad) == BAD_INPUT_KEYS
    assert all(p.is_file() for p in bad.values())
    assert len({p.name for p in bad.values()}) == len(bad)
    assert "long" not in bad


def test_good_control_file(bad: dict[str, Path]) -> None:
    y, sr = decode(bad["good"])
    assert (sr, y.shape) == (44100, (2, 10 * 44100))
    assert np.abs(y).max() > 0.3
    assert bad["good"].read_bytes()[:3] == b"ID3"
    info = sf.info(str(bad["good"]))
    assert (info.samplerate, info.channels, info.frames) == (44100, 2, 10 * 44100)


def test_zero_byte(bad: dict[str, Path]) -> None:
    assert bad["zero_byte"].stat().st_size == 0
    assert undecodable(bad["zero_byte"])


def test_truncated_decodes_only_its_head(bad: dict[str, Path]) -> None:
    good_size = bad["good"].stat().st_size
    assert bad["truncated"].stat().st_size == int(good_size * 0.4)
    assert bad["good"].read_bytes().startswith(bad["truncated"].read_bytes())
    with av.open(str(bad["truncated"])) as container:  # the header still promises the whole file
        assert container.duration / 1e6 == pytest.approx(10.0, abs=0.1)
    y, sr = decode(bad["truncated"])
    assert 2.0 < y.shape[1] / sr < 4.5


def test_truncated_inside_the_id3_header(bad: dict[str, Path]) -> None:
    data = bad["truncated_header"].read_bytes()
    assert len(data) == TRUNCATE_HEADER_BYTES < ID3_TAG_BYTES
    assert data[:3] == b"ID3"
    assert undecodable(bad["truncated_header"])


@pytest.mark.parametrize("key", ["random_bytes", "text_file"])
def test_not_audio(bad: dict[str, Path], key: str) -> None:
    assert bad[key].suffix == ".mp3"
    assert bad[key].stat().st_size > 1000
    assert undecodable(bad[key])
    with pytest.raises(sf.LibsndfileError):
        sf.info(str(bad[key]))


def test_text_file_is_text(bad: dict[str, Path]) -> None:
    assert bad["text_file"].read_text().startswith("This is not an MP3")


def test_silence_is_digital_silence(bad: dict[str, Path]) -> None:
    y, sr = decode(bad["silence"])
    assert (sr, y.shape) == (44100, (1, 10 * 44100))
    assert np.abs(y).max() == 0.0


def test_short_clip(bad: dict[str, Path]) -> None:
    y, sr = decode(bad["short_clip"])
    assert y.shape[1] == round(0.2 * sr)
    spectrum = np.abs(np.fft.rfft(y[0]))
    assert np.fft.rfftfreq(y.shape[1], 1 / sr)[np.argmax(spectrum)] == pytest.approx(440, abs=10)


def test_mono_8k_mp3_and_wav(bad: dict[str, Path]) -> None:
    mp3, sr = decode(bad["mono_8k"])
    assert (sr, mp3.shape) == (8000, (1, 80000))
    wav, sr_wav = sf.read(str(bad["mono_8k_wav"]), dtype="float32")
    assert sr_wav == 8000 and wav.shape == (80000,)
    assert sf.info(str(bad["mono_8k_wav"])).subtype == "PCM_16"
    assert np.corrcoef(wav, mp3[0])[0, 1] > 0.9  # the same music in both, aligned


def test_hires_96k_flac(bad: dict[str, Path]) -> None:
    info = sf.info(str(bad["hires_96k"]))
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_24", 96000, 2)
    assert info.frames == 10 * 96000
    y, sr = decode(bad["hires_96k"])
    assert sr == 96000 and y.shape == (2, 960000)


def test_deterministic(bad: dict[str, Path], tmp_path: Path) -> None:
    again = write_bad_inputs(tmp_path)
    for key in ("good", "random_bytes", "mono_8k", "hires_96k"):
        assert again[key].read_bytes() == bad[key].read_bytes()


def test_long_file_is_written_in_chunks(tmp_path: Path) -> None:
    out = write_bad_inputs(tmp_path, include_long=True, long_minutes=0.5)
    y, sr = decode(out["long"])
    assert (sr, y.shape) == (44100, (1, 30 * 44100))
    assert sf.info(str(out["long"])).frames == 30 * 44100
    # Consecutive 8 s segments differ (four different tracks), so the file is not one loop.
    seg = 8 * sr
    assert not np.allclose(y[0, :seg], y[0, seg : 2 * seg], atol=0.05)


def test_long_writer_memory_does_not_grow_with_length(tmp_path: Path) -> None:
    peaks = []
    for minutes in (0.25, 1.5):
        tracemalloc.start()
        write_long_mp3(tmp_path / f"{minutes}.mp3", minutes=minutes)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    full_pcm = 1.5 * 60 * 44100 * 4  # what holding the 1.5 min of float32 PCM would cost
    assert peaks[1] - peaks[0] < 0.1 * full_pcm, peaks


def test_mp3_writer_chunks_equal_one_shot(tmp_path: Path) -> None:
    sr = 22050
    y = np.stack([tone(60, 3.0, sr=sr), tone(67, 3.0, sr=sr)]) * 0.5
    encode_mp3(y, sr=sr, path=tmp_path / "one.mp3")
    with Mp3Writer(tmp_path / "many.mp3", sr=sr, channels=2) as w:
        for start in range(0, y.shape[1], 1001):  # odd chunk size: frames straddle writes
            w.write(y[:, start : start + 1001])
    one, _ = decode(tmp_path / "one.mp3")
    many, _ = decode(tmp_path / "many.mp3")
    assert one.shape == many.shape == y.shape
    np.testing.assert_allclose(one, many, atol=1e-4)


@pytest.mark.parametrize(
    ("sr", "channels", "kbps"), [(8000, 1, 64), (22050, 1, 8), (32000, 2, 96), (48000, 2, 320)]
)
def test_encode_mp3_is_gapless(tmp_path: Path, sr: int, channels: int, kbps: int) -> None:
    n = int(1.3 * sr)
    y = np.zeros((channels, n), dtype=np.float32)
    y[:, sr // 2 : sr // 2 + sr // 20] = 0.8 * np.sin(2 * np.pi * 500 * np.arange(sr // 20) / sr)
    path = encode_mp3(y, sr=sr, path=tmp_path / "x.mp3", bitrate_kbps=kbps)
    out, rate = decode(path)
    assert rate == sr and out.shape == y.shape
    onset = int(np.argmax(np.abs(out[0]) > 0.2))
    assert abs(onset - sr // 2) < sr // 500  # within 2 ms of where it was written


def test_wav_flac_ogg_writers(tmp_path: Path) -> None:
    sr = 16000
    y = np.stack([tone(69, 1.0, sr=sr), -tone(69, 1.0, sr=sr)]) * 0.5
    for path in (
        write_wav(y, sr=sr, path=tmp_path / "a.wav"),
        write_flac(y, sr=sr, path=tmp_path / "a.flac"),
    ):
        back, rate = sf.read(str(path), dtype="float32", always_2d=True)
        assert rate == sr
        np.testing.assert_allclose(back.T, y, atol=1e-4)
    if "VORBIS" in sf.available_subtypes("OGG"):
        back, rate = sf.read(str(write_ogg(y, sr=sr, path=tmp_path / "a.ogg")), always_2d=True)
        assert rate == sr and abs(back.shape[0] - y.shape[1]) < 0.01 * sr
        assert np.corrcoef(back[:, 0], y[0])[0, 1] > 0.9


def test_encoder_rejects_bad_input(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sample rate"):
        encode_mp3(np.zeros(100), sr=96000, path=tmp_path / "x.mp3")
    with pytest.raises(ValueError, match="shape"):
        encode_mp3(np.zeros((1000, 2)), sr=44100, path=tmp_path / "x.mp3")
    with pytest.raises(ValueError, match="no samples"):
        encode_mp3(np.zeros((2, 0)), sr=44100, path=tmp_path / "x.mp3")
    with pytest.raises(ValueError, match="NaN"):
        encode_mp3(np.full(100, np.nan), sr=44100, path=tmp_path / "x.mp3")
