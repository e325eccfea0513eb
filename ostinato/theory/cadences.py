"""Cadences: the chord pairs that close phrases, typed by the textbook rules.

Consecutive chords are merged when they share root and triad family (``V`` then ``V7`` is one dominant,
read with its last figure), and each pair (approach, goal) is read in the goal's local key:

* **perfect_authentic**: V or V7 -> I (i in minor, or a Picardy I), both in root position. The
  soprano is not tracked, so a root-position V-I counts as perfect; an unknown bass counts as root
  position.
* **imperfect_authentic**: V -> I with the V inverted, or the leading-tone chord (vii°, vii°7, viiø7) -> I.
* **plagal**: IV or iv -> I.
* **deceptive**: V -> vi in major (or bVI), V -> VI in minor.
* **half**: any other chord -> V, only where V ends a phrase.
* Every goal chord is in root position (or of unknown bass): V-I6 or vii°6-I6 prolong the tonic, and a
  I64 after IV or V is a cadential six-four, an embellishment of the V that follows.

A pair is reported when its goal chord starts on a downbeat (the cadence lands on a strong beat) or
ends a phrase; with no downbeats known, every pair is. ``phrase_end`` is True when a phrase end (a
section boundary, the end of the piece, the end of a fermata chord in a score) falls inside the goal
chord or at its end, within ``tolerance_s`` (a phrase end at a chord's very start belongs to the chord
before).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ostinato.theory.progressions import FAMILY
from ostinato.theory.roman import RomanChord

CADENCE_TYPES: tuple[str, ...] = ("perfect_authentic", "imperfect_authentic", "plagal", "half", "deceptive")


@dataclass(frozen=True)
class Cadence:
    """A cadence whose goal chord starts at ``time_s`` seconds; ``figures`` e.g. ``"V7-I"``."""

    type: str
    time_s: float
    figures: str
    phrase_end: bool


def find_cadences(
    roman: Sequence[RomanChord],
    *,
    downbeat_times: Sequence[float] | np.ndarray | None = None,
    phrase_ends: Sequence[float] | np.ndarray = (),
    tolerance_s: float = 0.15,
) -> list[Cadence]:
    """Cadences in a Roman-numeral sequence (``roman.roman_numerals`` output), in time order.

    Parameters
    ----------
    roman : sequence of RomanChord
        Chords read in their local keys.
    downbeat_times : array-like [shape=(n_bars,)] or None
        Bar starts, seconds; None when unknown.
    phrase_ends : array-like [shape=(n,)]
        Times (seconds) that end phrases: section boundaries, the end of the piece, fermatas.
    tolerance_s : float >= 0
        Slack when comparing a chord's start with a downbeat and its span with a phrase end.
    """
    spans = _merge(roman)
    downbeats = None if downbeat_times is None else np.asarray(downbeat_times, dtype=float)
    ends = np.asarray(phrase_ends, dtype=float)
    out = []
    for before, after in zip(spans, spans[1:], strict=False):
        if before is None or after is None:
            continue
        a, b = before[-1], after[0]  # the approach's last figure, the goal's first
        kind = classify_cadence(a, b)
        if kind is None:
            continue
        start, end = b.start_s, after[-1].end_s
        phrase_end = bool(np.any((ends > start + tolerance_s) & (ends <= end + tolerance_s)))
        on_downbeat = downbeats is None or bool(np.any(np.abs(downbeats - start) <= tolerance_s))
        if kind == "half" and not phrase_end:
            continue
        if phrase_end or on_downbeat:
            out.append(Cadence(kind, start, f"{a.figure}-{b.figure}", phrase_end))
    return out


def _merge(roman: Sequence[RomanChord]) -> list[list[RomanChord] | None]:
    """Runs of chords sharing root and triad family; None marks a no-chord gap."""
    out: list[list[RomanChord] | None] = []
    for r in roman:
        if r.root_pc < 0:
            if out and out[-1] is not None:
                out.append(None)
            continue
        last = out[-1][-1] if out and out[-1] is not None else None
        if last is not None and (last.root_pc, FAMILY.get(last.quality)) == (r.root_pc, FAMILY.get(r.quality)):
            out[-1].append(r)
        else:
            out.append([r])
    return out


def classify_cadence(a: RomanChord, b: RomanChord) -> str | None:
    """Cadence type of approach chord ``a`` to goal ``b`` (read in ``b``'s key), or None; rules above."""
    tonic, mode = b.tonic_pc, b.mode
    sa, sb = (a.root_pc - tonic) % 12, (b.root_pc - tonic) % 12
    fa, fb = FAMILY.get(a.quality, "M"), FAMILY.get(b.quality, "M")
    dominant = sa == 7 and fa == "M" and not a.quality.startswith("sus")
    leading = sa == 11 and fa == "o"
    if b.inversion != 0:
        return None  # an inverted goal prolongs the harmony (I6, a cadential I64) instead of closing a phrase
    if sb == 0 and fb in ("M", "m"):  # a Picardy I in minor or a borrowed i in major still closes
        if dominant:
            root_position = a.inversion == 0 and b.inversion == 0
            return "perfect_authentic" if root_position else "imperfect_authentic"
        if leading:
            return "imperfect_authentic"
        if sa == 5 and fa in ("M", "m"):
            return "plagal"
        return None
    deceptive_goals = ((9, "m"), (8, "M")) if mode == "major" else ((8, "M"),)
    if dominant and (sb, fb) in deceptive_goals:
        return "deceptive"
    if sb == 7 and fb == "M" and not (sa == 7 and fa == "M"):
        return "half"
    return None
