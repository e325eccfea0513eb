"""Harmonic complexity: one number in [0, 1] from four documented ingredients.

``complexity = 0.40 * vocabulary + 0.25 * non_diatonic + 0.20 * extensions + 0.15 * modulation`` where

* ``vocabulary`` = Shannon entropy (bits) of the duration-weighted distribution of distinct chords
  (root and quality; no-chord time left out) divided by log2(24), clipped to 1: a one-chord vamp is 0,
  a four-chord loop in equal durations 0.44, sixteen equally used chords 0.87;
* ``non_diatonic`` = share of voiced time in chords whose Roman-numeral kind is secondary, borrowed
  or chromatic (``theory.roman``);
* ``extensions`` = share of voiced time in chords that are not plain major or minor triads (sevenths,
  diminished, augmented, suspended);
* ``modulation`` = min(modulations / 4, 1), modulations counted between local-key regions.

A one-chord vamp scores 0, an I-V-vi-IV loop in one key 0.17, eight jazz sevenths (ii7-V7-I7 with
applied and borrowed chords) over two modulations 0.59 (``tests/theory/test_harmony.py``).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

from ostinato.theory.roman import RomanChord

WEIGHTS = {"vocabulary": 0.40, "non_diatonic": 0.25, "extensions": 0.20, "modulation": 0.15}
_ENTROPY_SCALE = math.log2(24)
_MODULATION_SCALE = 4.0


def complexity_terms(roman: Sequence[RomanChord], *, modulations: int) -> dict[str, float] | None:
    """The four ingredients, each in [0, 1]; None when no chord is voiced."""
    time_by_chord: dict[tuple[int, str], float] = defaultdict(float)
    non_diatonic = extended = total = 0.0
    for r in roman:
        if r.root_pc < 0:
            continue
        d = max(r.end_s - r.start_s, 0.0)
        time_by_chord[(r.root_pc, r.quality)] += d
        total += d
        non_diatonic += d if r.kind in ("secondary", "borrowed", "chromatic") else 0.0
        extended += d if r.quality not in ("maj", "min") else 0.0
    if total <= 0:
        return None
    entropy = -sum((t / total) * math.log2(t / total) for t in time_by_chord.values() if t > 0)
    return {
        "vocabulary": min(entropy / _ENTROPY_SCALE, 1.0),
        "non_diatonic": non_diatonic / total,
        "extensions": extended / total,
        "modulation": min(modulations / _MODULATION_SCALE, 1.0),
    }


def harmonic_complexity(roman: Sequence[RomanChord], *, modulations: int) -> float | None:
    """The weighted sum of ``complexity_terms`` (see the module docstring), or None with no chord."""
    terms = complexity_terms(roman, modulations=modulations)
    if terms is None:
        return None
    return float(sum(WEIGHTS[name] * value for name, value in terms.items()))
