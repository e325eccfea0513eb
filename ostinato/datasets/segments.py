"""Cutting a track's frames into fixed-length segments."""

from __future__ import annotations

import numpy as np


def segment_starts(total_frames: int, *, n_frames: int, hop_frames: int) -> np.ndarray:
    """First frame of every full segment of ``n_frames`` frames, ``hop_frames`` apart, in a track of
    ``total_frames`` frames; a remainder shorter than a segment is dropped (so every row has the same shape).

    Returns int64 of shape ``(n_segments,)`` (empty when the track is shorter than one segment).
    """
    if n_frames <= 0 or hop_frames <= 0:
        raise ValueError(f"n_frames and hop_frames must be positive, got {n_frames}, {hop_frames}")
    if total_frames < n_frames:
        return np.zeros(0, dtype=np.int64)
    return np.arange(0, total_frames - n_frames + 1, hop_frames, dtype=np.int64)


def segment_id(track_id: str, first_frame: int) -> str:
    """The id of a segment: ``"{track_id}:{first_frame}"``."""
    return f"{track_id}:{int(first_frame)}"
