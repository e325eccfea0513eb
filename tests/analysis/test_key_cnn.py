"""madmom's key CNN run by our own code: the same probabilities as madmom's processor, much faster."""

import numpy as np
import soxr

from ostinato.analysis.key_cnn import key_probabilities
from ostinato.analysis.madmom_import import import_madmom
from ostinato.demo import synth

SR = 22050


def test_matches_madmoms_processor():
    import_madmom("test")
    from madmom.features.key import CNNKeyRecognitionProcessor

    chords = [(2.0 * i, 2.0 * (i + 1), synth.chord_pitches(r, q)) for i, (r, q) in
              enumerate([(2, "maj"), (7, "maj"), (9, "7"), (2, "maj")] * 2)]
    y = synth.render_chords(chords, sr=SR)
    reference = CNNKeyRecognitionProcessor()(soxr.resample(y, SR, 44100).astype(np.float32))[0]
    ours = key_probabilities(y, sr=SR)
    # madmom orders keys A major .. G# major, A minor .. G# minor; ours C = column 0.
    assert np.abs(np.roll(ours, -9, axis=1).reshape(-1) - reference).max() < 0.01
    assert np.unravel_index(np.argmax(ours), ours.shape) == (0, 2)  # D major
    assert ours.sum() == np.float64(ours.sum()) and abs(ours.sum() - 1.0) < 1e-6


def test_too_short_is_uniform():
    assert np.allclose(key_probabilities(np.zeros(SR // 2, np.float32), sr=SR), 1 / 24)
