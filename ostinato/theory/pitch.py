"""Pitch-class names: the one table every module spells chord roots and key tonics from.

Chord roots use one name per pitch class (``PITCH_CLASSES``). Key tonics are spelled as key signatures are
written, which depends on the mode: D-flat major (5 flats, not C-sharp major's 7 sharps) but C-sharp minor
(4 sharps, not D-flat minor's 8 flats); G-sharp minor, A-flat major. The ``key`` column, local keys, Roman
numeral keys and reports all take their tonic from ``tonic_name``, so that joins on the name hold.
"""

from __future__ import annotations

import re

#: Chord-root names, C = 0.
PITCH_CLASSES: tuple[str, ...] = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

#: Key tonic names by mode, C = 0: the key signature with the fewest accidentals (F# over Gb: 6 each).
KEY_TONICS: dict[str, tuple[str, ...]] = {
    "major": ("C", "Db", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B"),
    "minor": ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "G#", "A", "Bb", "B"),
}

MODES: tuple[str, ...] = ("major", "minor")

#: Every key-tonic spelling, in pitch-class order (``C``, ``C#``, ``Db``, ``D`` ...): the order of key charts.
KEY_TONIC_ORDER: tuple[str, ...] = tuple(dict.fromkeys(
    name for pc in range(12) for name in (KEY_TONICS["minor"][pc], KEY_TONICS["major"][pc])
))

_LETTER_PC = {"C": 0, "D": 2, "E": 4, "F": 5, "G": 7, "A": 9, "B": 11}
_NAME_RE = re.compile(r"^(?P<letter>[A-Ga-g])(?P<acc>(#|b|-|♯|♭)*)$")


def tonic_name(tonic_pc: int, mode: str) -> str:
    """Conventional name of the tonic of the key on ``tonic_pc`` (0-11) in ``mode``: ``"Db"``, ``"G#"``."""
    if mode not in KEY_TONICS:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return KEY_TONICS[mode][int(tonic_pc) % 12]


def music21_name(name: str) -> str:
    """The same note name as music21 writes it (``-`` for flat): ``"Bb"`` -> ``"B-"``."""
    return name[0] + name[1:].replace("b", "-")


def parse_pitch_class(name: str) -> int | None:
    """Pitch class of a note name in any spelling (``"Eb"``, ``"e-"``, ``"F#"``, ``"Cb"`` = 11), None if not one."""
    m = _NAME_RE.match(name.strip())
    if m is None:
        return None
    shift = sum(1 if c in "#♯" else -1 for c in m["acc"])
    return (_LETTER_PC[m["letter"].upper()] + shift) % 12
