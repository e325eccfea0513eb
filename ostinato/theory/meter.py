"""Meters: the one table of the time signatures ostinato reads, writes and renders.

Each meter is beats per bar, the division of a beat (2 simple, 3 compound) and its metrical hierarchy, top
down, as used by syncopation weights: how many parts each level divides the one above into, down to sixteenths
(simple meters) or sixteenth-note subdivisions of the eighths (compound meters).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Meter:
    """A time signature's beats per bar, beat division (2 simple, 3 compound) and metrical levels."""

    beats_per_bar: int
    division: int
    levels: tuple[int, ...]

    @property
    def compound(self) -> bool:
        return self.division == 3


METERS: dict[str, Meter] = {
    "2/4": Meter(2, 2, (2, 2, 2)),
    "3/4": Meter(3, 2, (3, 2, 2)),
    "4/4": Meter(4, 2, (2, 2, 2, 2)),
    "6/8": Meter(2, 3, (2, 3, 2)),
    "9/8": Meter(3, 3, (3, 3, 2)),
    "12/8": Meter(4, 3, (2, 2, 3, 2)),
}

#: The meters the training-set vocabulary, the demo corpus and generation name (9/8 is read, not generated).
COMMON_METERS: tuple[str, ...] = ("2/4", "3/4", "4/4", "6/8", "12/8")
