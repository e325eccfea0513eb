"""Beat tracking of a synthetic signal as ``describe_track`` does it, with either beat tracker."""

from __future__ import annotations

import numpy as np

from ostinato.analysis.describe import track_rhythm
from ostinato.analysis.rhythm import BeatTrack
from ostinato.analysis.spectral import compute_frame_features


def track_with(y: np.ndarray, sr: int, beat_tracker: str) -> BeatTrack:
    """Tempo, beats and meter of mono ``y`` at ``sr`` Hz with ``beat_tracker`` ``"rnn"`` or ``"dsp"``."""
    return track_rhythm(y, sr=sr, frames=compute_frame_features(y, sr=sr), beat_tracker=beat_tracker)
