"""One spelling of every key tonic: the ``key`` column, local keys and Roman-numeral keys agree on all 24 keys."""

import numpy as np
import pytest

from ostinato.analysis.key_cnn import estimate_key_cnn
from ostinato.analysis.tonal import MAJOR_PROFILE, MINOR_PROFILE, estimate_key, estimate_key_essentia
from ostinato.demo import synth
from ostinato.theory.local_keys import LocalKey
from ostinato.theory.pitch import KEY_TONICS, parse_pitch_class, tonic_name
from ostinato.theory.roman import key_label, tonic_spelling

KEYS = [(pc, mode) for mode in ("major", "minor") for pc in range(12)]


@pytest.mark.parametrize(("tonic_pc", "mode"), KEYS)
def test_every_module_spells_the_key_alike(tonic_pc, mode):
    profile = np.roll(MAJOR_PROFILE if mode == "major" else MINOR_PROFILE, tonic_pc)
    estimate = estimate_key(chroma=np.repeat(profile[:, None], 4, axis=1))
    assert (estimate.tonic_pc, estimate.mode) == (tonic_pc, mode)
    name = tonic_name(tonic_pc, mode)
    assert estimate.tonic == name == tonic_spelling(tonic_pc, mode) == LocalKey(0.0, 1.0, tonic_pc, mode, 1.0).key
    assert key_label(tonic_pc, mode) == f"{name} {mode}"
    assert parse_pitch_class(name) == tonic_pc


def test_conventional_spellings():
    assert KEY_TONICS["major"][1] == "Db" and KEY_TONICS["minor"][1] == "C#"
    assert KEY_TONICS["major"][8] == "Ab" and KEY_TONICS["minor"][8] == "G#"
    assert KEY_TONICS["major"][6] == KEY_TONICS["minor"][6] == "F#"
    assert parse_pitch_class("D-") == parse_pitch_class("C#") == 1 and parse_pitch_class("H") is None


def _cadence(tonic_pc: int, mode: str, sr: int) -> np.ndarray:
    """I-IV-V-I (major) or i-iv-V-i (minor), two seconds a chord, bass an octave below."""
    third = "maj" if mode == "major" else "min"
    steps = [(0, third), (5, third), (7, "maj"), (0, third)] * 2
    chords = []
    for i, (degree, quality) in enumerate(steps):
        root = (tonic_pc + degree) % 12
        chords.append((2.0 * i, 2.0 * (i + 1), [*synth.chord_pitches(root, quality), 36 + root]))
    return synth.render_chords(chords, sr=sr)


@pytest.mark.parametrize("estimator", [estimate_key_cnn, estimate_key_essentia])
@pytest.mark.parametrize(("tonic_pc", "mode"), [(0, "major"), (1, "major"), (8, "minor"), (9, "minor"), (3, "minor")])
def test_key_of_a_cadence_is_spelled_for_its_mode(estimator, tonic_pc, mode):
    estimate = estimator(_cadence(tonic_pc, mode, 22050), sr=22050)
    assert estimate.tonic_pc == tonic_pc
    if estimator is estimate_key_essentia:
        # The CNN reads two of these bare minor cadences in the parallel major (G# minor as Ab major: each
        # synthetic minor triad's 5th partial sounds the major third); the spelling follows the mode it reads.
        assert estimate.mode == mode
    assert estimate.tonic == tonic_name(tonic_pc, estimate.mode)
    assert 0.0 < estimate.strength <= 1.0
