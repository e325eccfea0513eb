"""Every condition id of the training set, and parsers for the chords, numerals and keys users type.

One vocabulary per condition, each a fixed tuple of tokens whose position is the id. Id 0 is always
``"<none>"`` (unknown, no chord, padding); vocabularies with an ``"<other>"`` token map anything they do not
name to it, so every analysis value gets an id. Ids never change within a ``VOCAB_VERSION``; the training-set
card stores the version so a model trained on one vocabulary refuses another.

Encoders take what the analysis rows hold (``ostinato.schema``): a chord root pitch class and a quality name
(``"maj"``, ``"min7"``, ...), a music21 Roman figure (``"V7/V"``, ``"viio65"``), a harmonic function, a section
label (``"A"``), a tonic name (``"Eb"``), a mode, a meter (``"3/4"``) and a genre. ``None`` always encodes to 0.

Parsers (``parse_chord``, ``parse_key``, ``parse_roman_progression``) read user input such as ``"F#:min"``,
``"Bb7"``, ``"e minor"`` or ``"I V vi IV"`` and raise ``VocabError`` with a sentence naming what was wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from ostinato.errors import OstinatoError
from ostinato.theory.chords import canonical_quality
from ostinato.theory.meter import COMMON_METERS
from ostinato.theory.pitch import PITCH_CLASSES, parse_pitch_class
from ostinato.theory.roman_grammar import FIGURE_RE

#: Bumped whenever a token is added, removed or moved in any vocabulary.
VOCAB_VERSION = 2

NONE = "<none>"
OTHER = "<other>"

#: Pitch-class names, C = 0, as the analysis spells chord roots (``theory.pitch``).
PITCH_CLASS_NAMES: tuple[str, ...] = PITCH_CLASSES


class VocabError(OstinatoError):
    """A chord, key, numeral or other condition value cannot be read."""


@dataclass(frozen=True)
class Vocabulary:
    """Tokens of one condition; a token's position is its id (``tokens[0] == "<none>"``)."""

    name: str
    tokens: tuple[str, ...]

    def __post_init__(self) -> None:
        if not self.tokens or self.tokens[0] != NONE:
            raise ValueError(f"vocabulary {self.name} must start with {NONE!r}")
        if len(set(self.tokens)) != len(self.tokens):
            raise ValueError(f"vocabulary {self.name} repeats a token")

    @cached_property
    def _ids(self) -> dict[str, int]:
        return {token: i for i, token in enumerate(self.tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return token in self._ids

    def encode(self, token: str | None) -> int:
        """Id of ``token``: 0 for None, ``""`` or a non-string (pandas' NaN for a null); ``"<other>"``'s id for
        unknown tokens when the vocabulary has one, else 0."""
        if not isinstance(token, str) or token == "":
            return 0
        found = self._ids.get(token)
        if found is not None:
            return found
        return self._ids.get(OTHER, 0)

    def decode(self, token_id: int) -> str:
        """Token of ``token_id``; raises VocabError when out of range."""
        if not 0 <= int(token_id) < len(self.tokens):
            raise VocabError(f"{self.name} id {token_id} is out of range 0..{len(self.tokens) - 1}")
        return self.tokens[int(token_id)]


CHORD_ROOTS = Vocabulary("chord_root", (NONE, *PITCH_CLASS_NAMES))
CHORD_QUALITIES = Vocabulary(
    "chord_quality",
    (NONE, "maj", "min", "dim", "aug", "7", "maj7", "min7", "hdim7", "dim7", "sus2", "sus4", OTHER),
)
#: Root-position figures in music21 spelling (``o`` diminished, ``ø`` half-diminished, ``+`` augmented).
#: Inversions fold onto these (``V65`` -> ``V7``, ``I6`` -> ``I``); see ``fold_figure``.
ROMAN_FIGURES = Vocabulary(
    "roman",
    (
        NONE, OTHER,
        # major-key triads, then minor-key triads not already named
        "I", "ii", "iii", "IV", "V", "vi", "viio",
        "i", "iio", "III", "iv", "v", "VI", "VII", "III+",
        # borrowed and altered chords
        "bII", "bIII", "bVI", "bVII", "II", "#ivo", "It", "Ger", "Fr",
        # sevenths
        "I7", "ii7", "iii7", "IV7", "V7", "vi7", "viio7", "viiø7",
        "i7", "iiø7", "III7", "iv7", "v7", "VI7", "VII7", "bVII7",
        # applied (secondary) chords
        "V/V", "V7/V", "viio/V", "viio7/V", "viiø7/V",
        "V/ii", "V7/ii", "viio7/ii",
        "V/iii", "V7/iii",
        "V/IV", "V7/IV", "viio7/IV",
        "V/vi", "V7/vi", "viio7/vi", "viiø7/vi",
        "V/iv", "V7/iv", "viio7/iv",
        "V/III", "V7/III",
        "V/VI", "V7/VI",
        "V/VII", "V7/VII",
    ),
)
FUNCTIONS = Vocabulary("function", (NONE, "tonic", "predominant", "dominant", "other"))
SECTIONS = Vocabulary("section", (NONE, "A", "B", "C", "D", "E", "F", "G", "H", OTHER))
KEYS = Vocabulary("key", (NONE, *PITCH_CLASS_NAMES))
MODES = Vocabulary("mode", (NONE, "major", "minor"))
TIME_SIGNATURES = Vocabulary("time_signature", (NONE, *COMMON_METERS, OTHER))
GENRES = Vocabulary(
    "genre",
    (NONE, "rock", "pop", "electronic", "hip-hop", "jazz", "blues", "classical", "folk", "metal", "r&b",
     "country", "reggae", "latin", "ambient", "disco", OTHER),
)

#: Vocabulary of every id column of the training set, keyed by column name.
VOCABULARIES: dict[str, Vocabulary] = {
    v.name: v
    for v in (CHORD_ROOTS, CHORD_QUALITIES, ROMAN_FIGURES, FUNCTIONS, SECTIONS, KEYS, MODES, TIME_SIGNATURES, GENRES)
}


def vocab_sizes() -> dict[str, int]:
    """Number of ids of each vocabulary, keyed by training-set column name (embedding table sizes)."""
    return {name: len(v) for name, v in VOCABULARIES.items()}


# --- encoders of analysis values ------------------------------------------------------------------------------

def encode_chord_root(root_pc: int | None) -> int:
    """Id of a chord root pitch class (0 = C .. 11 = B): ``root_pc + 1``; 0 for None or -1 (no chord)."""
    if root_pc is None or root_pc != root_pc or not 0 <= int(root_pc) <= 11:  # None, NaN or -1
        return 0
    return int(root_pc) + 1


def decode_chord_root(token_id: int) -> int | None:
    """Pitch class of a chord-root id, None for 0."""
    CHORD_ROOTS.decode(token_id)
    return None if int(token_id) == 0 else int(token_id) - 1


def encode_chord_quality(quality: str | None) -> int:
    """Id of a quality name (``"maj"``, ``"min7"``, aliases like ``"m7b5"``); 0 for None and ``"N"``."""
    if not isinstance(quality, str) or quality == "N":
        return 0
    return CHORD_QUALITIES.encode(canonical_quality(quality))


def decode_chord_quality(token_id: int) -> str:
    return CHORD_QUALITIES.decode(token_id)


#: Figured-bass suffixes of a seventh chord in any inversion; triad inversions and sus figures drop to "".
_SEVENTH_FIGURES = {"7", "65", "43", "42", "2"}
_TRIAD_FIGURES = {"", "6", "64", "63", "53", "54", "52"}


def fold_figure(figure: str) -> str:
    """Root-position form of a music21 figure: inversion figures removed, sevenths kept as ``7``.

    ``"V65"`` -> ``"V7"``, ``"I64"`` -> ``"I"``, ``"viiø43/V"`` -> ``"viiø7/V"``, ``"N6"`` -> ``"bII"``,
    ``"Ger65"`` -> ``"Ger"``, ``"Vb7"`` -> ``"V7"`` (the quality column says which seventh), ``"V54"`` -> ``"V"``
    (sus chords: likewise). Unparseable figures are returned unchanged (they encode as ``"<other>"``).
    """
    parts = figure.strip().split("/")
    folded = []
    for part in parts:
        m = FIGURE_RE.match(part)
        if m is None:
            return figure
        acc, num, qual, fig = m["acc"].replace("-", "b"), m["num"], m["qual"].replace("°", "o"), m["fig"]
        fig = fig.replace("b", "").replace("#", "")  # altered sevenths (b7, #7) are still sevenths
        if num in ("It", "Ger", "Fr"):
            folded.append(num)
            continue
        if num == "N":
            acc, num = "b", "II"
        if fig in _SEVENTH_FIGURES:
            suffix = "7"
        elif fig in _TRIAD_FIGURES:
            suffix = ""
        else:
            return figure
        if qual == "ø":  # half-diminished is a seventh chord by definition
            suffix = "7"
        folded.append(f"{acc}{num}{qual}{suffix}")
    return "/".join(folded)


def encode_roman(figure: str | None) -> int:
    """Id of a Roman figure after ``fold_figure``; ``"<other>"`` for figures outside the vocabulary."""
    if not isinstance(figure, str) or figure in ("", "N"):
        return 0
    return ROMAN_FIGURES.encode(fold_figure(figure))


def decode_roman(token_id: int) -> str:
    return ROMAN_FIGURES.decode(token_id)


def encode_function(function: str | None) -> int:
    """Id of a harmonic function ("tonic", "predominant", "dominant", "other")."""
    if not isinstance(function, str) or function == "":
        return 0
    return FUNCTIONS.encode(function if function in FUNCTIONS else "other")


def decode_function(token_id: int) -> str:
    return FUNCTIONS.decode(token_id)


def encode_section(label: str | None) -> int:
    """Id of a section label ``"A"`` .. ``"H"``; later letters and other labels are ``"<other>"``."""
    return SECTIONS.encode(label)


def decode_section(token_id: int) -> str:
    return SECTIONS.decode(token_id)


def pitch_class(name: str) -> int:
    """Pitch class of a note name (``"Eb"``, ``"e-"``, ``"F#"``, ``"Cb"`` = 11), any letter case.

    Raises VocabError when ``name`` is not a note name."""
    pc = parse_pitch_class(name)
    if pc is None:
        raise VocabError(f"{name!r} is not a note name (expected a letter A-G and optional # or b)")
    return pc


def encode_key(tonic: str | None) -> int:
    """Id of a tonic name (any enharmonic spelling): ``pitch_class + 1``; 0 for None or an unreadable name."""
    if not isinstance(tonic, str) or not tonic:
        return 0
    try:
        return pitch_class(tonic) + 1
    except VocabError:
        return 0


def decode_key(token_id: int) -> str:
    return KEYS.decode(token_id)


def encode_mode(mode: str | None) -> int:
    """Id of ``"major"`` / ``"minor"`` (also ``"maj"``, ``"min"``, ``"ionian"``, ``"aeolian"``)."""
    if not isinstance(mode, str) or not mode:
        return 0
    mode = {"maj": "major", "ionian": "major", "min": "minor", "aeolian": "minor"}.get(mode.lower(), mode.lower())
    return MODES.encode(mode) if mode in MODES else 0


def decode_mode(token_id: int) -> str:
    return MODES.decode(token_id)


def encode_time_signature(meter: str | None) -> int:
    """Id of a meter such as ``"4/4"``; meters outside the vocabulary (``"5/4"``) are ``"<other>"``."""
    if not isinstance(meter, str) or not meter:
        return 0
    return TIME_SIGNATURES.encode(meter.replace(" ", ""))


def decode_time_signature(token_id: int) -> str:
    return TIME_SIGNATURES.decode(token_id)


_GENRE_ALIASES = {
    "hip hop": "hip-hop", "hiphop": "hip-hop", "rap": "hip-hop", "rnb": "r&b", "r and b": "r&b",
    "rhythm and blues": "r&b", "soul": "r&b", "funk": "r&b", "edm": "electronic", "electronica": "electronic",
    "techno": "electronic", "house": "electronic", "dance": "electronic", "trance": "electronic",
    "drum and bass": "electronic", "indie": "rock", "punk": "rock", "alternative": "rock", "hard rock": "rock",
    "heavy metal": "metal", "orchestral": "classical", "baroque": "classical", "acoustic": "folk",
    "bossa nova": "latin", "salsa": "latin", "reggaeton": "latin", "ska": "reggae", "dub": "reggae",
    "new age": "ambient", "chillout": "ambient",
}


def encode_genre(genre: str | None) -> int:
    """Id of a genre name (case-insensitive, common aliases folded: ``"Hip Hop"`` -> ``"hip-hop"``)."""
    if not isinstance(genre, str) or not genre.strip():
        return 0
    name = genre.strip().lower()
    return GENRES.encode(_GENRE_ALIASES.get(name, name))


def decode_genre(token_id: int) -> str:
    return GENRES.decode(token_id)


# --- parsers of user input -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ParsedChord:
    """A chord read from text: root pitch class (None for no chord ``"N"``) and quality name."""

    root_pc: int | None
    quality: str | None
    figure: str | None = None  # the Roman figure it was read from, when it came from a numeral
    function: str | None = None

    @property
    def root_id(self) -> int:
        return encode_chord_root(self.root_pc)

    @property
    def quality_id(self) -> int:
        return encode_chord_quality(self.quality)

    @property
    def roman_id(self) -> int:
        return encode_roman(self.figure)

    @property
    def function_id(self) -> int:
        return encode_function(self.function)

    @property
    def label(self) -> str:
        """Harte label, e.g. ``"G:maj"``; ``"N"`` for no chord."""
        if self.root_pc is None:
            return "N"
        return f"{PITCH_CLASS_NAMES[self.root_pc]}:{self.quality}"


@dataclass(frozen=True)
class ParsedKey:
    """A key: tonic pitch class and mode (``"major"`` / ``"minor"``)."""

    tonic_pc: int
    mode: str

    @property
    def key_id(self) -> int:
        return self.tonic_pc + 1

    @property
    def mode_id(self) -> int:
        return MODES.encode(self.mode)

    @property
    def name(self) -> str:
        return f"{PITCH_CLASS_NAMES[self.tonic_pc]} {self.mode}"


_CHORD_RE = re.compile(r"^(?P<root>[A-G](#|b|♯|♭)*)(?::?)(?P<quality>.*)$")
#: Jazz-style suffixes, longest first so "maj7" wins over "maj" and "m7b5" over "m7".
_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("min7b5", "hdim7"), ("m7b5", "hdim7"), ("hdim7", "hdim7"), ("maj7", "maj7"), ("min7", "min7"),
    ("dim7", "dim7"), ("sus2", "sus2"), ("sus4", "sus4"), ("M7", "maj7"), ("m7", "min7"), ("o7", "dim7"),
    ("°7", "dim7"), ("ø7", "hdim7"), ("Δ7", "maj7"), ("maj", "maj"), ("min", "min"), ("dim", "dim"),
    ("aug", "aug"), ("sus", "sus4"), ("7", "7"), ("m", "min"), ("-", "min"), ("o", "dim"), ("°", "dim"),
    ("ø", "hdim7"), ("+", "aug"), ("Δ", "maj7"), ("", "maj"),
)


def parse_chord(text: str) -> ParsedChord:
    """Read a chord name: ``"G"``, ``"Em7"``, ``"F#:min"``, ``"Bb7"``, ``"Cmaj7"``, ``"Bm7b5"``, ``"Dsus4"``,
    Harte labels (``"A:hdim7"``), or ``"N"`` for no chord. Raises VocabError for anything else."""
    text = text.strip()
    if text in ("N", "N.C.", "NC"):
        return ParsedChord(None, None)
    m = _CHORD_RE.match(text)
    if m is None:
        raise VocabError(f"{text!r} is not a chord name (e.g. G, Em7, F#:min, Bb7, Cmaj7, Bm7b5, Dsus4, N)")
    root = pitch_class(m["root"])
    suffix = m["quality"]
    for written, quality in _SUFFIXES:
        if suffix == written:
            return ParsedChord(root, quality)
    raise VocabError(
        f"{text!r} has an unknown chord quality {suffix!r}; known: maj, m/min, dim, aug, 7, maj7, m7, m7b5, "
        "dim7, sus2, sus4"
    )


_KEY_RE = re.compile(r"^(?P<tonic>[A-Ga-g](#|b|-|♯|♭)*)\s*(:|\s)?\s*(?P<mode>[A-Za-z]*)$")
_MODE_WORDS = {"major": "major", "maj": "major", "ionian": "major", "M": "major",
               "minor": "minor", "min": "minor", "m": "minor", "aeolian": "minor"}


def parse_key(text: str) -> ParsedKey:
    """Read a key: ``"G major"``, ``"e minor"``, ``"F#m"``, ``"Bb:maj"``, or a bare tonic where (music21's
    convention) an upper-case letter is major and a lower-case one minor (``"G"``, ``"e"``)."""
    m = _KEY_RE.match(text.strip())
    if m is None:
        raise VocabError(f"{text!r} is not a key (e.g. 'G major', 'e minor', 'F#m', 'Bb')")
    word = m["mode"]
    if not word:
        mode = "minor" if m["tonic"][0].islower() else "major"
    else:
        mode = _MODE_WORDS.get(word) or _MODE_WORDS.get(word.lower())
        if mode is None:
            raise VocabError(f"{text!r} names an unknown mode {word!r}; use major or minor")
    return ParsedKey(pitch_class(m["tonic"]), mode)


_MINOR_FLAT_DEGREE = re.compile(r"^[b-](III|VII|VI|iii|vii|vi)(?![IVi])")


def parse_roman_progression(text: str, key: str | ParsedKey) -> list[ParsedChord]:
    """Realise Roman numerals (space- or dash-separated, e.g. ``"I V vi IV"`` or ``"ii7-V7-I"``) in ``key``.

    music21 realises each figure's pitches; the chord's quality is read from them. Returns one ParsedChord per
    numeral with root, quality, the figure and its harmonic function. Raises VocabError for an unknown figure.
    """
    from music21 import key as m21key
    from music21 import roman as m21roman

    from ostinato.theory.chords import CHORD_INTERVALS
    from ostinato.theory.roman import harmonic_function, key_name

    parsed = key if isinstance(key, ParsedKey) else parse_key(key)
    m21 = m21key.Key(key_name(parsed.tonic_pc, parsed.mode))
    figures = [f for f in re.split(r"[\s,\-–|]+", text.strip()) if f]
    if not figures:
        raise VocabError("the progression is empty; write numerals such as 'I V vi IV'")
    chords = []
    for figure in figures:
        if parsed.mode == "minor":
            # "bIII", "bVI", "bVII" in a minor key name its natural degrees (pop usage, and roman.py's VI/VII);
            # music21 would lower them once more (bVI in C minor -> Abb).
            figure = _MINOR_FLAT_DEGREE.sub(r"\1", figure)
        try:
            rn = m21roman.RomanNumeral(figure, m21)
            root = rn.root().pitchClass
            intervals = tuple(sorted({(p.pitchClass - root) % 12 for p in rn.pitches}))
        except Exception as exc:  # music21 raises several unrelated types for bad figures
            raise VocabError(f"{figure!r} is not a Roman numeral music21 can read: {exc}") from None
        quality = next((q for q, iv in CHORD_INTERVALS.items() if tuple(sorted(iv)) == intervals), OTHER)
        folded = fold_figure(figure)
        chords.append(ParsedChord(root, quality, folded, harmonic_function(folded, mode=parsed.mode)))
    return chords
