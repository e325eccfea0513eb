"""Longuet-Higgins & Lee syncopation of onset patterns on a metrical grid.

Model (Longuet-Higgins & Lee 1984, in the form of Fitch & Rosenfeld 2007 and Gómez et al. 2005): each
position of the bar's grid gets a metrical weight, 0 for the downbeat, -1 for the positions the first
metrical level adds, -2 for the next level, and so on (in 4/4 on sixteenths: bar 0, half bar -1, beats -2,
eighths -3, sixteenths -4). A *syncopation* is a note at a weak position followed by a rest (no onset) at a
stronger position before the next note; its value is the difference of the weights, rest minus note. A
bar's syncopation is the sum over its notes; the pattern runs on into the next bar (an anticipated downbeat
is syncopated).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ostinato.errors import AnalysisError
from ostinato.theory.meter import METERS


def metrical_weights(meter: str) -> np.ndarray:
    """LHL weight of every grid position of one bar of ``meter``.

    Returns
    -------
    np.ndarray [shape=(steps,), int]
        ``steps`` = product of the meter's ``levels`` in ``theory.meter.METERS`` (16 in 4/4, 12 in 3/4 and
        6/8); 0 at the downbeat, then
        -1, -2, ... for positions first reached by each deeper level.

    Raises
    ------
    AnalysisError
        If the meter is not one of ``theory.meter.METERS``.
    """
    if meter not in METERS:
        raise AnalysisError(f"no metrical weights for meter {meter!r}; known: {sorted(METERS)}.")
    levels = METERS[meter].levels
    steps = int(np.prod(levels))
    weights = np.zeros(steps, dtype=int)
    reached = np.zeros(steps, dtype=bool)
    reached[0] = True
    stride = steps
    for depth, parts in enumerate(levels, start=1):
        stride //= parts
        new = (np.arange(steps) % stride == 0) & ~reached
        weights[new] = -depth
        reached |= new
    return weights


def lhl_syncopation(bars: Sequence[Sequence[int]] | np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Syncopation of each bar of a binary onset pattern.

    Parameters
    ----------
    bars : array-like [shape=(n_bars, steps)] of 0/1
        Onset (1) or not (0) at each grid position of each bar, consecutive bars in order.
    weights : np.ndarray [shape=(steps,)]
        Metrical weights from :func:`metrical_weights`.

    Returns
    -------
    np.ndarray [shape=(n_bars,), float]
        Sum of (rest weight - note weight) over each bar's syncopated notes; 0 for a pattern on the beats.
        The last note of the last bar is closed by the end of the pattern (no wrap-around).
    """
    pattern = np.asarray(bars, dtype=bool)
    if pattern.ndim != 2 or pattern.shape[1] != len(weights):
        raise AnalysisError(f"expected bars of shape (n_bars, {len(weights)}), got {pattern.shape}.")
    n_bars, steps = pattern.shape
    flat = pattern.reshape(-1)
    w = np.tile(np.asarray(weights), n_bars)
    notes = np.flatnonzero(flat)
    out = np.zeros(n_bars)
    for k, i in enumerate(notes):
        end = notes[k + 1] if k + 1 < len(notes) else len(flat)
        if end - i < 2:
            continue
        strongest_rest = int(w[i + 1 : end].max())
        if strongest_rest > w[i]:
            out[i // steps] += strongest_rest - w[i]
    return out
