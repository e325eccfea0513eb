"""Roman-numeral analysis of chord segments in a known key, and the harmonic function of each numeral.

A first cut built on music21. Each chord (root pitch class, quality) is read in the key (tonic pitch
class, mode) and given a music21 Roman-numeral ``figure``, the scale ``degree`` of its root and a
harmonic ``function`` (tonic / predominant / dominant / other).

Conventions (all checked by ``tests/theory/test_roman.py``):

* **Figures are music21-parseable and exact**: ``music21.roman.RomanNumeral(figure, key)`` realises
  exactly the chord's pitch classes with the chord's root. A figure is the numeral (case = quality of
  the third), an optional accidental prefix in music21's sense, and a quality suffix: ``o`` (dim),
  ``+`` (aug), ``7`` / ``o7`` / ``ø7`` (sevenths; a ``b7``/``#7`` where music21's diatonic seventh is not
  the chord's), ``54`` / ``52`` for sus4 / sus2 (music21 has no "sus"; ``V54`` is G-C-D in C).
  A chord whose ``bass_pc`` is a chord tone other than the root gets music21's inversion figure
  (``V6``, ``I64``, ``V65``, ``viio43``, ``V42``, ``V6/V``) when that figure parses back to the same
  root, pitch classes and bass; otherwise (and when the bass is unknown, ``-1``) the root-position
  figure is kept and ``inversion`` still records what was heard.
* **Local keys**: given key regions (``theory.local_keys``), each chord is read in the region that
  holds its midpoint, and ``local_key`` names it; the global key is used where no region does.
* **Kind**: ``secondary`` (an applied figure, ``X/Y``), ``diatonic`` (every pitch class in the key's
  diatonic set, below), ``borrowed`` (every pitch class in the parallel mode's set: ``iv``, ``bVI``,
  ``bVII`` in major; a major ``I`` or ``IV`` chord of the parallel major in minor), ``chromatic``
  otherwise, ``none`` for no chord.
* **Minor keys follow music21's default (``Minor67Default.QUOTE``)**: in A minor, ``VI`` is F major
  and ``VII`` is G major (natural minor), while ``vii`` / ``viio`` are built on G#. The figure
  ``romanNumeralFromChord`` itself writes for F major in A minor (``bVI``) does not parse back to F
  major, so every candidate figure is verified by parsing it back before it is accepted. Candidates
  are built from the root's degree and the quality, plainest first; for plain diatonic chords they
  equal ``romanNumeralFromChord``'s figure (tested), and where none parses back (no chord of the
  vocabulary today) ``romanNumeralFromChord``'s own figure is the fallback.
* **Harte labels spell the root for the key** (``Bb:maj`` in F, ``A#:maj`` in B), double accidentals
  simplified (``F##`` -> ``G``). Tonics are spelled C Db D Eb E F F# G Ab A Bb B in major and
  C C# D Eb E F F# G G# A Bb B in minor.
* **Chromatic major and dominant-seventh chords that tonicise a diatonic triad are applied
  (secondary) chords**: D major in C is ``V/V`` (not ``II``), C7 in C is ``V7/IV``, F#dim7 in C is
  ``viio7/V``. A chromatic chord is applied when its root lies a fifth above (``V``, ``V7``) or a
  semitone below (``viio``, ``viio7``, ``viiø7``) the root of a major or minor diatonic triad other
  than the tonic. Other chromatic chords are borrowed/altered chords named by their root's
  accidental: ``bVII``, ``bVI``, ``bIII``, ``iv`` and ``bII`` in major. In minor, the diatonic set is
  the natural minor plus the raised 6th and 7th, so E major (``V``) and D major (``IV``) in A minor are
  diatonic; C major in C minor reads as ``V/iv`` (a final Picardy third is not told apart).
* Figures depend only on the chord's interval above the tonic, its quality and the mode, so results
  are cached per ``((root_pc - tonic_pc) % 12, quality, mode)`` (264 possible entries); music21 is
  called at most a handful of times per distinct entry and never again.

Harmonic function (``harmonic_function``), from the root's scale degree and accidental:

* **tonic**: I / i, iii / III / bIII (mediant as a tonic substitute), vi in major (deceptive-cadence
  substitute).
* **predominant**: ii / ii° / iiø7 / bII (Neapolitan, ``N``), IV / iv, VI in minor and bVI in major,
  augmented sixths (``It``, ``Ger``, ``Fr``).
* **dominant**: V / v / V7, the leading-tone chords vii° / viiø7 / viio7, the subtonic VII / bVII
  (taken as a dominant substitute: the backdoor bVII7-I and minor-key VII-i cadences), and every
  applied chord whose numeral before the slash is V or vii (``V/V``, ``V7/IV``, ``viio7/V``): an
  applied dominant counts as a dominant of its target.
* **other**: no chord, applied chords that are not dominants (``IV/IV``), unparseable figures.
* Diminished triads off the leading tone follow their degree too (``iio`` predominant, ``vio`` in major
  tonic); sus chords follow their root (``V54`` dominant, ``I54`` tonic).
* Borrowed chords take the function of their root's degree (rules above): ``iv`` in major is
  predominant, ``bVI`` predominant, ``bIII`` tonic, ``bVII`` dominant.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from music21 import chord as m21chord
from music21 import key as m21key
from music21 import pitch as m21pitch
from music21 import roman as m21roman

from ostinato.errors import AnalysisError
from ostinato.theory.chords import CHORD_INTERVALS
from ostinato.theory.pitch import KEY_TONICS, MODES, music21_name, tonic_name
from ostinato.theory.roman_grammar import FIGURE_RE, NUMERALS

#: Chord qualities understood here (``"N"`` is no chord); the same names as the MIR chord stage.
QUALITIES: tuple[str, ...] = (*CHORD_INTERVALS, "N")

FUNCTIONS: tuple[str, ...] = ("tonic", "predominant", "dominant", "other")

KINDS: tuple[str, ...] = ("diatonic", "secondary", "borrowed", "chromatic", "none")

#: Interval (music21 name) above the tonic used to spell a root ``k`` semitones above it, and the
#: scale degree that spelling gives; the same table serves both modes.
_ROOT_INTERVALS: tuple[str, ...] = ("P1", "m2", "M2", "m3", "M3", "P4", "A4", "P5", "m6", "M6", "m7", "M7")
_DEGREE_OF_SEMITONES: tuple[int, ...] = (1, 2, 2, 3, 3, 4, 4, 5, 6, 6, 7, 7)

#: Conventional spelling of each tonic pitch class, music21 names (``-`` = flat), from ``theory.pitch``.
_TONIC_NAMES: dict[str, tuple[str, ...]] = {
    mode: tuple(music21_name(n) for n in names) for mode, names in KEY_TONICS.items()
}

#: Pitch classes above the tonic counted as diatonic: major scale; natural minor + raised 6th and 7th.
_DIATONIC: dict[str, frozenset[int]] = {
    "major": frozenset({0, 2, 4, 5, 7, 9, 11}),
    "minor": frozenset({0, 2, 3, 5, 7, 8, 9, 10, 11}),
}

#: Diatonic major/minor triads (semitones above the tonic -> figure) that applied chords may tonicise.
_APPLIED_TARGETS: dict[str, dict[int, str]] = {
    "major": {2: "ii", 4: "iii", 5: "IV", 7: "V", 9: "vi"},
    "minor": {3: "III", 5: "iv", 7: "V", 8: "VI", 10: "VII"},
}

_UPPER = {"maj", "aug", "7", "maj7", "sus2", "sus4"}
_ALTERATIONS = ("", "b", "#")
_SEVENTHS = ("7", "b7", "#7", "##7")
#: Quality suffixes to try, plainest first; an altered interval (``b7``, ``5#2``) is written only when
#: music21's diatonic reading of the plain one differs from the chord.
_SUFFIXES: dict[str, tuple[str, ...]] = {
    "maj": ("",),
    "min": ("",),
    "dim": ("o",),
    "aug": ("+",),
    "7": _SEVENTHS,
    "maj7": _SEVENTHS,
    "min7": _SEVENTHS,
    "hdim7": ("ø7",),
    "dim7": ("o7",),
    "sus2": tuple(f"{a}5{b}2" for a in _ALTERATIONS for b in _ALTERATIONS),
    "sus4": tuple(f"{a}5{b}4" for a in _ALTERATIONS for b in _ALTERATIONS),
}
_APPLIED_PRIMARY = {"maj": "V", "7": "V7", "dim": "viio", "dim7": "viio7", "hdim7": "viiø7"}


class ChordLike(Protocol):
    """A chord segment: times in seconds, root pitch class (0 = C, -1 = no chord), quality name.

    An optional ``bass_pc`` attribute (lowest pitch class, -1 unknown) gives inversions.
    """

    @property
    def start_s(self) -> float: ...

    @property
    def end_s(self) -> float: ...

    @property
    def root_pc(self) -> int: ...

    @property
    def quality(self) -> str: ...


class KeyRegionLike(Protocol):
    """A key over ``[start_s, end_s)`` seconds: tonic pitch class and mode ("major" / "minor")."""

    @property
    def start_s(self) -> float: ...

    @property
    def end_s(self) -> float: ...

    @property
    def tonic_pc(self) -> int: ...

    @property
    def mode(self) -> str: ...


@dataclass(frozen=True)
class RomanChord:
    """One chord read in a key.

    ``chord`` is a Harte label (``"G:maj"``, ``"Bb:7"``, ``"N"``) with the root spelled for the key;
    ``figure`` a music21 Roman-numeral figure (``"V"``, ``"vi"``, ``"V7"``, ``"bVII"``, ``"V/V"``; ``""``
    for no chord); ``function`` one of ``FUNCTIONS``; ``degree`` the scale degree 1-7 of the root
    (0 for no chord; an applied chord's degree is its own root's, e.g. 2 for ``V/V``); ``local_key`` the
    key the figure is read in (``"G major"``); ``inversion`` 0 (root position or unknown bass) to 3;
    ``kind`` one of ``KINDS``. ``root_pc``, ``quality`` and ``tonic_pc``/``mode`` repeat the inputs so
    that later theory stages need nothing else.
    """

    start_s: float
    end_s: float
    chord: str
    figure: str
    function: str
    degree: int
    local_key: str = ""
    inversion: int = 0
    kind: str = "diatonic"
    root_pc: int = -1
    quality: str = "N"
    tonic_pc: int = 0
    mode: str = "major"

    @property
    def semitones_above_tonic(self) -> int:
        """Root's interval above the local tonic, 0-11 (-1 for no chord)."""
        return -1 if self.root_pc < 0 else (self.root_pc - self.tonic_pc) % 12


def roman_numerals(
    chords: Sequence[ChordLike],
    *,
    tonic_pc: int,
    mode: str,
    local_keys: Sequence[KeyRegionLike] | None = None,
) -> list[RomanChord]:
    """Read each chord segment in the key ``tonic_pc`` (0 = C ... 11 = B), ``mode`` ("major" / "minor").

    With ``local_keys``, a chord is read in the region holding its midpoint instead (the global key
    where none does). A segment with ``root_pc == -1`` or quality ``"N"`` is no chord: figure ``""``,
    function ``"other"``, degree 0, chord ``"N"``, kind ``"none"``. Raises ``AnalysisError`` for an unknown
    quality or mode or a pitch class out of range. Returns one ``RomanChord`` per input segment, in order.
    """
    _check_key(tonic_pc, mode)
    regions = sorted(local_keys or [], key=lambda r: r.start_s)
    for region in regions:
        _check_key(region.tonic_pc, region.mode)
    out = []
    for c in chords:
        root, quality = int(c.root_pc), str(c.quality)
        if quality not in QUALITIES:
            raise AnalysisError(f"unknown chord quality {quality!r}; known: {list(QUALITIES)}")
        if not -1 <= root <= 11:
            raise AnalysisError(f"chord root_pc must be -1 (no chord) or 0..11, got {root}")
        tonic, key_mode = _key_at(regions, 0.5 * (float(c.start_s) + float(c.end_s)), tonic_pc, mode)
        local = f"{key_label(tonic, key_mode)}"
        if root == -1 or quality == "N":
            out.append(RomanChord(float(c.start_s), float(c.end_s), "N", "", "other", 0, local, 0, "none",
                                  -1, "N", tonic, key_mode))
            continue
        semis = (root - tonic) % 12
        bass = int(getattr(c, "bass_pc", -1))
        inversion = _inversion(quality, (bass - root) % 12) if bass >= 0 else 0
        figure = _figure(semis, quality, key_mode)
        if inversion:
            figure = _inverted_figure(semis, quality, key_mode, inversion)
        out.append(
            RomanChord(
                start_s=float(c.start_s),
                end_s=float(c.end_s),
                chord=f"{_root_name(semis, tonic, key_mode)}:{quality}",
                figure=figure,
                function=_function(figure, key_mode),
                degree=_DEGREE_OF_SEMITONES[semis],
                local_key=local,
                inversion=inversion,
                kind=_kind(figure, semis, quality, key_mode),
                root_pc=root,
                quality=quality,
                tonic_pc=tonic,
                mode=key_mode,
            )
        )
    return out


def key_label(tonic_pc: int, mode: str) -> str:
    """Human key name spelled conventionally: ``"Eb major"``, ``"F# minor"``."""
    return f"{tonic_spelling(tonic_pc, mode)} {mode}"


def tonic_spelling(tonic_pc: int, mode: str) -> str:
    """Conventional tonic name for the mode, Harte style: ``"Eb"``, ``"C#"``."""
    return tonic_name(_check_key(tonic_pc, mode), mode)


def _key_at(regions: Sequence[KeyRegionLike], t: float, tonic_pc: int, mode: str) -> tuple[int, str]:
    for region in regions:
        if region.start_s <= t < region.end_s:
            return int(region.tonic_pc), str(region.mode)
    return int(tonic_pc), mode


def _inversion(quality: str, bass_interval: int) -> int:
    """0-3 from the bass's interval above the root; 0 when the bass is not a chord tone or a sus chord."""
    intervals = CHORD_INTERVALS[quality]
    if quality.startswith("sus") or bass_interval not in intervals:
        return 0
    return intervals.index(bass_interval)


_INVERSION_SUFFIX = {3: ("", "6", "64"), 4: ("7", "65", "43", "42")}


@functools.cache
def _inverted_figure(semis: int, quality: str, mode: str, inversion: int) -> str:
    """The root-position figure with music21's inversion figures, if it parses back; else the plain one."""
    plain = _figure(semis, quality, mode)
    primary, slash, target = plain.partition("/")
    size = len(CHORD_INTERVALS[quality])
    if size == 4 and primary.endswith("7"):
        candidate = primary[:-1] + _INVERSION_SUFFIX[4][inversion]
    elif size == 3 and (primary[-1:] in ("o", "+") or primary[-1:].isalpha()):
        candidate = primary + _INVERSION_SUFFIX[3][inversion]
    else:
        return plain
    candidate = candidate + slash + target
    pcs = frozenset((semis + i) % 12 for i in CHORD_INTERVALS[quality])
    bass = (semis + CHORD_INTERVALS[quality][inversion]) % 12
    try:
        rn = m21roman.RomanNumeral(candidate, _reference_key(mode))
        ok = rn.root().pitchClass == semis and frozenset(rn.pitchClasses) == pcs and rn.bass().pitchClass == bass
    except Exception:  # music21 raises assorted types for figures it cannot read
        ok = False
    return candidate if ok else plain


def _kind(figure: str, semis: int, quality: str, mode: str) -> str:
    if "/" in figure:
        return "secondary"
    pcs = {(semis + i) % 12 for i in CHORD_INTERVALS[quality]}
    if pcs <= _DIATONIC[mode]:
        return "diatonic"
    if pcs <= _DIATONIC["minor" if mode == "major" else "major"]:
        return "borrowed"
    return "chromatic"


def harmonic_function(figure: str, *, mode: str) -> str:
    """Harmonic function ("tonic", "predominant", "dominant" or "other") of ``figure`` in ``mode``.

    See the module docstring for the rules; ``""`` (no chord) and unparseable figures are ``"other"``.
    """
    if mode not in MODES:
        raise AnalysisError(f"mode must be one of {MODES}, got {mode!r}")
    return _function(figure, mode)


def key_name(tonic_pc: int, mode: str) -> str:
    """Conventional spelling of a key as a music21 key string: "C", "E-", "f#" (lower case = minor)."""
    name = _TONIC_NAMES[mode][_check_key(tonic_pc, mode)]
    return name if mode == "major" else name.lower()


def _check_key(tonic_pc: int, mode: str) -> int:
    if mode not in MODES:
        raise AnalysisError(f"mode must be one of {MODES}, got {mode!r}")
    tonic = int(tonic_pc)
    if not 0 <= tonic <= 11:
        raise AnalysisError(f"tonic_pc must be a pitch class 0..11, got {tonic_pc}")
    return tonic


@functools.cache
def _function(figure: str, mode: str) -> str:
    if not figure:
        return "other"
    primary, _, target = figure.partition("/")
    if primary.startswith(("It", "Ger", "Fr", "N")):
        return "predominant" if not target else "other"
    m = FIGURE_RE.match(primary)
    if m is None:
        return "other"
    degree = NUMERALS.index(m["num"].upper()) + 1
    if target:
        return "dominant" if degree in (5, 7) else "other"
    if degree in (5, 7):
        return "dominant"
    if degree in (2, 4):
        return "predominant"
    if degree == 6:
        return "tonic" if mode == "major" and "b" not in m["acc"] else "predominant"
    return "tonic"


@functools.cache
def _reference_key(mode: str) -> m21key.Key:
    """C major or C minor: figures are computed there and hold in every key of the mode."""
    return m21key.Key("C" if mode == "major" else "c")


@functools.cache
def _figure(semis: int, quality: str, mode: str) -> str:
    """The figure of a chord ``semis`` semitones above the tonic; see the module docstring."""
    pcs = frozenset((semis + i) % 12 for i in CHORD_INTERVALS[quality])
    for candidate in _candidates(semis, quality, mode, pcs):
        if _realises(candidate, mode, semis, pcs):
            return candidate
    # music21's own reading; not guaranteed to parse back, but never empty.
    return _music21_figure(semis, quality, mode)


def _candidates(semis: int, quality: str, mode: str, pcs: frozenset[int]) -> list[str]:
    out = []
    if not pcs <= _DIATONIC[mode] and quality in _APPLIED_PRIMARY:
        step = 1 if quality.startswith(("dim", "hdim")) else 5
        target = _APPLIED_TARGETS[mode].get((semis + step) % 12)
        if target is not None:
            out.append(f"{_APPLIED_PRIMARY[quality]}/{target}")
    numeral = NUMERALS[_DEGREE_OF_SEMITONES[semis] - 1]
    numeral = numeral if quality in _UPPER else numeral.lower()
    for accidental in ("", "b", "#"):
        out.extend(f"{accidental}{numeral}{suffix}" for suffix in _SUFFIXES[quality])
    return out


def _realises(figure: str, mode: str, semis: int, pcs: frozenset[int]) -> bool:
    try:
        rn = m21roman.RomanNumeral(figure, _reference_key(mode))
        return rn.root().pitchClass == semis and frozenset(rn.pitchClasses) == pcs
    except Exception:  # music21 raises assorted types for figures it cannot read
        return False


def _music21_figure(semis: int, quality: str, mode: str) -> str:
    root = m21pitch.Pitch("C3").transpose(_ROOT_INTERVALS[semis])
    pitches = [root.transpose(i) for i in CHORD_INTERVALS[quality]]
    return str(m21roman.romanNumeralFromChord(m21chord.Chord(pitches), _reference_key(mode)).figure)


@functools.cache
def _root_name(semis: int, tonic: int, mode: str) -> str:
    """The root's name spelled for the key, Harte style (``Bb``, ``F#``); double accidentals simplified."""
    p = m21pitch.Pitch(_TONIC_NAMES[mode][tonic]).transpose(_ROOT_INTERVALS[semis])
    if abs(p.alter) > 1:
        p = p.getEnharmonic()
    return p.name.replace("-", "b")
