"""Sections (verse, chorus, ...) as labelled spans of similar harmony and timbre.

Beat-synchronous chroma (harmony) and MFCC (timbre) are standardised. For each, a flat checkerboard kernel
slid along the diagonal of the self-similarity gives a novelty curve; a boundary is where either curve
clearly exceeds its own threshold, and segments are then grouped into labels by the similarity of their
mean features. The checkerboard response is computed without building the self-similarity matrix: with
unit feature vectors ``x``, a flat kernel's sum over the matrix equals ``|mean(x after) - mean(x before)|^2``,
so running sums make it O(n_beats).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ostinato.analysis.spectral import FrameFeatures
from ostinato.errors import AnalysisError

#: Step used instead of beats when a track has too few of them, seconds.
FALLBACK_STEP_S = 0.5

#: Each side of the novelty kernel spans 12 or 16 steps (3 or 4 bars of 4 or 3 beats: a whole cycle of the
#: usual progressions, so that a repeating cycle gives no novelty), repeated to at least ``min_section_s``;
#: the smaller response of the two lengths is kept.
KERNEL_STEPS = (12, 16)

#: Novelty (Fisher-like ratio, see ``_checkerboard_novelty``) that marks a boundary, per feature block.
#: Timbre needs more: a melody moving over a steady accompaniment already changes the MFCC a good deal.
#: Calibrated on synthetic songs (steady parts stay below about half of these, changed parts exceed 1.4x).
HARMONY_THRESHOLD = 0.2
TIMBRE_THRESHOLD = 0.5

#: A peak is kept only if it is at least this share of the highest admissible peak.
REL_THRESHOLD = 0.25

#: Added to the within-window spread so that two perfectly steady windows do not divide by zero.
FISHER_REGULARISER = 0.1

#: Segments whose mean features have at least this cosine similarity share a label.
SAME_LABEL_SIMILARITY = 0.6

#: MFCCs used for timbre (1..12; the 0th is loudness).
_MFCC_ROWS = slice(1, 13)


@dataclass(frozen=True)
class Section:
    """A span ``[start_s, end_s)`` in seconds; equal labels (``"A"``, ``"B"``, ...) mean similar content."""

    start_s: float
    end_s: float
    label: str


def segment_sections(
    *,
    features: FrameFeatures,
    beat_times: np.ndarray,
    min_section_s: float = 6.0,
    max_sections: int = 12,
) -> list[Section]:
    """Split a track into contiguous labelled sections.

    Parameters
    ----------
    features : FrameFeatures
        Frame features of the whole track.
    beat_times : np.ndarray [shape=(n_beats,)]
        Beat times in seconds; features are averaged between beats (fixed 0.5 s steps when there are
        fewer than 8 beats).
    min_section_s : float > 0
        Shortest section, seconds; boundaries are at least this far apart and from either end.
    max_sections : int >= 1
        Most sections returned.

    Returns
    -------
    list[Section]
        Sections covering ``[0, features.duration_s]`` without gaps, labelled ``"A"``, ``"B"``, ... in
        order of first appearance. One section ``"A"`` for silent, featureless or short input.
    """
    if min_section_s <= 0 or max_sections < 1:
        raise AnalysisError(
            f"min_section_s must be positive and max_sections >= 1, got {min_section_s} and {max_sections}."
        )
    duration = features.duration_s
    whole = [Section(0.0, duration, "A")]
    if duration < 2 * min_section_s or features.n_frames < 4:
        return whole
    step_times, blocks = _step_features(features, beat_times)
    if not blocks or len(step_times) < 4:
        return whole
    step_s = float(np.median(np.diff(step_times)))
    novelty = np.zeros(len(step_times))
    for block, threshold in blocks:
        novelty = np.maximum(novelty, _novelty(block, step_s=step_s, min_section_s=min_section_s) / threshold)
    cuts = _pick_boundaries(novelty, step_times, duration, min_section_s=min_section_s, max_cuts=max_sections - 1)
    x = np.concatenate([b for b, _ in blocks], axis=1) / np.sqrt(len(blocks))
    edges = [0, *cuts, len(x)]
    labels = _label_segments(x, edges)
    times = [0.0, *(float(step_times[c]) for c in cuts), duration]
    sections: list[Section] = []
    for k, label in enumerate(labels):
        if sections and sections[-1].label == label:
            sections[-1] = Section(sections[-1].start_s, times[k + 1], label)
        else:
            sections.append(Section(times[k], times[k + 1], label))
    return sections


def _step_features(
    features: FrameFeatures, beat_times: np.ndarray
) -> tuple[np.ndarray, list[tuple[np.ndarray, float]]]:
    """Start time of each step, and the standardised (chroma, MFCC) blocks that vary, with their thresholds."""
    times = features.times
    n = features.n_frames
    beats = np.asarray(beat_times, dtype=np.float64)
    if beats.ndim != 1:
        raise AnalysisError(f"expected beat_times of shape (n_beats,), got shape {beats.shape}.")
    if len(beats) >= 8:
        starts = np.searchsorted(times, beats - 1e-9)
    else:
        starts = np.arange(0, n, max(int(round(FALLBACK_STEP_S * features.sr / features.hop_length)), 1))
    bounds = np.unique(np.concatenate([[0], starts[(starts > 0) & (starts < n)], [n]]))
    counts = np.diff(bounds)[:, None]
    chroma = np.add.reduceat(features.chroma.astype(np.float64), bounds[:-1], axis=1).T / counts
    mfcc = np.add.reduceat(features.mfcc[_MFCC_ROWS].astype(np.float64), bounds[:-1], axis=1).T / counts
    blocks = [(_standardise(chroma), HARMONY_THRESHOLD), (_standardise(mfcc), TIMBRE_THRESHOLD)]
    return times[bounds[:-1]], [(b, t) for b, t in blocks if b is not None]


def _standardise(block: np.ndarray) -> np.ndarray | None:
    """Z-score each column, then scale each row to unit norm; None if the block never varies."""
    std = block.std(axis=0)
    if not np.any(std > 1e-6):
        return None
    z = (block - block.mean(axis=0)) / np.where(std > 1e-6, std, np.inf)
    norm = np.linalg.norm(z, axis=1, keepdims=True)
    return z / np.where(norm > 0, norm, 1.0)


def _novelty(x: np.ndarray, *, step_s: float, min_section_s: float) -> np.ndarray:
    """Checkerboard novelty of one feature block, the smaller over the ``KERNEL_STEPS`` window lengths."""
    out = None
    for steps in KERNEL_STEPS:
        repeats = max(int(np.ceil(min_section_s / (steps * step_s))), 1)
        nov = _checkerboard_novelty(x, steps * repeats)
        out = nov if out is None else np.minimum(out, nov)
    return out


def _checkerboard_novelty(x: np.ndarray, half_width: int) -> np.ndarray:
    """Flat checkerboard novelty at every step, as a Fisher-like ratio; shape (n_steps,), 0 = no change.

    With unit rows, the checkerboard sum is the squared distance between the mean rows of the
    ``half_width`` steps before and after (windows truncated at the ends); it is divided by the spread
    within the two windows (``1 - |mean|^2`` each), so that material that keeps changing in the same way
    (a repeating chord cycle) scores low and a change of texture scores high. A flat kernel as long as a
    repeating cycle sees the same mean wherever it sits in that cycle.
    """
    n = len(x)
    cums = np.vstack([np.zeros((1, x.shape[1])), np.cumsum(x, axis=0)])
    i = np.arange(n)
    lo, hi = np.maximum(i - half_width, 0), np.minimum(i + half_width, n)
    before = (cums[i] - cums[lo]) / np.maximum(i - lo, 1)[:, None]
    after = (cums[hi] - cums[i]) / (hi - i)[:, None]
    spread = 2.0 - np.sum(before**2, axis=1) - np.sum(after**2, axis=1)
    novelty = np.sum((after - before) ** 2, axis=1) / (spread + FISHER_REGULARISER)
    # Means over windows cut short by the track's ends are noisier: scale by the shorter window's share.
    return novelty * np.minimum(i - lo, hi - i) / half_width


def _pick_boundaries(
    novelty: np.ndarray, step_times: np.ndarray, duration: float, *, min_section_s: float, max_cuts: int
) -> list[int]:
    """Step indices of boundaries: the highest local maxima of the novelty (in threshold units, so at
    least 1), spaced by ``min_section_s``."""
    if max_cuts < 1 or len(novelty) < 3:
        return []
    inner = np.arange(1, len(novelty) - 1)
    t = step_times[inner]
    inner = inner[(t >= min_section_s) & (duration - t >= min_section_s)]
    if len(inner) == 0:
        return []
    peaks = inner[(novelty[inner] >= novelty[inner - 1]) & (novelty[inner] > novelty[inner + 1])]
    threshold = max(REL_THRESHOLD * float(novelty[inner].max()), 1.0)
    chosen: list[int] = []
    for p in peaks[np.argsort(-novelty[peaks], kind="stable")]:
        if novelty[p] < threshold or len(chosen) >= max_cuts:
            break
        if all(abs(step_times[p] - step_times[c]) >= min_section_s for c in chosen):
            chosen.append(int(p))
    return sorted(chosen)


def _label_segments(x: np.ndarray, edges: list[int]) -> list[str]:
    """A letter per segment; a segment joins the most similar earlier label if similar enough."""
    means = np.stack([x[a:b].mean(axis=0) for a, b in zip(edges[:-1], edges[1:], strict=True)])
    means /= np.maximum(np.linalg.norm(means, axis=1, keepdims=True), 1e-12)
    centroids: list[np.ndarray] = []
    members: list[list[int]] = []
    labels: list[str] = []
    for k, m in enumerate(means):
        sims = [float(m @ c) for c in centroids]
        if sims and max(sims) >= SAME_LABEL_SIMILARITY:
            j = int(np.argmax(sims))
            members[j].append(k)
            c = means[members[j]].mean(axis=0)
            centroids[j] = c / max(float(np.linalg.norm(c)), 1e-12)
        else:
            j = len(centroids)
            centroids.append(m)
            members.append([k])
        labels.append(_letter(j))
    return labels


def _letter(index: int) -> str:
    """A, B, ..., Z, AA, AB, ..."""
    out = ""
    index += 1
    while index:
        index, rem = divmod(index - 1, 26)
        out = chr(ord("A") + rem) + out
    return out
