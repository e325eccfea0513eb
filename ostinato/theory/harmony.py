"""The harmony stage: chords in a key -> every theory column of a track, one call.

chords + global key -> local keys (``local_keys``) -> Roman numerals read in them (``roman``) ->
named progressions (``progressions``), cadences (``cadences``), voice-leading cost
(``voice_leading``), harmonic rhythm (``harmonic_rhythm``) and complexity (``complexity``).
Audio and scores both come here with chord segments, so both get the same columns by the same rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ostinato.theory.cadences import Cadence, find_cadences
from ostinato.theory.complexity import harmonic_complexity
from ostinato.theory.harmonic_rhythm import harmonic_rhythm
from ostinato.theory.local_keys import LocalKey, count_modulations, estimate_local_keys
from ostinato.theory.progressions import ProgressionMatch, find_progressions
from ostinato.theory.roman import ChordLike, RomanChord, roman_numerals
from ostinato.theory.voice_leading import mean_voice_leading, voice_leading_label


@dataclass(frozen=True)
class HarmonyAnalysis:
    """Everything the theory stage says about a track's harmony (times in seconds)."""

    roman: list[RomanChord] = field(default_factory=list)
    local_keys: list[LocalKey] = field(default_factory=list)
    modulations: int = 0
    progressions: list[ProgressionMatch] = field(default_factory=list)
    cadences: list[Cadence] = field(default_factory=list)
    voice_leading_cost: float | None = None
    voice_leading_label: str | None = None
    harmonic_rhythm: float | None = None  # chord changes per bar
    harmonic_complexity: float | None = None  # [0, 1]


def analyze_harmony(
    chords: Sequence[ChordLike],
    *,
    tonic_pc: int,
    mode: str,
    downbeat_times: Sequence[float] | np.ndarray | None = None,
    phrase_ends: Sequence[float] | np.ndarray = (),
    end_s: float | None = None,
) -> HarmonyAnalysis:
    """Run every harmony analysis over ``chords`` (time order) in the global key ``tonic_pc``/``mode``.

    ``downbeat_times`` (seconds) give harmonic rhythm and the strong beats cadences land on;
    ``phrase_ends`` (seconds: section boundaries, the end, fermatas) mark phrase-final cadences and allow
    half cadences; ``end_s`` is the end of the piece (default: the last chord's end).
    """
    if not chords:
        return HarmonyAnalysis()
    end = float(chords[-1].end_s) if end_s is None else float(end_s)
    local = estimate_local_keys(chords, global_tonic_pc=tonic_pc, global_mode=mode)
    roman = roman_numerals(chords, tonic_pc=tonic_pc, mode=mode, local_keys=local)
    modulations = count_modulations(local)
    cost = mean_voice_leading(chords)
    has_downbeats = downbeat_times is not None and len(downbeat_times) > 0
    return HarmonyAnalysis(
        roman=roman,
        local_keys=local,
        modulations=modulations,
        progressions=find_progressions(roman),
        cadences=find_cadences(roman, downbeat_times=downbeat_times if has_downbeats else None,
                               phrase_ends=phrase_ends),
        voice_leading_cost=cost,
        voice_leading_label=voice_leading_label(cost),
        harmonic_rhythm=harmonic_rhythm(chords, downbeat_times=downbeat_times, end_s=end) if has_downbeats else None,
        harmonic_complexity=harmonic_complexity(roman, modulations=modulations),
    )


def phrase_ends_from_sections(section_starts: Sequence[float], *, end_s: float) -> list[float]:
    """Phrase ends for audio: every section boundary after the first section's start, and the end."""
    return [float(t) for t in list(section_starts)[1:]] + [float(end_s)]


def phrase_ends_from_held_chords(chords: Sequence[ChordLike], *, factor: float = 2.0) -> list[float]:
    """Ends of chords held at least ``factor`` times the median chord length: where a phrase breathes.

    In a recording a phrase end is rarely marked; its goal chord is usually held (a chorale's fermata,
    the long last chord of a verse). Repeated chords count as one; no-chord segments are skipped.
    """
    runs: list[list[float]] = []
    previous = None
    for c in chords:
        if int(c.root_pc) < 0 or c.quality == "N":
            previous = None
            continue
        label = (int(c.root_pc), c.quality)
        if label == previous:
            runs[-1][1] = float(c.end_s)
        else:
            runs.append([float(c.start_s), float(c.end_s)])
        previous = label
    if len(runs) < 3:
        return []
    lengths = np.array([e - s for s, e in runs])
    median = float(np.median(lengths))
    return [e for (s, e), d in zip(runs, lengths, strict=True) if d >= factor * median]
