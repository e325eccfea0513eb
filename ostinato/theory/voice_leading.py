"""Voice-leading cost between consecutive chords: the least total semitone motion of their voices.

Chords are pitch-class sets (no register is known from audio), so each voice moves by the shorter way
round the pitch-class circle (0-6 semitones). The cost of a change is the minimum, over every
assignment of one chord's tones to the other's, of the summed motion; when the chords differ in size
the smaller one doubles tones so that every tone of the larger is reached (Tymoczko's voice leadings
between multisets). C-E-G to B-D-G costs 3 (C->B 1, E->D 2, G->G 0), C-E-G to C-F-A costs 3, a
V7 to I resolution (G-B-D-F to C-E-G) costs 4 (B->C 1, D->C 2, F->E 1, G->G 0).

The track's figure is the mean cost over chord changes (no-chord segments are skipped; repeats of a
chord are not changes), labelled ``smooth`` (<= 3.5 semitones), ``moderate`` (<= 5) or ``disjunct``.
A diatonic pop loop (I-V-vi-IV: 3, 5, 1, 3) averages 3; chains of root-position triads a tritone apart
average 6.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence

from ostinato.theory.chords import CHORD_INTERVALS
from ostinato.theory.roman import ChordLike

SMOOTH_MAX = 3.5
MODERATE_MAX = 5.0


def pitch_class_distance(a: int, b: int) -> int:
    """Semitones between two pitch classes the shorter way round (0-6)."""
    d = (a - b) % 12
    return min(d, 12 - d)


@functools.cache
def voice_leading_cost(a: frozenset[int], b: frozenset[int]) -> int:
    """Least total semitone motion from pitch-class set ``a`` to ``b`` (each non-empty, pitch classes 0-11)."""
    small, large = sorted((tuple(sorted(a)), tuple(sorted(b))), key=len)
    best = None
    # Every way to give the larger chord's tones one source each from the smaller, all of the smaller used.
    for sources in itertools.product(small, repeat=len(large)):
        if set(sources) != set(small):
            continue
        cost = sum(pitch_class_distance(s, t) for s, t in zip(sources, large, strict=True))
        best = cost if best is None else min(best, cost)
    return int(best)


def chord_pitch_classes(chord: ChordLike) -> frozenset[int]:
    """Pitch classes of a chord segment (empty for no chord)."""
    if int(chord.root_pc) < 0 or chord.quality not in CHORD_INTERVALS:
        return frozenset()
    return frozenset((int(chord.root_pc) + i) % 12 for i in CHORD_INTERVALS[chord.quality])


def mean_voice_leading(chords: Sequence[ChordLike]) -> float | None:
    """Mean cost over the chord changes of a sequence; None with fewer than two distinct chords."""
    sets = [s for s in (chord_pitch_classes(c) for c in chords) if s]
    costs = [voice_leading_cost(a, b) for a, b in zip(sets, sets[1:], strict=False) if a != b]
    return sum(costs) / len(costs) if costs else None


def voice_leading_label(cost: float | None) -> str | None:
    """``"smooth"``, ``"moderate"`` or ``"disjunct"`` for a mean cost in semitones (None stays None)."""
    if cost is None:
        return None
    if cost <= SMOOTH_MAX:
        return "smooth"
    return "moderate" if cost <= MODERATE_MAX else "disjunct"
