"""Harmony theory on chord sequences with textbook answers: progressions, cadences, local keys,
voice leading, harmonic rhythm and complexity."""

from __future__ import annotations

import numpy as np
import pytest

from ostinato.testing.scores import progression_chords
from ostinato.theory.cadences import find_cadences
from ostinato.theory.complexity import complexity_terms, harmonic_complexity
from ostinato.theory.harmonic_rhythm import harmonic_rhythm
from ostinato.theory.harmony import analyze_harmony, phrase_ends_from_held_chords
from ostinato.theory.local_keys import estimate_local_keys
from ostinato.theory.progressions import CATALOGUE
from ostinato.theory.roman import roman_numerals
from ostinato.theory.voice_leading import mean_voice_leading, voice_leading_cost, voice_leading_label

KEYS = {"major": ("D", 2), "minor": ("e", 4)}


def analyse(figures, *, key="C", tonic_pc=0, mode="major", durations=None, seconds_per_chord=2.0):
    chords = progression_chords(figures, key=key, durations=durations, seconds_per_chord=seconds_per_chord)
    end = chords[-1].end_s
    downbeats = np.arange(0.0, end, seconds_per_chord)
    return analyze_harmony(chords, tonic_pc=tonic_pc, mode=mode, downbeat_times=downbeats, phrase_ends=[end])


def test_catalogue_has_at_least_fifteen_distinct_patterns():
    assert len(CATALOGUE) >= 15
    assert len({p.name for p in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("pattern", CATALOGUE, ids=lambda p: p.name)
@pytest.mark.parametrize("transpose_key", ["home", "moved"])
def test_each_named_progression_is_found_in_any_key(pattern, transpose_key):
    """Each pattern, played twice in D major / E minor (or a tritone away), is found once, spanning both."""
    name, tonic_pc = KEYS[pattern.mode]
    if transpose_key == "moved":
        name, tonic_pc = ("Ab", 8) if pattern.mode == "major" else ("b-", 10)
    figures = pattern.figures.split("-") * 2
    durations = list(pattern.lengths) * 2 if pattern.lengths else None
    h = analyse(figures, key=name, tonic_pc=tonic_pc, mode=pattern.mode, durations=durations, seconds_per_chord=1.0)
    # i-VI-III-VII and vi-IV-I-V are the same chords; which name wins depends on the local key heard.
    twins = {p.name for p in CATALOGUE if _same_chords(p, pattern)}
    found = [p for p in h.progressions if p.name in twins]
    assert len(found) == 1, h.progressions
    assert found[0].start_s == 0.0
    assert found[0].end_s == pytest.approx(h.roman[-1].end_s)
    assert found[0].name == pattern.name or h.local_keys[0].mode != pattern.mode


def _same_chords(a, b) -> bool:
    def shape(p):
        return [((s - p.chords[0][0]) % 12, f) for s, f in p.chords]
    return shape(a) == shape(b) and a.lengths == b.lengths


def test_blues_needs_its_bar_lengths():
    even = analyse(["I", "IV", "I", "V", "IV", "I"])
    assert "twelve_bar_blues" not in {p.name for p in even.progressions}
    blues = analyse(["I7", "IV7", "I7", "V7", "IV7", "I7"], durations=[4, 2, 2, 1, 1, 2])
    assert [p.name for p in blues.progressions] == ["twelve_bar_blues"]


def test_circle_of_fifths_run():
    h = analyse(["I", "iii", "vi", "ii", "V", "I"])
    assert [(p.name, p.start_s, p.figures) for p in h.progressions] == [
        ("circle_of_fifths", 2.0, "iii-vi-ii-V-I")
    ]


def test_looped_axis_is_not_also_reported_as_its_rotation():
    h = analyse(["I", "V", "vi", "IV"] * 3)
    assert [(p.name, p.start_s, p.end_s) for p in h.progressions] == [("axis", 0.0, 24.0)]


@pytest.mark.parametrize(
    ("figures", "key", "mode", "expected"),
    [
        (["I", "IV", "V7", "I"], "C", "major", [("perfect_authentic", 6.0, "V7-I", True)]),
        (["I", "IV", "V6", "I"], "C", "major", [("imperfect_authentic", 6.0, "V6-I", True)]),
        (["I", "ii", "viio6", "I"], "C", "major", [("imperfect_authentic", 6.0, "viio6-I", True)]),
        (["I", "V", "IV", "I"], "C", "major", [("plagal", 6.0, "IV-I", True)]),
        (["I", "vi", "IV", "V"], "C", "major", [("half", 6.0, "IV-V", True)]),
        (["I", "IV", "V7", "vi"], "C", "major", [("deceptive", 6.0, "V7-vi", True)]),
        (["i", "iv", "V", "i"], "a", "minor", [("perfect_authentic", 6.0, "V-i", True)]),
        (["i", "iv", "V7", "VI"], "a", "minor", [("deceptive", 6.0, "V7-VI", True)]),
        (["I", "IV", "V", "I6"], "C", "major", []),  # an inverted goal prolongs, it does not close
        (["I", "ii6", "I64", "V"], "C", "major", [("half", 6.0, "I64-V", True)]),  # the cadential six-four
    ],
)
def test_each_cadence_type(figures, key, mode, expected):
    tonic = {"C": 0, "a": 9}[key]
    h = analyse(figures, key=key, tonic_pc=tonic, mode=mode)
    assert [(c.type, c.time_s, c.figures, c.phrase_end) for c in h.cadences] == expected


def test_half_cadence_only_at_phrase_end_and_cadences_prefer_downbeats():
    chords = progression_chords(["I", "IV", "V", "I", "IV", "V7", "I"], seconds_per_chord=1.0)
    roman = roman_numerals(chords, tonic_pc=0, mode="major")
    # Bars of two chords: the V->I at 3 s lands mid-bar and ends no phrase, so only the final one counts.
    mid_bar = find_cadences(roman, downbeat_times=[0.0, 2.0, 4.0, 6.0], phrase_ends=[7.0])
    assert [(c.type, c.time_s, c.phrase_end) for c in mid_bar] == [("perfect_authentic", 6.0, True)]
    no_bars = find_cadences(roman, downbeat_times=None, phrase_ends=[4.0, 7.0])
    assert [(c.type, c.time_s, c.phrase_end) for c in no_bars] == [
        ("perfect_authentic", 3.0, True), ("perfect_authentic", 6.0, True)
    ]
    with_half = find_cadences(roman, downbeat_times=None, phrase_ends=[3.0, 7.0])
    assert [(c.type, c.time_s, c.phrase_end) for c in with_half] == [
        ("half", 2.0, True), ("perfect_authentic", 3.0, False), ("perfect_authentic", 6.0, True)
    ]


def test_modulation_to_the_dominant():
    """Eight bars in C, then eight in G with F# in every dominant: two regions, numerals read in G."""
    figures_c = ["I", "IV", "V", "I", "vi", "ii", "V7", "I"]
    figures_g = ["I", "IV", "V7", "I", "vi", "ii", "V7", "I"]
    chords = progression_chords(figures_c, key="C") + progression_chords(figures_g, key="G", start_s=16.0)
    h = analyze_harmony(chords, tonic_pc=0, mode="major", downbeat_times=np.arange(0, 32, 2.0), phrase_ends=[32.0])
    assert [(k.label, k.start_s, k.end_s) for k in h.local_keys] == [("C major", 0.0, 16.0), ("G major", 16.0, 32.0)]
    assert h.modulations == 1
    assert [r.figure for r in h.roman[8:]] == figures_g
    assert {r.local_key for r in h.roman[8:]} == {"G major"}
    assert h.cadences[-1].type == "perfect_authentic" and h.cadences[-1].time_s == 30.0


def test_no_modulation_for_a_secondary_dominant():
    chords = progression_chords(["I", "vi", "V7/V", "V", "I", "IV", "V7", "I"] * 2)
    regions = estimate_local_keys(chords, global_tonic_pc=0, global_mode="major")
    assert [r.label for r in regions] == ["C major"]
    h = analyze_harmony(chords, tonic_pc=0, mode="major")
    assert h.roman[2].figure == "V7/V" and h.roman[2].kind == "secondary"


def test_relative_minor_region():
    chords = progression_chords(["I", "IV", "V7", "I"] * 2, key="F") + progression_chords(
        ["i", "iv", "V7", "i"] * 2, key="d", start_s=16.0
    )
    regions = estimate_local_keys(chords, global_tonic_pc=5, global_mode="major")
    assert [(r.label, r.start_s) for r in regions] == [("F major", 0.0), ("D minor", 16.0)]


@pytest.mark.parametrize(
    ("a", "b", "cost"),
    [({0, 4, 7}, {11, 2, 7}, 3), ({0, 4, 7}, {0, 5, 9}, 3), ({7, 11, 2, 5}, {0, 4, 7}, 4), ({0, 4, 7}, {0, 4, 7}, 0),
     ({0, 4, 7}, {6, 10, 1}, 6), ({0, 4, 7}, {0, 3, 8}, 2)],
)
def test_voice_leading_cost(a, b, cost):
    assert voice_leading_cost(frozenset(a), frozenset(b)) == cost
    assert voice_leading_cost(frozenset(b), frozenset(a)) == cost


def test_voice_leading_labels():
    pop = progression_chords(["I", "V", "vi", "IV", "I"])
    assert mean_voice_leading(pop) == pytest.approx((3 + 5 + 1 + 3) / 4)
    assert voice_leading_label(mean_voice_leading(pop)) == "smooth"
    tritones = progression_chords(["I", "#IV", "I", "#IV"])
    assert voice_leading_label(mean_voice_leading(tritones)) == "disjunct"
    assert voice_leading_label(None) is None


def test_harmonic_rhythm_counts_changes_per_bar():
    chords = progression_chords(["I", "IV", "V", "I"] * 2, seconds_per_chord=1.0)
    # Seven boundaries but the I-I across the repeat is no change: 6 changes over 4 bars.
    assert harmonic_rhythm(chords, downbeat_times=np.arange(0, 8, 2.0), end_s=8.0) == pytest.approx(6 / 4)
    assert harmonic_rhythm(chords, downbeat_times=np.arange(0, 8, 1.0), end_s=8.0) == pytest.approx(6 / 8)
    assert harmonic_rhythm(chords, downbeat_times=[], end_s=8.0) is None


def test_complexity_orders_vamp_loop_and_jazz():
    vamp = roman_numerals(progression_chords(["I"] * 4), tonic_pc=0, mode="major")
    loop = roman_numerals(progression_chords(["I", "V", "vi", "IV"]), tonic_pc=0, mode="major")
    jazz = roman_numerals(progression_chords(["ii7", "V7", "I7", "V7/ii", "ii7", "bVII7", "viio7/V", "V7"]),
                          tonic_pc=0, mode="major")
    assert harmonic_complexity(vamp, modulations=0) == 0.0
    assert complexity_terms(loop, modulations=0)["vocabulary"] == pytest.approx(2 / np.log2(24))
    c_loop, c_jazz = harmonic_complexity(loop, modulations=0), harmonic_complexity(jazz, modulations=2)
    assert 0.0 < c_loop < 0.3 < c_jazz <= 1.0
    assert harmonic_complexity([], modulations=0) is None


def test_empty_input_gives_empty_analysis():
    h = analyze_harmony([], tonic_pc=0, mode="major")
    assert h.roman == [] and h.modulations == 0 and h.harmonic_complexity is None


def test_held_chords_mark_phrase_ends():
    # One chord per bar, the fourth and the last held for two bars: phrase ends at 10 s and 20 s.
    chords = progression_chords(["I", "IV", "V", "I", "vi", "ii", "V", "I"], durations=[1, 1, 1, 2, 1, 1, 1, 2])
    assert phrase_ends_from_held_chords(chords) == [10.0, 20.0]
    h = analyze_harmony(chords, tonic_pc=0, mode="major", phrase_ends=phrase_ends_from_held_chords(chords),
                        downbeat_times=[])
    assert [(c.type, c.time_s, c.phrase_end) for c in h.cadences] == [
        ("perfect_authentic", 6.0, True), ("perfect_authentic", 16.0, True)
    ]
    assert phrase_ends_from_held_chords(progression_chords(["I", "IV", "V", "I"])) == []
