"""Harmonic rhythm: how often the chord changes, in changes per bar."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ostinato.theory.roman import ChordLike


def harmonic_rhythm(
    chords: Sequence[ChordLike], *, downbeat_times: Sequence[float] | np.ndarray, end_s: float
) -> float | None:
    """Chord changes per bar over the barred part of a track.

    A change is a chord segment starting at or after the first downbeat and before ``end_s`` whose
    (root, quality) differs from the previous voiced segment's; no-chord segments are neither changes
    nor break a chord's run. Bars are the ``downbeat_times`` (seconds; the last bar runs to ``end_s``).
    Returns None with no downbeat.
    """
    downbeats = np.asarray(downbeat_times, dtype=float)
    if downbeats.size == 0:
        return None
    first = float(downbeats[0])
    changes, previous = 0, None
    for c in chords:
        if int(c.root_pc) < 0 or c.quality == "N":
            continue
        label = (int(c.root_pc), c.quality)
        if previous is not None and label != previous and first - 1e-6 <= float(c.start_s) < end_s:
            changes += 1
        previous = label
    return changes / len(downbeats)
