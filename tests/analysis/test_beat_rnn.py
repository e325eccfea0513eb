"""madmom's beat network run by our own code, and its DBN decoding of long tracks in windows."""

import numpy as np
import soxr

from ostinato.analysis import beat_rnn
from ostinato.analysis.madmom_import import import_madmom
from ostinato.demo import synth

SR = 22050


def test_activation_matches_madmoms_networks():
    import_madmom("test")
    from madmom.audio.signal import Signal
    from madmom.features.beats import RNNBeatProcessor

    groove = synth.drum_groove(104, 6, sr=SR)
    y44 = soxr.resample(synth.mix(groove, synth.click_track(104, len(groove) / SR, sr=SR)[: len(groove)]), SR, 44100)
    reference = RNNBeatProcessor()(  # all eight networks, averaged
        Signal(y44.astype(np.float32), sample_rate=44100)
    )
    # The same band-limited signal at our rate (soxr's anti-alias filter trims the top of the first band).
    ours = beat_rnn.beat_activation(beat_rnn.beat_features(soxr.resample(y44, 44100, SR), sr=SR))
    n = min(len(reference), len(ours))
    assert abs(len(reference) - len(ours)) <= 1
    # Close, not equal: the half-length window's magnitude is doubled, exact for tones, sqrt(2) off for noise
    # (drums). Measured: largest difference 0.036 (0.017 for one network), mean 0.0003.
    difference = np.abs(reference[:n] - ours[:n])
    assert difference.max() < 0.05 and difference.mean() < 0.001
    ref_beats, our_beats = beat_rnn.decode_beats(reference), beat_rnn.decode_beats(ours)
    assert len(ref_beats) == len(our_beats) and np.abs(ref_beats - our_beats).max() <= 0.01


def test_long_activation_is_decoded_in_windows_without_seams():
    # 150 s of beats at 120 BPM (0.5 s apart, starting at 0.25 s): three windows, two seams.
    n = int(150 * beat_rnn.FPS)
    activation = np.full(n, 0.01, np.float32)
    truth = np.arange(0.25, 150.0, 0.5)
    activation[np.round(truth * beat_rnn.FPS).astype(int)] = 0.9
    beats = beat_rnn.decode_beats(activation)
    assert len(beats) == len(truth)
    assert np.abs(beats - truth).max() < 0.015
