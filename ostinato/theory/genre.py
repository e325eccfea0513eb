"""Genre from a ``tracks`` row by a documented rule set: each rule that holds adds evidence, with a reason.

Every genre starts at 0 and collects the weights of its rules that hold (a rule whose feature is missing
does not hold). Scores become confidences by a softmax that also includes ``"<other>"`` at a fixed score of
:data:`OTHER_SCORE`, so a track with little evidence for anything stays ``"<other>"`` or low-confidence.
The primary genre's reasons are the human-readable sentences of its rules that held.

The rule set (also in the README as a table) is :data:`RULES`; the features it reads are computed by
:func:`row_facts` from the row's columns:

- ``tempo_bpm``, ``tempo_confidence``, ``meter``, ``swing_ratio``, ``syncopation``, ``note_density``,
  ``polyrhythm``, ``loudness_lufs``, ``loudness_range_lu``, ``spectral_flatness_mean``, ``mode``,
  ``harmonic_complexity``;
- ``drums``, ``bass``, ``other``, ``vocals``: energy shares of the separated stems (missing without
  separation, so no instrumentation rule holds then);
- ``sevenths``, ``dominant_sevenths``: share of chord time on seventh chords (any, and dominant ``7``);
- ``progressions``: the names in the ``progressions`` column (e.g. ``twelve_bar_blues``, ``ii_v_i``).

Genre names are the training-set vocabulary's (:data:`GENRES`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

#: The genres rules and models may answer, spelled as the training-set vocabulary spells them.
GENRES = ("rock", "pop", "electronic", "hip-hop", "jazz", "blues", "classical", "folk", "metal", "r&b",
          "country", "reggae", "latin", "ambient", "disco")
OTHER = "<other>"
#: Score of "<other>" in the softmax: a genre needs more evidence than this to be preferred.
OTHER_SCORE = 1.5

SEVENTH_QUALITIES = frozenset({"7", "maj7", "min7", "hdim7", "dim7"})
JAZZ_PROGRESSIONS = frozenset({"ii_v_i", "minor_ii_v_i", "turnaround", "circle_of_fifths"})
POP_PROGRESSIONS = frozenset({"axis", "axis_minor_start", "doo_wop", "royal_road", "pop_rock"})
ROCK_PROGRESSIONS = frozenset({"i_iv_v", "mixolydian", "aeolian_loop", "aeolian_vamp", "pop_rock"})
MINOR_LOOPS = frozenset({"aeolian_loop", "aeolian_vamp", "andalusian", "minor_i_iv_v"})
CLASSICAL_PROGRESSIONS = frozenset({"pachelbel", "minor_cadence"})


@dataclass(frozen=True)
class GenreEstimate:
    """Primary and secondary genre with confidences in [0, 1], the reasons, and where it came from.

    ``source`` is ``"tags"`` (a music tagger, ``theory.genre_tags``), ``"rules"`` or ``"model"``.
    """

    genre: str
    confidence: float
    secondary: str | None
    secondary_confidence: float | None
    reasons: list[str]
    source: str

    def columns(self) -> dict[str, Any]:
        """The genre columns of a ``tracks`` row."""
        return {
            "genre": self.genre,
            "genre_confidence": float(self.confidence),
            "genre_secondary": self.secondary,
            "genre_secondary_confidence": None if self.secondary_confidence is None else float(
                self.secondary_confidence),
            "genre_reasons": list(self.reasons),
            "genre_source": self.source,
        }


Facts = dict[str, Any]


@dataclass(frozen=True)
class Rule:
    """One piece of evidence: ``weight`` for ``genre`` when ``test(facts)`` holds; ``reason(facts)`` says why."""

    genre: str
    weight: float
    test: Callable[[Facts], bool]
    reason: Callable[[Facts], str]


def _has(f: Facts, *names: str) -> bool:
    return all(f.get(n) is not None for n in names)


def _between(name: str, lo: float, hi: float) -> Callable[[Facts], bool]:
    return lambda f: _has(f, name) and lo <= f[name] <= hi


def _at_least(name: str, lo: float) -> Callable[[Facts], bool]:
    return lambda f: _has(f, name) and f[name] >= lo


def _at_most(name: str, hi: float) -> Callable[[Facts], bool]:
    return lambda f: _has(f, name) and f[name] <= hi


def _any_of(names: frozenset[str]) -> Callable[[Facts], bool]:
    return lambda f: bool(names & f.get("progressions", set()))


def _all(*tests: Callable[[Facts], bool]) -> Callable[[Facts], bool]:
    return lambda f: all(t(f) for t in tests)


def _tempo(lo: float, hi: float, genre: str) -> Callable[[Facts], str]:
    return lambda f: f"tempo {f['tempo_bpm']:.0f} BPM is in {genre}'s {lo:.0f}-{hi:.0f} BPM range"


def _share(stem: str, text: str) -> Callable[[Facts], str]:
    return lambda f: f"{stem} carry {100 * f[stem]:.0f}% of the energy ({text})"


def _found(names: frozenset[str], text: str) -> Callable[[Facts], str]:
    return lambda f: f"{text}: {', '.join(sorted(names & f['progressions']))}"


#: How reasons name a fact and its unit.
_LABELS = {
    "loudness_lufs": ("loudness", " LUFS"), "loudness_range_lu": ("loudness range", " LU"),
    "note_density": ("note density", " onsets/s"), "spectral_flatness_mean": ("spectral flatness", ""),
}


def _value(name: str, fmt: str, text: str) -> Callable[[Facts], str]:
    label, unit = _LABELS.get(name, (name.replace("_", " "), ""))
    return lambda f: f"{label} {format(f[name], fmt)}{unit} ({text})"


def _fixed(text: str) -> Callable[[Facts], str]:
    return lambda f: text


#: The rule set. Thresholds are deliberately coarse; a trained model (``ostinato fit-genre``) replaces them
#: where a corpus has genre tags.
RULES: tuple[Rule, ...] = (
    # jazz: swing, ii-V-I harmony, extended chords
    Rule("jazz", 2.0, _at_least("swing_ratio", 1.5), _value("swing_ratio", ".2f", "swung eighths")),
    Rule("jazz", 2.0, _any_of(JAZZ_PROGRESSIONS), _found(JAZZ_PROGRESSIONS, "jazz progressions")),
    Rule("jazz", 1.0, _at_least("sevenths", 0.4), lambda f: f"{100 * f['sevenths']:.0f}% of chord time on sevenths"),
    Rule("jazz", 1.0, _at_least("harmonic_complexity", 0.5), _value("harmonic_complexity", ".2f", "rich harmony")),
    # blues: the 12-bar form, shuffle, dominant sevenths
    Rule("blues", 3.0, _any_of(frozenset({"twelve_bar_blues"})), _fixed("12-bar blues form")),
    Rule("blues", 1.0, _at_least("swing_ratio", 1.4), _value("swing_ratio", ".2f", "shuffle feel")),
    Rule("blues", 1.0, _at_least("dominant_sevenths", 0.3),
         lambda f: f"{100 * f['dominant_sevenths']:.0f}% of chord time on dominant sevenths"),
    Rule("blues", 0.5, _between("tempo_bpm", 60, 130), _tempo(60, 130, "blues")),
    # rock and metal: guitars and drums, loud, modal and I-IV-V progressions
    Rule("rock", 1.0, _between("tempo_bpm", 100, 160), _tempo(100, 160, "rock")),
    Rule("rock", 1.0, _all(_at_least("drums", 0.2), _at_least("other", 0.25)),
         lambda f: f"drums ({100 * f['drums']:.0f}%) and guitars/keys ({100 * f['other']:.0f}%) lead the mix"),
    Rule("rock", 1.0, _any_of(ROCK_PROGRESSIONS), _found(ROCK_PROGRESSIONS, "rock progressions")),
    Rule("rock", 0.5, _at_least("loudness_lufs", -12.0), _value("loudness_lufs", ".1f", "loud master")),
    Rule("metal", 1.0, _at_least("tempo_bpm", 140), _tempo(140, 250, "metal")),
    Rule("metal", 1.0, _at_least("loudness_lufs", -10.0), _value("loudness_lufs", ".1f", "very loud master")),
    Rule("metal", 1.0, _at_least("spectral_flatness_mean", 0.1),
         _value("spectral_flatness_mean", ".2f", "noisy, distorted spectrum")),
    Rule("metal", 0.5, _any_of(MINOR_LOOPS), _found(MINOR_LOOPS, "minor-mode loops")),
    Rule("metal", 0.5, _at_least("note_density", 8.0), _value("note_density", ".1f", "dense playing")),
    # pop: vocals in front, the axis progressions
    Rule("pop", 1.0, _between("tempo_bpm", 90, 130), _tempo(90, 130, "pop")),
    Rule("pop", 1.5, _at_least("vocals", 0.25), _share("vocals", "a vocal-led mix")),
    Rule("pop", 1.5, _any_of(POP_PROGRESSIONS), _found(POP_PROGRESSIONS, "pop progressions")),
    Rule("pop", 0.5, _at_least("loudness_lufs", -14.0), _value("loudness_lufs", ".1f", "radio-loud master")),
    # electronic: steady machine tempo, drums and bass, few vocals, compressed dynamics
    Rule("electronic", 1.0, _between("tempo_bpm", 118, 135), _tempo(118, 135, "house/techno")),
    Rule("electronic", 1.0, _at_least("tempo_confidence", 0.8),
         _value("tempo_confidence", ".2f", "a machine-steady pulse")),
    Rule("electronic", 1.0, _all(_at_least("drums_bass", 0.5), _at_most("vocals", 0.1)),
         lambda f: f"drums and bass carry {100 * f['drums_bass']:.0f}% of the energy, vocals little"),
    Rule("electronic", 0.5, _at_most("loudness_range_lu", 6.0), _value("loudness_range_lu", ".1f", "flat dynamics")),
    # hip-hop and r&b: slower grooves, vocals over drums and bass, syncopation, sevenths
    Rule("hip-hop", 1.0, _between("tempo_bpm", 80, 100), _tempo(80, 100, "hip-hop")),
    Rule("hip-hop", 1.0, _all(_at_least("vocals", 0.25), _at_least("drums", 0.2)),
         lambda f: f"vocals ({100 * f['vocals']:.0f}%) over drums ({100 * f['drums']:.0f}%)"),
    Rule("hip-hop", 0.5, _at_least("bass", 0.2), _share("bass", "heavy bass")),
    Rule("hip-hop", 0.5, _at_least("syncopation", 2.0), _value("syncopation", ".1f", "syncopated drums and bass")),
    Rule("r&b", 1.0, _between("tempo_bpm", 60, 100), _tempo(60, 100, "r&b")),
    Rule("r&b", 1.0, _at_least("sevenths", 0.3), lambda f: f"{100 * f['sevenths']:.0f}% of chord time on sevenths"),
    Rule("r&b", 1.0, _at_least("vocals", 0.25), _share("vocals", "a vocal-led mix")),
    Rule("r&b", 0.5, _between("swing_ratio", 1.2, 1.8), _value("swing_ratio", ".2f", "a light swing")),
    # classical and ambient: no drums, wide dynamics, quiet, free or absent pulse
    Rule("classical", 1.5, _at_most("drums", 0.05), lambda f: f"almost no drums ({100 * f['drums']:.0f}%)"),
    Rule("classical", 1.0, _at_least("loudness_range_lu", 10.0),
         _value("loudness_range_lu", ".1f", "wide dynamics")),
    Rule("classical", 1.0, _at_most("loudness_lufs", -18.0), _value("loudness_lufs", ".1f", "quiet master")),
    Rule("classical", 0.5, _at_most("tempo_confidence", 0.5), _value("tempo_confidence", ".2f", "a rubato pulse")),
    Rule("classical", 0.5, _any_of(CLASSICAL_PROGRESSIONS), _found(CLASSICAL_PROGRESSIONS, "classical progressions")),
    Rule("ambient", 1.5, _at_most("note_density", 1.5), _value("note_density", ".1f", "sparse")),
    Rule("ambient", 1.0, _at_most("drums", 0.05), lambda f: f"almost no drums ({100 * f['drums']:.0f}%)"),
    Rule("ambient", 1.0, _at_most("tempo_confidence", 0.3), _value("tempo_confidence", ".2f", "hardly any pulse")),
    # folk and country: acoustic, I-IV-V, triple meters, a singer
    Rule("folk", 1.0, _between("drums", 0.0, 0.1), lambda f: f"little or no drums ({100 * f['drums']:.0f}%)"),
    Rule("folk", 1.0, _any_of(frozenset({"i_iv_v", "mixolydian"})),
         _found(frozenset({"i_iv_v", "mixolydian"}), "folk progressions")),
    Rule("folk", 0.5, lambda f: f.get("meter") in ("3/4", "6/8"), lambda f: f"{f['meter']} meter"),
    Rule("folk", 0.5, _at_least("vocals", 0.2), _share("vocals", "a singer")),
    Rule("country", 1.0, _any_of(frozenset({"i_iv_v"})), _fixed("I-IV-V progression")),
    Rule("country", 0.5, _between("tempo_bpm", 90, 130), _tempo(90, 130, "country")),
    Rule("country", 0.5, lambda f: f.get("mode") == "major", _fixed("major key")),
    Rule("country", 0.5, _between("swing_ratio", 1.2, 1.6), _value("swing_ratio", ".2f", "a light shuffle")),
    # reggae and latin: off-beat and clave syncopation, heavy bass, polyrhythm
    Rule("reggae", 1.0, _between("tempo_bpm", 60, 90), _tempo(60, 90, "reggae")),
    Rule("reggae", 1.0, _at_least("bass", 0.3), _share("bass", "bass-heavy mix")),
    Rule("reggae", 0.5, _at_least("syncopation", 2.0), _value("syncopation", ".1f", "off-beat accents")),
    Rule("latin", 1.5, _at_least("syncopation", 3.0), _value("syncopation", ".1f", "clave-like syncopation")),
    Rule("latin", 1.5, _any_of(frozenset({"andalusian"})), _fixed("Andalusian cadence")),
    Rule("latin", 1.0, lambda f: f.get("polyrhythm") == "3:2", _fixed("3:2 polyrhythm")),
    Rule("latin", 0.5, _between("tempo_bpm", 90, 130), _tempo(90, 130, "latin")),
)


def row_facts(row: Mapping[str, Any]) -> Facts:
    """The features the rules read, from a ``tracks`` row (missing or null columns give None)."""

    def num(name: str) -> float | None:
        value = row.get(name)
        if value is None:
            return None
        value = float(value)
        return value if math.isfinite(value) else None

    facts: Facts = {name: num(name) for name in (
        "tempo_bpm", "tempo_confidence", "swing_ratio", "syncopation", "note_density", "loudness_lufs",
        "loudness_range_lu", "spectral_flatness_mean", "harmonic_complexity")}
    if facts["tempo_bpm"] is not None and facts["tempo_bpm"] <= 0:
        facts["tempo_bpm"] = None
    facts["meter"], facts["mode"], facts["polyrhythm"] = row.get("meter"), row.get("mode"), row.get("polyrhythm")
    shares = {s.get("name"): s.get("energy_share") for s in row.get("stems") or [] if s}
    for stem in ("drums", "bass", "other", "vocals"):
        value = shares.get(stem)
        facts[stem] = float(value) if value is not None else None
    facts["drums_bass"] = (facts["drums"] + facts["bass"]) if _has(facts, "drums", "bass") else None
    total = seventh = dominant = 0.0
    for chord in row.get("chords") or []:
        length = max(float(chord.get("end_s") or 0.0) - float(chord.get("start_s") or 0.0), 0.0)
        quality = chord.get("quality")
        if quality in (None, "N"):
            continue
        total += length
        seventh += length if quality in SEVENTH_QUALITIES else 0.0
        dominant += length if quality == "7" else 0.0
    facts["sevenths"] = seventh / total if total > 0 else None
    facts["dominant_sevenths"] = dominant / total if total > 0 else None
    facts["progressions"] = {p.get("name") for p in row.get("progressions") or [] if p and p.get("name")}
    return facts


def softmax_top2(scores: Mapping[str, float]) -> list[tuple[str, float]]:
    """Genres by softmax probability, best first (at most two)."""
    top = max(scores.values())
    weights = {g: math.exp(s - top) for g, s in scores.items()}
    total = sum(weights.values())
    return sorted(((g, w / total) for g, w in weights.items()), key=lambda gw: -gw[1])[:2]


def rule_evidence(
    row: Mapping[str, Any], *, rules: tuple[Rule, ...] = RULES
) -> tuple[dict[str, float], dict[str, list[str]]]:
    """Score of every genre (sum of its rules that hold) and the reasons of those rules, from a ``tracks`` row."""
    facts = row_facts(row)
    scores = {g: 0.0 for g in GENRES}
    held: dict[str, list[str]] = {g: [] for g in GENRES}
    for rule in rules:
        if rule.test(facts):
            scores[rule.genre] += rule.weight
            held[rule.genre].append(rule.reason(facts))
    return scores, held


def classify_genre(row: Mapping[str, Any], *, rules: tuple[Rule, ...] = RULES) -> GenreEstimate:
    """Primary and secondary genre of a ``tracks`` row by :data:`RULES`, with the primary's reasons.

    The secondary is the runner-up (possibly ``"<other>"``). A row with no usable features gets ``"<other>"``.
    """
    scores, held = rule_evidence(row, rules=rules)
    scores[OTHER] = OTHER_SCORE
    (first, p1), (second, p2) = softmax_top2(scores)
    if first == OTHER:
        reasons = [f"no genre's rules add up to more than {OTHER_SCORE} (best: {second}, {scores[second]:.1f})"]
    else:
        reasons = held[first]
    return GenreEstimate(first, p1, second, p2, reasons, "rules")
