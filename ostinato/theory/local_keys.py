"""Local keys and modulations: which key each stretch of a chord sequence is in.

Each chord contributes its chord tones, weighted by duration, to a pitch-class profile taken over a
window of neighbouring chords; that profile is correlated with the 24 rotated key profiles of
``analysis.tonal`` (Temperley-style major and minor). A Viterbi pass then picks one key per chord,
maximising the summed correlation minus ``switch_penalty`` per change of key, with ``global_bias``
added to the track's global key so that a stretch only leaves it on clear evidence (an F# in every
chord, not one passing V/V). Consecutive chords in the same key form a region; a change of region is
a modulation.

Working on chords rather than raw chroma makes the same code serve audio (recognised chords) and
scores (chords from the notes) with one behaviour.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ostinato.analysis.tonal import key_correlations
from ostinato.errors import AnalysisError
from ostinato.theory.chords import CHORD_INTERVALS
from ostinato.theory.hmm import sticky_viterbi
from ostinato.theory.pitch import MODES
from ostinato.theory.roman import ChordLike, key_label, tonic_spelling


@dataclass(frozen=True)
class LocalKey:
    """A key region over ``[start_s, end_s)`` seconds; ``strength`` is the mean profile correlation in [0, 1]."""

    start_s: float
    end_s: float
    tonic_pc: int
    mode: str
    strength: float

    @property
    def key(self) -> str:
        """Tonic spelled for the mode, e.g. ``"Eb"``."""
        return tonic_spelling(self.tonic_pc, self.mode)

    @property
    def label(self) -> str:
        """E.g. ``"G major"``."""
        return key_label(self.tonic_pc, self.mode)


def estimate_local_keys(
    chords: Sequence[ChordLike],
    *,
    global_tonic_pc: int | None = None,
    global_mode: str | None = None,
    half_window: int = 3,
    switch_penalty: float = 0.6,
    global_bias: float = 0.03,
) -> list[LocalKey]:
    """Key regions tiling ``chords`` (no-chord segments join the region around them).

    Parameters
    ----------
    chords : sequence of ChordLike
        Chord segments in time order (``root_pc`` -1 or quality ``"N"`` for no chord).
    global_tonic_pc, global_mode : int 0..11 and "major" / "minor", or None
        The track's key, favoured by ``global_bias``; no bias when None.
    half_window : int >= 0
        Chords on each side pooled into a chord's profile.
    switch_penalty : float >= 0
        Correlation units a change of key must gain over the chords it spans.
    global_bias : float >= 0
        Correlation units added to the global key at every chord.

    Returns
    -------
    list[LocalKey]
        Contiguous regions from the first chord's start to the last chord's end, consecutive keys
        distinct; empty when there is no chord at all.
    """
    if global_mode is not None and global_mode not in MODES:
        raise AnalysisError(f"global_mode must be one of {MODES}, got {global_mode!r}")
    voiced = [c for c in chords if int(c.root_pc) >= 0 and c.quality != "N"]
    if not voiced:
        return []
    vectors = np.zeros((len(voiced), 12))
    for i, c in enumerate(voiced):
        for interval in CHORD_INTERVALS[c.quality]:
            vectors[i, (int(c.root_pc) + interval) % 12] += max(float(c.end_s) - float(c.start_s), 1e-3)
    cumulative = np.vstack([np.zeros(12), np.cumsum(vectors, axis=0)])
    n = len(voiced)
    index = np.arange(n)
    profiles = cumulative[np.minimum(index + half_window + 1, n)] - cumulative[np.maximum(index - half_window, 0)]
    scores = key_correlations(profiles).reshape(n, 24)
    if global_tonic_pc is not None and global_mode is not None:
        scores[:, MODES.index(global_mode) * 12 + int(global_tonic_pc) % 12] += global_bias
    states = sticky_viterbi(log_emission=scores.T, switch_cost=switch_penalty)

    regions: list[LocalKey] = []
    start = float(chords[0].start_s)
    run_start = 0
    for i in range(1, n + 1):
        if i == n or states[i] != states[run_start]:
            end = float(chords[-1].end_s) if i == n else float(voiced[i].start_s)
            mode_idx, tonic = divmod(int(states[run_start]), 12)
            strength = float(np.clip(scores[run_start:i, states[run_start]].mean(), 0.0, 1.0))
            regions.append(LocalKey(start, end, tonic, MODES[mode_idx], strength))
            start, run_start = end, i
    return regions


def count_modulations(regions: Sequence[LocalKey]) -> int:
    """Number of changes of key between consecutive regions."""
    return max(len(regions) - 1, 0)


