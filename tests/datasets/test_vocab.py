"""Vocabularies: ids round-trip, inversions fold, and user input (chords, keys, numerals) parses to known truth."""

from __future__ import annotations

import pytest

from ostinato.datasets import vocab
from ostinato.datasets.vocab import VocabError


def test_every_vocabulary_starts_with_none_and_sizes_match():
    sizes = vocab.vocab_sizes()
    assert set(sizes) == {"chord_root", "chord_quality", "roman", "function", "section", "key", "mode",
                          "time_signature", "genre"}
    for name, v in vocab.VOCABULARIES.items():
        assert v.tokens[0] == "<none>" and sizes[name] == len(v)
        for i, token in enumerate(v.tokens):  # token -> id -> token round trip
            assert v.encode(token) == i and v.decode(i) == token
    assert sizes["chord_root"] == 13 and sizes["key"] == 13 and sizes["mode"] == 3
    with pytest.raises(VocabError, match="out of range"):
        vocab.CHORD_ROOTS.decode(13)


@pytest.mark.parametrize("pc", range(12))
def test_chord_root_and_key_ids_are_pitch_class_plus_one(pc):
    assert vocab.encode_chord_root(pc) == pc + 1
    assert vocab.decode_chord_root(pc + 1) == pc
    assert vocab.encode_key(vocab.PITCH_CLASS_NAMES[pc]) == pc + 1
    assert vocab.decode_key(pc + 1) == vocab.PITCH_CLASS_NAMES[pc]


def test_unknowns_encode_to_none_or_other():
    assert vocab.encode_chord_root(None) == vocab.encode_chord_root(-1) == 0
    assert vocab.encode_chord_quality("N") == vocab.encode_chord_quality(None) == 0
    assert vocab.decode_chord_quality(vocab.encode_chord_quality("add9")) == "<other>"
    assert vocab.decode_chord_quality(vocab.encode_chord_quality("m7b5")) == "hdim7"
    assert vocab.decode_section(vocab.encode_section("K")) == "<other>"
    assert vocab.decode_section(vocab.encode_section("C")) == "C"
    assert vocab.decode_time_signature(vocab.encode_time_signature("5/4")) == "<other>"
    assert vocab.decode_time_signature(vocab.encode_time_signature("3/4")) == "3/4"
    assert vocab.decode_genre(vocab.encode_genre("Hip Hop")) == "hip-hop"
    assert vocab.decode_genre(vocab.encode_genre("polka")) == "<other>"
    assert vocab.encode_genre(None) == vocab.encode_mode(None) == vocab.encode_key(None) == 0
    nan = float("nan")  # pandas' null in object columns
    assert vocab.encode_genre(nan) == vocab.encode_key(nan) == vocab.encode_roman(nan) == 0
    assert vocab.encode_chord_root(nan) == vocab.encode_chord_quality(nan) == vocab.encode_section(nan) == 0
    assert vocab.decode_mode(vocab.encode_mode("min")) == "minor"
    assert vocab.encode_key("D#") == vocab.encode_key("Eb") == vocab.encode_key("E-") == 4
    assert vocab.encode_key("Cb") == 12
    assert vocab.decode_function(vocab.encode_function("dominant")) == "dominant"
    assert vocab.decode_function(vocab.encode_function("whatever")) == "other"


@pytest.mark.parametrize(("figure", "folded"), [
    ("V65", "V7"), ("V43", "V7"), ("V42", "V7"), ("V2", "V7"), ("I6", "I"), ("I64", "I"),
    ("viiø43/V", "viiø7/V"), ("viio65", "viio7"), ("V65/vi", "V7/vi"), ("N6", "bII"), ("Ger65", "Ger"),
    ("It6", "It"), ("Vb7", "V7"), ("V54", "V"), ("-VII", "bVII"), ("ii°", "iio"), ("bVII7", "bVII7"),
])
def test_inversions_fold_to_root_position_figures_in_the_vocabulary(figure, folded):
    assert vocab.fold_figure(figure) == folded
    assert vocab.decode_roman(vocab.encode_roman(figure)) == folded


def test_roman_unknowns():
    assert vocab.encode_roman(None) == vocab.encode_roman("") == 0
    assert vocab.decode_roman(vocab.encode_roman("Cad64")) == "<other>"
    assert vocab.decode_roman(vocab.encode_roman("IV/IV")) == "<other>"


@pytest.mark.parametrize(("text", "root", "quality"), [
    ("G", 7, "maj"), ("Em7", 4, "min7"), ("F#:min", 6, "min"), ("Bb7", 10, "7"), ("Cmaj7", 0, "maj7"),
    ("Bm7b5", 11, "hdim7"), ("A:hdim7", 9, "hdim7"), ("Dsus4", 2, "sus4"), ("Dsus2", 2, "sus2"),
    ("Fdim7", 5, "dim7"), ("Bdim", 11, "dim"), ("C+", 0, "aug"), ("Ebm", 3, "min"), ("G:maj", 7, "maj"),
])
def test_parse_chord(text, root, quality):
    chord = vocab.parse_chord(text)
    assert (chord.root_pc, chord.quality) == (root, quality)
    assert chord.root_id == root + 1 and vocab.decode_chord_quality(chord.quality_id) == quality
    assert vocab.parse_chord(chord.label) == chord  # the Harte label reads back


def test_parse_chord_no_chord_and_errors():
    assert vocab.parse_chord("N").root_id == 0
    with pytest.raises(VocabError, match="not a chord name"):
        vocab.parse_chord("H7")
    with pytest.raises(VocabError, match="unknown chord quality"):
        vocab.parse_chord("Cadd9")


@pytest.mark.parametrize(("text", "tonic", "mode"), [
    ("G major", 7, "major"), ("e minor", 4, "minor"), ("F#m", 6, "minor"), ("Bb:maj", 10, "major"),
    ("G", 7, "major"), ("e", 4, "minor"), ("Eb minor", 3, "minor"), ("c# Minor", 1, "minor"),
])
def test_parse_key(text, tonic, mode):
    key = vocab.parse_key(text)
    assert (key.tonic_pc, key.mode) == (tonic, mode)
    assert vocab.parse_key(key.name) == key
    assert vocab.decode_key(key.key_id) == vocab.PITCH_CLASS_NAMES[tonic]


def test_parse_key_errors():
    with pytest.raises(VocabError, match="not a key"):
        vocab.parse_key("major G")
    with pytest.raises(VocabError, match="unknown mode"):
        vocab.parse_key("G dorianish")


def test_roman_progression_in_g_major_and_c_minor():
    chords = vocab.parse_roman_progression("I V vi IV", "G major")
    assert [c.label for c in chords] == ["G:maj", "D:maj", "E:min", "C:maj"]
    assert [c.function for c in chords] == ["tonic", "dominant", "tonic", "predominant"]
    assert [vocab.decode_roman(c.roman_id) for c in chords] == ["I", "V", "vi", "IV"]
    chords = vocab.parse_roman_progression("iiø7-V65/V-V7-i", "c minor")
    assert [c.label for c in chords] == ["D:hdim7", "D:7", "G:7", "C:min"]
    assert [c.figure for c in chords] == ["iiø7", "V7/V", "V7", "i"]
    # In minor, bIII/bVI/bVII name the natural-minor degrees, as VI/VII do; bII is still the Neapolitan.
    chords = vocab.parse_roman_progression("i bVI VI bVII bIII bII", "c minor")
    assert [c.label for c in chords] == ["C:min", "Ab:maj", "Ab:maj", "Bb:maj", "Eb:maj", "C#:maj"]
    with pytest.raises(VocabError, match="Roman numeral"):
        vocab.parse_roman_progression("I XIV", "G major")
