"""Decode any audio container PyAV (FFmpeg) reads into float32 arrays, resampled with soxr as it streams.

Memory stays at the size of the output waveform: packets are decoded, converted and resampled one at a time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO

import av
import numpy as np
import soxr

from ostinato.errors import AnalysisError

_TAG_KEYS = {
    "artist": ("artist", "album_artist", "tpe1"),
    "title": ("title", "tit2"),
    "album": ("album", "talb"),
    "genre": ("genre", "tcon"),
    "year": ("date", "year", "tdrc", "tyer"),
}


@dataclass(frozen=True)
class AudioInfo:
    """What the container says about the first audio stream (before decoding).

    ``duration_s`` is the container's estimate in seconds (0.0 when unknown); ``bitrate_kbps`` is in kbit/s.
    """

    container: str
    codec: str
    sample_rate: int
    channels: int
    duration_s: float
    bitrate_kbps: float | None
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class DecodedAudio:
    """A decoded waveform ``y`` of shape ``(channels, n)`` float32 in [-1, 1] at ``sr`` Hz.

    ``warnings`` lists recoverable problems (e.g. a truncated stream decoded up to its damage).
    """

    y: np.ndarray
    sr: int
    info: AudioInfo
    warnings: tuple[str, ...] = ()

    @property
    def duration_s(self) -> float:
        return self.y.shape[-1] / self.sr

    def mono(self) -> np.ndarray:
        """Channel mean, shape ``(n,)``."""
        return self.y.mean(axis=0) if self.y.shape[0] > 1 else self.y[0]



def resample_mono(audio: DecodedAudio, *, sr: int) -> DecodedAudio:
    """The channel mean of ``audio`` at ``sr`` Hz (soxr HQ, as ``decode`` resamples), shape ``(1, n)``: the
    analysis waveform of a track decoded once at the separator's rate."""
    y = audio.mono().astype(np.float32, copy=False)
    if sr != audio.sr:
        y = soxr.resample(y, audio.sr, sr, quality="HQ").astype(np.float32, copy=False)
    return DecodedAudio(y=y[None, :], sr=sr, info=audio.info, warnings=audio.warnings)

def _open(source: str | BinaryIO) -> av.container.InputContainer:
    try:
        container = av.open(source, mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        raise AnalysisError(f"not a readable audio file ({_reason(exc)})") from None
    if not container.streams.audio:
        container.close()
        raise AnalysisError("the file holds no audio stream")
    return container


def _reason(exc: Exception) -> str:
    text = getattr(exc, "strerror", None) or str(exc).strip() or type(exc).__name__
    return text.split(": '", 1)[0]


def _tags(container: av.container.InputContainer, stream: av.audio.AudioStream) -> dict[str, str]:
    raw = {k.lower(): str(v).strip() for k, v in {**stream.metadata, **container.metadata}.items()}
    tags = {}
    for name, keys in _TAG_KEYS.items():
        value = next((raw[k] for k in keys if raw.get(k)), None)
        if value:
            tags[name] = value[:4] if name == "year" else value
    return tags


def _info(container: av.container.InputContainer) -> AudioInfo:
    stream = container.streams.audio[0]
    ctx = stream.codec_context
    if stream.duration is not None and stream.time_base is not None:
        duration = float(stream.duration * stream.time_base)
    elif container.duration is not None:
        duration = container.duration / av.time_base
    else:
        duration = 0.0
    bit_rate = stream.bit_rate or container.bit_rate
    return AudioInfo(
        container=container.format.name.split(",")[0],
        codec=getattr(ctx.codec, "canonical_name", None) or ctx.name or "unknown",
        sample_rate=int(ctx.sample_rate or 0),
        channels=int(ctx.channels or 0),
        duration_s=max(duration, 0.0),
        bitrate_kbps=round(bit_rate / 1000.0, 1) if bit_rate else None,
        tags=_tags(container, stream),
    )


def probe(source: str | BinaryIO) -> AudioInfo:
    """Read the container header of a path or binary file object; raises AnalysisError if it holds no audio."""
    container = _open(source)
    try:
        return _info(container)
    finally:
        container.close()


#: Decoded input samples gathered before resampling and storing them in one call (~1.5 s at 44.1 kHz).
_PUSH_SAMPLES = 65536


class _Buffer:
    """Growable (channels, n) float32 buffer; grows by 1.5x so appends stay amortised O(1)."""

    def __init__(self, channels: int, capacity: int) -> None:
        self.data = np.zeros((channels, max(capacity, 1024)), dtype=np.float32)
        self.n = 0

    def append(self, block: np.ndarray) -> None:
        need = self.n + block.shape[1]
        if need > self.data.shape[1]:
            grown = np.zeros((self.data.shape[0], int(need * 1.5)), dtype=np.float32)
            grown[:, : self.n] = self.data[:, : self.n]
            self.data = grown
        self.data[:, self.n : need] = block
        self.n = need

    def result(self) -> np.ndarray:
        return self.data[:, : self.n]


def decode(
    source: str | BinaryIO,
    *,
    sr: int | None = None,
    max_channels: int = 2,
    max_duration_s: float | None = None,
    mono: bool = False,
    on_block: Callable[[np.ndarray], None] | None = None,
) -> DecodedAudio:
    """Decode the first audio stream of a path or binary file object.

    Parameters
    ----------
    sr : target sample rate in Hz, or None to keep the file's rate.
    max_channels : more channels than this are downmixed to stereo (or mono when 1).
    max_duration_s : stop after this many seconds of audio.
    mono : keep only the channel mean, shape ``(1, n)``, halving memory for stereo files.
    on_block : called with every ``(channels, m)`` block at the output rate before any downmix, in order,
        e.g. a ``LoudnessMeter.add`` that needs the channels the returned waveform no longer has.

    Returns a DecodedAudio with ``y`` of shape ``(min(channels, max_channels), n)`` (``(1, n)`` if mono).
    Raises AnalysisError when nothing can be decoded; a stream damaged part-way returns what decoded before
    the damage, with a warning.
    """
    container = _open(source)
    warnings: list[str] = []
    try:
        info = _info(container)
        stream = container.streams.audio[0]
        in_sr = info.sample_rate
        if in_sr <= 0:
            raise AnalysisError("the audio stream declares no sample rate")
        channels = min(info.channels or 1, max_channels)
        out_sr = sr or in_sr
        layout = "mono" if channels == 1 else "stereo"
        converter = av.AudioResampler(format="fltp", layout=layout, rate=in_sr)
        resampler = None
        if out_sr != in_sr:
            resampler = soxr.ResampleStream(in_sr, out_sr, channels, dtype="float32", quality="HQ")
        estimate = int((info.duration_s or 60.0) * out_sr * 1.02) + out_sr
        if max_duration_s is not None:
            estimate = min(estimate, int(max_duration_s * out_sr) + out_sr)
        buffer = _Buffer(1 if mono else channels, estimate)
        limit = int(max_duration_s * out_sr) if max_duration_s is not None else None
        samples_seen = 0
        pending: list[np.ndarray] = []  # decoded frames not yet resampled, in input samples
        pending_n = 0

        def push(last: bool = False) -> None:
            """Resample, meter and store the pending frames as one block (per-frame calls cost more than the work)."""
            nonlocal samples_seen, pending_n
            block = np.concatenate(pending, axis=1) if pending else np.zeros((channels, 0), dtype=np.float32)
            pending.clear()
            pending_n = 0
            if resampler is not None:
                block = resampler.resample_chunk(np.ascontiguousarray(block.T), last=last).T
            if limit is not None:
                block = block[:, : max(limit - samples_seen, 0)]
            samples_seen += block.shape[1]
            if not block.shape[1]:
                return
            if on_block is not None:
                on_block(block)
            buffer.append(block.mean(axis=0, keepdims=True) if mono and block.shape[0] > 1 else block)

        def gather(frames) -> None:
            nonlocal pending_n
            for converted in frames:
                array = converted.to_ndarray().astype(np.float32, copy=False)
                pending.append(array)
                pending_n += array.shape[1]
            if pending_n >= _PUSH_SAMPLES:
                push()

        damage = None
        try:
            for packet in container.demux(stream):
                for frame in packet.decode():
                    gather(converter.resample(frame))
                if limit is not None and samples_seen + pending_n * out_sr / in_sr >= limit:
                    break
        except (av.error.FFmpegError, ValueError) as exc:
            if samples_seen + pending_n == 0:
                raise AnalysisError(f"audio stream could not be decoded ({_reason(exc)})") from None
            damage = exc
        gather(converter.resample(None))
        push(last=True)
        if damage is not None:
            warnings.append(f"stream damaged after {buffer.n / out_sr:.1f} s, decoded up to there ({_reason(damage)})")
    finally:
        container.close()
    y = buffer.result()
    if limit is not None:
        y = y[:, :limit]
    if y.shape[1] == 0:
        raise AnalysisError("the audio stream decoded to zero samples")
    declared = min(info.duration_s, max_duration_s or info.duration_s)
    if not warnings and declared > 1.0 and y.shape[1] / out_sr < 0.9 * declared:
        warnings.append(f"decoded {y.shape[1] / out_sr:.1f} s of the {declared:.1f} s the header declares (truncated?)")
    np.clip(y, -1.0, 1.0, out=y)
    return DecodedAudio(y=y, sr=out_sr, info=info, warnings=tuple(warnings))
