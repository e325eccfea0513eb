"""The bad-input set: files a corpus scan meets in the wild, each built to be exactly what its key says.

``write_bad_inputs(folder)`` returns ``{key: path}``:

================== ==========================================================================================
key                content
================== ==========================================================================================
good               10 s of music, 44.1 kHz stereo, 128 kbps MP3 with an ID3v2 tag (the control)
zero_byte          an empty ``.mp3``
truncated          ``good`` cut to its first 40 % of bytes: decodes ~4 s (maybe then an error); tag says 10 s
truncated_header   ``good`` cut to its first 500 bytes, inside the 1 KiB ID3v2 tag: no audio frame at all
random_bytes       64 KiB of seeded random bytes (0xFF removed, so no MPEG frame sync) named ``.mp3``
text_file          a text file named ``.mp3``
silence            10 s of digital silence (all-zero samples), 44.1 kHz mono MP3
short_clip         a 0.2 s 440 Hz tone, 44.1 kHz mono MP3
mono_8k            10 s of music at 8 kHz mono, 64 kbps MP3 (MPEG-2.5)
mono_8k_wav        the same signal as 16-bit WAV
hires_96k          10 s of music at 96 kHz stereo, 24-bit FLAC
long               only with ``include_long``: ``long_minutes`` of music, 44.1 kHz mono 64 kbps MP3,
                   written chunk by chunk (see ``write_long_mp3``)
================== ==========================================================================================

All MP3s are gapless (LAME Info tag), so decoders return exactly the stated duration. Deterministic.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ostinato.demo import TRACK_SPECS, render_track
from ostinato.demo.encode import Mp3Writer, encode_mp3, write_flac, write_wav
from ostinato.demo.synth import tone

#: The keys ``write_bad_inputs`` always returns (``"long"`` is added with ``include_long=True``).
BAD_INPUT_KEYS: tuple[str, ...] = (
    "good", "zero_byte", "truncated", "truncated_header", "random_bytes", "text_file",
    "silence", "short_clip", "mono_8k", "mono_8k_wav", "hires_96k",
)  # fmt: skip

TRUNCATE_FRACTION = 0.4
TRUNCATE_HEADER_BYTES = 500
ID3_TAG_BYTES = 1024


def write_bad_inputs(
    folder: Path, *, include_long: bool = False, long_minutes: float = 60.0, seed: int = 0
) -> dict[str, Path]:
    """Write the bad-input set into ``folder`` (created if missing); the module docstring lists the files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}

    good = folder / "good.mp3"
    encode_mp3(music(10.0, sr=44100, channels=2, seed=seed), sr=44100, path=good)
    good.write_bytes(id3v2_tag(title="good", artist="ostinato") + good.read_bytes())
    out["good"] = good

    out["zero_byte"] = folder / "zero_byte.mp3"
    out["zero_byte"].write_bytes(b"")

    data = good.read_bytes()
    out["truncated"] = folder / "truncated.mp3"
    out["truncated"].write_bytes(data[: int(len(data) * TRUNCATE_FRACTION)])
    out["truncated_header"] = folder / "truncated_header.mp3"
    out["truncated_header"].write_bytes(data[:TRUNCATE_HEADER_BYTES])

    noise = np.random.default_rng(seed).integers(0, 255, 65536, dtype=np.uint8)  # 0..254: never 0xFF
    out["random_bytes"] = folder / "random_bytes.mp3"
    out["random_bytes"].write_bytes(noise.tobytes())

    out["text_file"] = folder / "text_file.mp3"
    out["text_file"].write_text("This is not an MP3 file; it is a text file with the wrong extension.\n" * 40)

    out["silence"] = encode_mp3(np.zeros(10 * 44100, dtype=np.float32), sr=44100, path=folder / "silence.mp3")
    out["short_clip"] = encode_mp3(0.5 * tone(69, 0.2, sr=44100), sr=44100, path=folder / "short_clip.mp3")

    low = music(10.0, sr=8000, channels=1, seed=seed)
    out["mono_8k"] = encode_mp3(low, sr=8000, path=folder / "mono_8k.mp3", bitrate_kbps=64)
    out["mono_8k_wav"] = write_wav(low, sr=8000, path=folder / "mono_8k.wav")

    hires = music(10.0, sr=96000, channels=2, seed=seed)
    out["hires_96k"] = write_flac(hires, sr=96000, path=folder / "hires_96k.flac", subtype="PCM_24")

    if include_long:
        name = f"long_{round(long_minutes * 60)}s.mp3"
        out["long"] = write_long_mp3(folder / name, minutes=long_minutes, seed=seed)
    return out


def music(seconds: float, *, sr: int, channels: int, seed: int = 0) -> np.ndarray:
    """A demo-corpus track (drums, bass, keys, lead) of ``seconds`` s at ``sr`` Hz.

    Returns shape ``(seconds * sr,)`` for ``channels == 1`` or ``(2, seconds * sr)`` for 2.
    """
    spec = TRACK_SPECS[seed % len(TRACK_SPECS)]
    _, stereo = render_track(spec, index=0, seconds=seconds, sr=sr, rng=np.random.default_rng(seed))
    if channels == 2:
        return stereo
    if channels == 1:
        return stereo.mean(axis=0)
    raise ValueError(f"channels must be 1 or 2, got {channels}")


def write_long_mp3(
    path: Path,
    *,
    minutes: float,
    sr: int = 44100,
    bitrate_kbps: int = 64,
    segment_s: float = 8.0,
    seed: int = 0,
) -> Path:
    """Write ``minutes`` of mono music as one MP3 while holding only a few ``segment_s``-second segments.

    Four different demo tracks of ``segment_s`` s are rendered once and written in turn, chunk by chunk,
    through ``Mp3Writer``; the last chunk is cut so the file is exactly ``round(minutes * 60 * sr)``
    samples long. Memory is ``O(segment_s * sr)`` whatever ``minutes`` is.
    """
    if not minutes > 0:
        raise ValueError(f"minutes must be positive, got {minutes}")
    segments = [music(segment_s, sr=sr, channels=1, seed=seed + k) for k in range(4)]
    remaining = int(round(minutes * 60 * sr))
    with Mp3Writer(path, sr=sr, channels=1, bitrate_kbps=bitrate_kbps) as writer:
        k = 0
        while remaining > 0:
            chunk = segments[k % len(segments)][:remaining]
            writer.write(chunk)
            remaining -= len(chunk)
            k += 1
    return Path(path)


def id3v2_tag(*, title: str, artist: str, size: int = ID3_TAG_BYTES) -> bytes:
    """An ID3v2.3 tag of exactly ``size`` bytes (title and artist frames, then zero padding)."""
    frames = b"".join(
        frame_id + (len(text) + 1).to_bytes(4, "big") + b"\x00\x00" + b"\x00" + text.encode("latin-1")
        for frame_id, text in ((b"TIT2", title), (b"TPE1", artist))
    )
    body = size - 10
    if len(frames) > body:
        raise ValueError(f"ID3 frames need {len(frames)} bytes, more than a {size}-byte tag holds")
    syncsafe = bytes((body >> s) & 0x7F for s in (21, 14, 7, 0))
    return b"ID3\x03\x00\x00" + syncsafe + frames + bytes(body - len(frames))
