"""Write test signals to audio files: MP3 (lameenc, gapless), WAV, FLAC and Ogg/Vorbis (soundfile).

Signals are float arrays in [-1, 1] of shape ``(n,)`` (mono) or ``(channels, n)``; ``sr`` is in Hz.
Samples outside [-1, 1] are clipped when quantised.

MP3s get a LAME "Info" tag carrying the encoder delay and padding, as the ``lame`` command writes,
so FFmpeg/PyAV (and mpg123) decode exactly ``n`` samples aligned with the input: truth times written
beside a synthetic MP3 hold to the sample, not just to within LAME's ~25 ms of delay.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

import lameenc
import numpy as np
import soundfile as sf

#: Input sample rates (Hz) the MP3 writer accepts: those MPEG-1/2/2.5 Layer III carries without resampling.
MP3_SAMPLE_RATES: tuple[int, ...] = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)

#: LAME's fixed encoder delay in samples (ENCDELAY) at every MPEG rate when it does not resample.
LAME_ENCODER_DELAY = 576

_BITRATES_KBPS = {  # by MPEG-1 / MPEG-2 and 2.5 (lsf), Layer III, indexed by the header's bitrate index
    False: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    True: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_SAMPLE_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_INFO_TAG_BYTES = 4 + 4 + 4 + 100 + 4 + 36  # "Info", flags, frames, bytes, TOC, quality, LAME extension


def encode_mp3(y: np.ndarray, *, sr: int, path: Path, bitrate_kbps: int = 128, quality: int = 7) -> Path:
    """Encode ``y`` (shape ``(n,)`` or ``(channels, n)``, 1-2 channels, in [-1, 1]) at ``sr`` Hz as CBR MP3.

    ``sr`` must be one of ``MP3_SAMPLE_RATES``; ``bitrate_kbps`` is clamped by LAME to what the rate
    allows (at most 64 kbps mono at 8 kHz); ``quality`` is LAME's 2 (best) .. 7 (fastest).
    Returns ``path``.
    """
    y = _as_channels_first(y)
    if y.shape[1] == 0:
        raise ValueError("no samples to encode: an MP3 needs at least one")
    with Mp3Writer(path, sr=sr, channels=y.shape[0], bitrate_kbps=bitrate_kbps, quality=quality) as writer:
        writer.write(y)
    return Path(path)


class Mp3Writer:
    """Stream PCM into an MP3 file chunk by chunk, so memory stays bounded whatever the file's length.

    Use as a context manager: ``with Mp3Writer(path, sr=..., channels=...) as w: w.write(chunk)``;
    each chunk has shape ``(n,)`` (mono) or ``(channels, n)``. ``close`` flushes LAME and writes the
    Info tag frame (frame count, size, encoder delay and padding) in the space kept at the file's start.
    """

    def __init__(
        self, path: Path, *, sr: int, channels: int, bitrate_kbps: int = 128, quality: int = 7
    ) -> None:
        if sr not in MP3_SAMPLE_RATES:
            raise ValueError(f"MP3 sample rate must be one of {MP3_SAMPLE_RATES} Hz, got {sr}")
        if channels not in (1, 2):
            raise ValueError(f"MP3 takes 1 or 2 channels, got {channels}")
        self.path = Path(path)
        self.sr, self.channels = sr, channels
        self._encoder = lameenc.Encoder()
        self._encoder.set_bit_rate(int(bitrate_kbps))
        self._encoder.set_in_sample_rate(sr)
        self._encoder.set_out_sample_rate(sr)  # LAME would otherwise resample at low bitrates
        self._encoder.set_channels(channels)
        self._encoder.set_quality(int(quality))
        self._file = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._tag_size = 0  # bytes kept for the Info frame once the first frame's header is known
        self._first_header = b""
        self._pending = b""  # encoded bytes not yet split into frames
        self._frames = 0
        self._audio_bytes = 0
        self._samples = 0
        self._closed = False

    def write(self, y: np.ndarray) -> None:
        """Encode one chunk: shape ``(n,)`` or ``(channels, n)``, float in [-1, 1]."""
        y = _as_channels_first(y)
        if y.shape[0] != self.channels:
            raise ValueError(f"chunk has {y.shape[0]} channels, the writer {self.channels}")
        pcm = np.round(np.clip(y, -1.0, 1.0) * 32767.0).astype("<i2").T.tobytes()
        self._samples += y.shape[1]
        self._emit(bytes(self._encoder.encode(pcm)))

    def close(self) -> Path:
        """Flush the encoder, write the Info tag and close the file; returns its path."""
        if self._closed:
            return self.path
        try:
            self._emit(bytes(self._encoder.flush()))
            if self._pending:
                raise ValueError(f"LAME left {len(self._pending)} bytes that are not a whole frame")
            if self._frames:
                self._file.seek(0)
                self._file.write(self._info_frame())
        finally:
            self._file.close()
            self._closed = True
        return self.path

    def __enter__(self) -> Mp3Writer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        if not self._first_header:
            self._first_header = data[:4]
            if _parse_header(self._first_header)["sr"] != self.sr:
                raise ValueError(f"LAME resampled {self.sr} Hz; choose a bitrate the rate supports")
            self._tag_size = _frame_size(_tag_header(self._first_header))
            self._file.write(bytes(self._tag_size))
        self._pending += data
        self._file.write(data)
        self._audio_bytes += len(data)
        # Count whole frames; a frame cut at the end of this chunk waits for the next one.
        pos = 0
        while pos + 4 <= len(self._pending):
            size = _frame_size(self._pending[pos : pos + 4])
            if pos + size > len(self._pending):
                break
            pos += size
            self._frames += 1
        self._pending = self._pending[pos:]

    def _info_frame(self) -> bytes:
        h = _parse_header(self._first_header)
        spf = 576 if h["lsf"] else 1152
        padding = self._frames * spf - LAME_ENCODER_DELAY - self._samples
        if not 0 <= padding < 4096:
            raise ValueError(f"cannot record an MP3 padding of {padding} samples in a LAME tag")
        total = self._tag_size + self._audio_bytes
        toc = bytes(min(255, i * 256 // 100) for i in range(100))
        lame = (
            b"LAME3.100"
            + bytes([0x01, 0])  # tag revision 0, CBR; lowpass unknown
            + bytes(8)  # ReplayGain peak and gains: none
            + bytes([0, min(255, h["bitrate_kbps"])])  # encoding flags, bitrate
            + ((LAME_ENCODER_DELAY << 12) | padding).to_bytes(3, "big")
            + bytes(4)  # misc, MP3 gain, preset / surround
            + total.to_bytes(4, "big")
            + bytes(2)  # music CRC: not computed
        )
        body = (
            b"Info" + (0x0F).to_bytes(4, "big") + self._frames.to_bytes(4, "big") + total.to_bytes(4, "big")
        )
        body += toc + (50).to_bytes(4, "big") + lame
        frame = bytearray(self._tag_size)
        frame[:4] = _tag_header(self._first_header)
        start = 4 + _side_info_bytes(h)
        frame[start : start + len(body)] = body
        crc_at = start + len(body)
        frame[crc_at : crc_at + 2] = _crc16(bytes(frame[:crc_at])).to_bytes(2, "big")
        return bytes(frame)


def write_wav(y: np.ndarray, *, sr: int, path: Path, subtype: str = "PCM_16") -> Path:
    """Write ``y`` (shape ``(n,)`` or ``(channels, n)``, in [-1, 1]) as WAV; ``subtype`` is soundfile's."""
    return _write_soundfile(y, sr=sr, path=path, format="WAV", subtype=subtype)


def write_flac(y: np.ndarray, *, sr: int, path: Path, subtype: str = "PCM_16") -> Path:
    """Write ``y`` (shape ``(n,)`` or ``(channels, n)``) as FLAC; ``subtype`` "PCM_16" or "PCM_24"."""
    return _write_soundfile(y, sr=sr, path=path, format="FLAC", subtype=subtype)


def write_ogg(y: np.ndarray, *, sr: int, path: Path) -> Path:
    """Write ``y`` (shape ``(n,)`` or ``(channels, n)``) as Ogg/Vorbis; needs libsndfile built with Vorbis."""
    if "OGG" not in sf.available_formats() or "VORBIS" not in sf.available_subtypes("OGG"):
        raise ValueError("this libsndfile has no Ogg/Vorbis support")
    return _write_soundfile(y, sr=sr, path=path, format="OGG", subtype="VORBIS")


def _write_soundfile(y: np.ndarray, *, sr: int, path: Path, format: str, subtype: str) -> Path:
    y = _as_channels_first(y)
    sf.write(str(path), np.clip(y, -1.0, 1.0).T, int(sr), format=format, subtype=subtype)
    return Path(path)


def _as_channels_first(y: np.ndarray) -> np.ndarray:
    y = np.asarray(y, dtype=np.float32)
    if y.ndim == 1:
        y = y[None, :]
    if y.ndim != 2 or y.shape[0] > 8:
        raise ValueError(
            f"audio must have shape (n,) or (channels, n) with at most 8 channels, got {y.shape}"
        )
    if not np.all(np.isfinite(y)):
        raise ValueError("audio contains NaN or infinite samples")
    return y


def _parse_header(header: bytes) -> dict[str, int]:
    v = int.from_bytes(header[:4], "big")
    if v >> 21 != 0x7FF or (v >> 17) & 3 != 1:
        raise ValueError(f"not an MPEG Layer III frame header: {header[:4].hex()}")
    version = (v >> 19) & 3  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    lsf = version != 3
    return {
        "lsf": lsf,
        "bitrate_kbps": _BITRATES_KBPS[lsf][(v >> 12) & 15],
        "sr": _SAMPLE_RATES[version][(v >> 10) & 3],
        "padding": (v >> 9) & 1,
        "mono": int((v >> 6) & 3 == 3),
    }


def _frame_size(header: bytes) -> int:
    h = _parse_header(header)
    return (72 if h["lsf"] else 144) * h["bitrate_kbps"] * 1000 // h["sr"] + h["padding"]


def _side_info_bytes(h: dict[str, int]) -> int:
    return (9 if h["mono"] else 17) if h["lsf"] else (17 if h["mono"] else 32)


def _tag_header(header: bytes) -> bytes:
    """Header of the Info frame: the first audio frame's, unpadded, with a higher bitrate if too small."""
    h = _parse_header(header)
    need = 4 + _side_info_bytes(h) + _INFO_TAG_BYTES
    v = int.from_bytes(header[:4], "big") & ~(1 << 9)
    for index in range((v >> 12) & 15, 15):
        candidate = ((v & ~(15 << 12)) | (index << 12)).to_bytes(4, "big")
        if _frame_size(candidate) >= need:
            return candidate
    raise ValueError(f"no MPEG frame at {h['sr']} Hz can hold a LAME Info tag")


def _crc16(data: bytes) -> int:
    """CRC-16/ARC (polynomial 0x8005, reflected), the checksum of LAME's Info tag."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def write_m4a(y: np.ndarray, *, sr: int, path: Path, bitrate_kbps: int = 128) -> Path:
    """AAC in an MP4 (.m4a) container through PyAV/FFmpeg's native AAC encoder. ``y``: (n,) or (channels, n)."""
    import av

    data = _as_channels_first(y)
    layout = "mono" if data.shape[0] == 1 else "stereo"
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = container.add_stream("aac", rate=sr, layout=layout)
        stream.bit_rate = bitrate_kbps * 1000
        frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(data, dtype=np.float32), format="fltp", layout=layout)
        frame.sample_rate = sr
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return Path(path)
