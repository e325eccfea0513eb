"""Chord qualities: the one table of their names, tones and spellings that every module reads.

Quality names follow mir_eval / Harte shorthand (``maj``, ``min``, ``7``, ``hdim7`` ...), which is what the
``chords`` column, the training-set vocabulary and the renders of tests and the demo corpus all use.
"""

from __future__ import annotations

#: Semitones above the root of each chord quality, root position.
CHORD_INTERVALS: dict[str, tuple[int, ...]] = {
    "maj": (0, 4, 7),
    "min": (0, 3, 7),
    "dim": (0, 3, 6),
    "aug": (0, 4, 8),
    "7": (0, 4, 7, 10),
    "maj7": (0, 4, 7, 11),
    "min7": (0, 3, 7, 10),
    "hdim7": (0, 3, 6, 10),
    "dim7": (0, 3, 6, 9),
    "sus2": (0, 2, 7),
    "sus4": (0, 5, 7),
}

#: Other spellings of the qualities (lead sheets, Roman-numeral suffixes, jazz shorthand).
QUALITY_ALIASES: dict[str, str] = {
    "": "maj", "major": "maj", "M": "maj", "m": "min", "minor": "min", "-": "min", "o": "dim", "°": "dim",
    "+": "aug", "dom7": "7", "M7": "maj7", "Δ": "maj7", "Δ7": "maj7", "m7": "min7", "-7": "min7",
    "ø": "hdim7", "ø7": "hdim7", "m7b5": "hdim7", "min7b5": "hdim7", "o7": "dim7", "°7": "dim7", "sus": "sus4",
}

#: Quality of each set of tones above the root (the inverse of CHORD_INTERVALS).
QUALITY_OF_INTERVALS: dict[frozenset[int], str] = {frozenset(v): k for k, v in CHORD_INTERVALS.items()}


def canonical_quality(name: str) -> str:
    """The quality name for any spelling in QUALITY_ALIASES (``"m7b5"`` -> ``"hdim7"``); others unchanged."""
    return QUALITY_ALIASES.get(name, name)
