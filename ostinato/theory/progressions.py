"""Named chord progressions found in a chord sequence, in any key.

Matching works on the chord sequence with repeated chords merged (``G:maj`` then ``G:7`` is one G
chord) and is transposition-invariant: a pattern is its chords' roots in semitones above the pattern's
own tonic plus each chord's triad family (``M`` major, incl. dominant and major sevenths and sus4;
``m`` minor, incl. minor sevenths; ``o`` diminished, incl. half- and fully-diminished sevenths), and it
matches wherever the intervals between consecutive roots and the families agree. No chord (``N``)
breaks a pattern.

Several patterns can match at one place (``I-V-vi-IV`` looped also contains ``vi-IV-I-V``). The scan
goes left to right; at each chord the longest match wins, then the one whose implied tonic is the
local key (then its relative key), then catalogue order; so i-VI-III-VII and vi-IV-I-V, the same
chords, are told apart by the key they are heard in. A match
consumes its chords (but for its last when it ends on its first chord, like I-bVI-bVII-I, so that the
last chord may start a repeat), and back-to-back repeats of the same pattern are reported once,
spanning them.

The 12-bar blues is matched on its merged shape I-IV-I-V-IV-I with chord lengths in the ratio
4:2:2:1:1:2 (inner chords within ``blues_tolerance``; the first and last I may run longer, as the
last bars of one chorus merge with the first of the next), so a plain I-IV-I-V-IV-I does not count as a blues.
A circle-of-fifths run is any four or more consecutive chords whose roots each fall a fifth.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ostinato.theory.roman import RomanChord

#: Triad family of every chord quality.
FAMILY: dict[str, str] = {
    "maj": "M", "7": "M", "maj7": "M", "sus4": "M", "sus2": "M", "aug": "M",
    "min": "m", "min7": "m",
    "dim": "o", "hdim7": "o", "dim7": "o",
}  # fmt: skip


@dataclass(frozen=True)
class Pattern:
    """A named progression: mode of its numerals and each chord as (semitones above tonic, family)."""

    name: str
    figures: str
    mode: str
    chords: tuple[tuple[int, str], ...]
    lengths: tuple[float, ...] = ()  # relative chord durations that must hold too (12-bar blues)


#: The catalogue, in tie-break order.
CATALOGUE: tuple[Pattern, ...] = (
    Pattern("pachelbel", "I-V-vi-iii-IV-I-IV-V", "major",
            ((0, "M"), (7, "M"), (9, "m"), (4, "m"), (5, "M"), (0, "M"), (5, "M"), (7, "M"))),
    Pattern("twelve_bar_blues", "I-IV-I-V-IV-I", "major",
            ((0, "M"), (5, "M"), (0, "M"), (7, "M"), (5, "M"), (0, "M")), (4, 2, 2, 1, 1, 2)),
    Pattern("axis", "I-V-vi-IV", "major", ((0, "M"), (7, "M"), (9, "m"), (5, "M"))),
    Pattern("axis_minor_start", "vi-IV-I-V", "major", ((9, "m"), (5, "M"), (0, "M"), (7, "M"))),
    Pattern("doo_wop", "I-vi-IV-V", "major", ((0, "M"), (9, "m"), (5, "M"), (7, "M"))),
    Pattern("turnaround", "I-vi-ii-V", "major", ((0, "M"), (9, "m"), (2, "m"), (7, "M"))),
    Pattern("andalusian", "i-VII-VI-V", "minor", ((0, "m"), (10, "M"), (8, "M"), (7, "M"))),
    Pattern("aeolian_loop", "i-VI-III-VII", "minor", ((0, "m"), (8, "M"), (3, "M"), (10, "M"))),
    Pattern("aeolian_vamp", "i-VII-VI-VII", "minor", ((0, "m"), (10, "M"), (8, "M"), (10, "M"))),
    Pattern("royal_road", "IV-V-iii-vi", "major", ((5, "M"), (7, "M"), (4, "m"), (9, "m"))),
    Pattern("pop_rock", "I-IV-vi-V", "major", ((0, "M"), (5, "M"), (9, "m"), (7, "M"))),
    Pattern("mario_cadence", "I-bVI-bVII-I", "major", ((0, "M"), (8, "M"), (10, "M"), (0, "M"))),
    Pattern("minor_cadence", "i-iv-V-i", "minor", ((0, "m"), (5, "m"), (7, "M"), (0, "m"))),
    Pattern("ii_v_i", "ii-V-I", "major", ((2, "m"), (7, "M"), (0, "M"))),
    Pattern("minor_ii_v_i", "iio-V-i", "minor", ((2, "o"), (7, "M"), (0, "m"))),
    Pattern("i_iv_v", "I-IV-V", "major", ((0, "M"), (5, "M"), (7, "M"))),
    Pattern("mixolydian", "I-bVII-IV", "major", ((0, "M"), (10, "M"), (5, "M"))),
    Pattern("minor_i_iv_v", "i-iv-v", "minor", ((0, "m"), (5, "m"), (7, "m"))),
)

CIRCLE_OF_FIFTHS = "circle_of_fifths"
_MIN_CIRCLE = 4


@dataclass(frozen=True)
class ProgressionMatch:
    """A named progression found over ``[start_s, end_s)`` seconds; ``figures`` as in the catalogue."""

    name: str
    start_s: float
    end_s: float
    figures: str


@dataclass(frozen=True)
class _Chord:
    start_s: float
    end_s: float
    root_pc: int
    family: str
    tonic_pc: int
    mode: str


def find_progressions(roman: Sequence[RomanChord], *, blues_tolerance: float = 0.35) -> list[ProgressionMatch]:
    """Named progressions in a Roman-numeral sequence (``roman.roman_numerals`` output), in time order.

    ``blues_tolerance`` is the largest relative error allowed on each 12-bar-blues chord length.
    """
    chords = _merge(roman)
    found: list[ProgressionMatch] = []
    i = 0
    while i < len(chords):
        best: tuple[tuple, Pattern | None, int] | None = None
        for order, pattern in enumerate(CATALOGUE):
            if _matches(chords, i, pattern, blues_tolerance):
                rank = (len(pattern.chords), _key_agrees(chords[i], pattern), -order)
                if best is None or rank > best[0]:
                    best = (rank, pattern, len(pattern.chords))
        run = _circle_run(chords, i)
        if run >= _MIN_CIRCLE and (best is None or run > best[2]):
            best = ((run, 0, 1), None, run)
        if best is None:
            i += 1
            continue
        _, pattern, length = best
        name = pattern.name if pattern else CIRCLE_OF_FIFTHS
        figures = pattern.figures if pattern else _circle_figures(chords[i : i + length])
        start, end = chords[i].start_s, chords[i + length - 1].end_s
        if found and pattern is not None and found[-1].name == name and start <= found[-1].end_s + 1e-6:
            found[-1] = ProgressionMatch(name, found[-1].start_s, end, figures)
        else:
            found.append(ProgressionMatch(name, start, end, figures))
        i += length - 1 if pattern is not None and _cyclic(pattern) else length
    return found


def _merge(roman: Sequence[RomanChord]) -> list[_Chord | None]:
    """Chords with repeats merged; None marks a no-chord gap that no pattern may cross."""
    out: list[_Chord | None] = []
    for r in roman:
        if r.root_pc < 0 or r.quality == "N":
            if out and out[-1] is not None:
                out.append(None)
            continue
        family = FAMILY.get(r.quality, "M")
        last = out[-1] if out else None
        if last is not None and (last.root_pc, last.family) == (r.root_pc, family):
            out[-1] = _Chord(last.start_s, r.end_s, last.root_pc, family, last.tonic_pc, last.mode)
        else:
            out.append(_Chord(r.start_s, r.end_s, r.root_pc, family, r.tonic_pc, r.mode))
    return out


def _matches(chords: list[_Chord | None], i: int, pattern: Pattern, tolerance: float) -> bool:
    n = len(pattern.chords)
    window = chords[i : i + n]
    if len(window) < n or any(c is None for c in window):
        return False
    first_root = window[0].root_pc - pattern.chords[0][0]
    for c, (semis, family) in zip(window, pattern.chords, strict=True):
        if c.family != family or (c.root_pc - first_root) % 12 != semis % 12:
            return False
    if pattern.lengths:
        # Inner chords set the bar length; the first and last may run longer (a chorus's last I merges with
        # the next chorus's first).
        durations = [c.end_s - c.start_s for c in window]
        unit = sum(durations[1:-1]) / sum(pattern.lengths[1:-1])
        inner = zip(durations[1:-1], pattern.lengths[1:-1], strict=True)
        if any(abs(d - unit * k) > tolerance * unit * k for d, k in inner):
            return False
        ends = ((durations[0], pattern.lengths[0]), (durations[-1], pattern.lengths[-1]))
        return all(d >= (1 - tolerance) * unit * k for d, k in ends)
    return True


def _cyclic(pattern: Pattern) -> bool:
    """A pattern that ends on its first chord: its last chord may start the next repeat."""
    return pattern.chords[0] == pattern.chords[-1]


def _key_agrees(chord: _Chord, pattern: Pattern) -> int:
    """2 when the pattern's implied key is the local key, 1 when it is its relative, else 0."""
    tonic = (chord.root_pc - pattern.chords[0][0]) % 12
    if pattern.mode == chord.mode:
        return 2 if tonic == chord.tonic_pc else 0
    relative = (chord.tonic_pc + (9 if chord.mode == "major" else 3)) % 12
    return 1 if tonic == relative else 0


def _circle_run(chords: list[_Chord | None], i: int) -> int:
    """Number of chords from ``i`` whose roots each fall a fifth (rise a fourth)."""
    n = 0
    while i + n < len(chords) and chords[i + n] is not None:
        if n and (chords[i + n].root_pc - chords[i + n - 1].root_pc) % 12 != 5:
            break
        n += 1
    return n


def _circle_figures(chords: list[_Chord]) -> str:
    """Figures of a circle run read in the last chord's key, e.g. ``"iii-vi-ii-V-I"``."""
    from ostinato.theory.roman import roman_numerals

    quality = {"M": "maj", "m": "min", "o": "dim"}
    tonic, mode = chords[-1].tonic_pc, chords[-1].mode
    read = roman_numerals([_Seg(c.root_pc, quality[c.family]) for c in chords], tonic_pc=tonic, mode=mode)
    return "-".join(r.figure for r in read)


@dataclass(frozen=True)
class _Seg:
    root_pc: int
    quality: str
    start_s: float = 0.0
    end_s: float = 0.0
