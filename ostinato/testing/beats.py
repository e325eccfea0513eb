"""Beat tracking of a synthetic signal as ``describe_track`` does it, with either beat tracker."""

from __future__ import annotations

import numpy as np

from ostinato.analysis.beat_rnn import rnn_beat_times
from ostinato.analysis.rhythm import BeatTrack, track_beats
from ostinato.analysis.spectral import compute_frame_features


def track_with(y: np.ndarray, sr: int, beat_tracker: str) -> BeatTrack:
    """Tempo, beats and meter of mono ``y`` at ``sr`` Hz with ``beat_tracker`` ``"rnn"`` or ``"dsp"``."""
    f = compute_frame_features(y, sr=sr)
    tracked = None
    if beat_tracker == "rnn":
        tracked, _ = rnn_beat_times(
            y, sr=sr, onset_envelope=f.onset_envelope, hop_length=f.hop_length, rms=f.rms, chroma=f.chroma
        )
    return track_beats(
        onset_envelope=f.onset_envelope, sr=sr, hop_length=f.hop_length, rms=f.rms, chroma=f.chroma,
        beat_times=tracked,
    )
