"""One track's training segments: decode, log-mel, cut, align conditions; plain compute, no Ray.

``pipelines/build_dataset.py`` runs ``build_track`` on Ray over every ok row of an analysis output.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from ostinato.analysis.decode import decode
from ostinato.datasets.conditions import frame_conditions, global_conditions
from ostinato.datasets.config import DatasetConfig
from ostinato.datasets.mel import log_mel
from ostinato.datasets.segments import segment_id, segment_starts
from ostinato.datasets.shards import segments_table
from ostinato.storage import is_uri, resolve

#: Columns of the analysis ``tracks`` table a segment needs (the heavy feature columns are never read).
ROW_COLUMNS: tuple[str, ...] = (
    "track_id", "path", "status", "duration_s", "beats", "beats_per_bar", "chords", "roman", "sections", "key",
    "mode", "tempo_bpm", "meter", "genre", "loudness_lufs", "harmonic_complexity", "rhythmic_complexity",
)


def _split_path(path: str) -> tuple[str, list[str]]:
    """``("scheme://", parts)`` for a URI, ``("", parts)`` for a path (leading "/" kept as an empty part)."""
    scheme, rest = ("", path)
    if "://" in path:
        scheme, rest = path.split("://", 1)
        scheme += "://"
    return scheme, rest.split("/")


def common_folder(paths: Iterable[str]) -> str | None:
    """The deepest folder holding every absolute path or URI of ``paths`` (relative paths are ignored);
    None when there are none."""
    found: tuple[str, list[str]] | None = None
    for path in paths:
        scheme, parts = _split_path(path)
        if not scheme and not path.startswith("/"):
            continue
        folder = parts[:-1]
        if found is None:
            found = (scheme, folder)
            continue
        if found[0] != scheme:
            return None
        k = 0
        while k < min(len(found[1]), len(folder)) and found[1][k] == folder[k]:
            k += 1
        found = (scheme, found[1][:k])
    if found is None:
        return None
    return found[0] + "/".join(found[1])


def relocate(path: str, *, audio_root: str | None, old_root: str | None) -> str:
    """Where a row's audio is now: ``path`` itself without ``audio_root``; else a relative ``path`` joined to
    ``audio_root``, or an absolute one with its ``old_root`` prefix (the rows' common folder) replaced by it."""
    if audio_root is None:
        return path
    scheme, _ = _split_path(path)
    if not scheme and not path.startswith("/"):
        return posixpath.join(audio_root.rstrip("/"), path)
    if old_root and path.startswith(old_root.rstrip("/") + "/"):
        return audio_root.rstrip("/") + "/" + path[len(old_root.rstrip("/")) + 1:]
    return path


def _open(path: str):
    if not is_uri(path):
        return path
    fs, inner = resolve(path)
    return fs.open_input_file(inner)


def build_track(row: Mapping[str, Any], *, audio_path: str, split: str, config: DatasetConfig) -> pa.Table:
    """All full segments of one analysed track as a table of segment rows (``shards.segment_schema``).

    ``row`` is its ``tracks`` row as a dict (only ``ROW_COLUMNS`` are read); the audio is decoded from
    ``audio_path`` to mono at ``config.mel.sample_rate``. A track shorter than one segment gives an empty table.
    Raises ``AnalysisError`` when the audio cannot be decoded.
    """
    mel_cfg = config.mel
    n_frames = config.segment.frames(mel_cfg)
    audio = decode(_open(audio_path), sr=mel_cfg.sample_rate, mono=True)
    mel = log_mel(audio.y[0], sr=mel_cfg.sample_rate, n_fft=mel_cfg.n_fft, hop_length=mel_cfg.hop_length,
                  n_mels=mel_cfg.n_mels, fmin=mel_cfg.fmin, fmax=mel_cfg.top_hz)
    starts = segment_starts(mel.shape[1], n_frames=n_frames, hop_frames=config.segment.hop_frames(mel_cfg))
    globals_ = global_conditions(row)
    track_id = str(row["track_id"])
    columns: dict[str, Any] = {
        "segment_id": [segment_id(track_id, f) for f in starts], "track_id": [track_id] * len(starts),
        "split": [split] * len(starts), "start_s": starts / mel_cfg.frame_rate,
        "duration_s": np.full(len(starts), n_frames / mel_cfg.frame_rate),
        "mel": np.stack([mel[:, f : f + n_frames] for f in starts]) if len(starts) else
        np.zeros((0, mel_cfg.n_mels, n_frames), np.float32),
    }
    frames = [frame_conditions(row, start_s=f / mel_cfg.frame_rate, n_frames=n_frames,
                               frame_rate=mel_cfg.frame_rate) for f in starts]
    for name in ("chord_root", "chord_quality", "roman", "function", "section", "downbeat", "beat_phase",
                 "bar_phase"):
        columns[name] = np.stack([f[name] for f in frames]) if frames else np.zeros((0, n_frames))
    for name, value in globals_.items():
        columns[name] = np.full(len(starts), value)
    return segments_table(columns, n_mels=mel_cfg.n_mels, n_frames=n_frames)
