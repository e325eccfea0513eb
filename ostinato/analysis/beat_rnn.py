"""Beats from madmom's pretrained bidirectional LSTM and its dynamic Bayesian network (Böck, Krebs & Widmer).

madmom's ``RNNBeatProcessor`` averages eight networks over log-filtered spectrograms of a 44.1 kHz signal
and runs them in a Python loop per frame: 13x realtime on one core. Here the same eight networks run on the
analysis signal (22 050 Hz) at about 265x realtime on one core (features ~300x, madmom's DBN ~220x more), by
two changes, in bounded memory:

* **The 44.1 kHz spectrogram geometry at 22 050 Hz.** Half-length frames at half the sample rate have the
  same bin frequencies, so madmom's filterbank applies to the bins below 11 025 Hz; the bands above read
  zero, as they would for the low-passed signal (measured: the same F-measure as the full-band input).
* **The LSTM recurrence compiled** (numba), both directions of a layer in one call, the input projections of
  every frame in one matrix product, and tanh as a rational function the compiler vectorises.
* **Memory:** one network's states at a time (about 1.2 kB per frame).

All eight, not one: on the 50 real dev clips (bench/realdev.py) beat F-measure is 0.884-0.890 with the mean
of the eight and 0.827-0.879 with any single one (0.877 with the first).

The beat times then come from madmom's DBN (``DBNBeatTrackingProcessor``, Cython), unchanged.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numba
import numpy as np
import soxr

from ostinato.analysis.librosa_import import numba_cache_lock
from ostinato.analysis.madmom_import import import_madmom
from ostinato.analysis.madmom_spectrogram import FEATURE_SR, filterbank, log_spectrogram
from ostinato.analysis.rhythm import autocorrelation, envelope_tempo, peak_near, track_beats
from ostinato.errors import AnalysisError

#: The option that selects a beat tracker without pretrained weights, named in errors.
DSP_OPTION = "features.beat_tracker=dsp"
#: Frames per second of the activation (madmom's).
FPS = 100.0
#: madmom's frame sizes at 44.1 kHz and bands per octave of its beat features.
FRAME_SIZES_44K = (1024, 2048, 4096)
BANDS_PER_OCTAVE = 6
#: Tempo range of the DBN, BPM (madmom's defaults).
DBN_MIN_BPM, DBN_MAX_BPM = 55.0, 215.0
#: Long activations are decoded in windows of this many seconds, each with this much context on both sides.
DBN_BLOCK_S, DBN_OVERLAP_S = 60.0, 10.0
#: Tempo states of the DBN, log-spaced over its range (madmom's downbeat tracker uses 60). madmom's beat
#: default (None) keeps every beat interval in frames, 82 at 55-215 BPM (5617 states): 1.8x the decoding time
#: for 0.0026 more beat F-measure on the real dev clips (0.8844 against 0.8818, the DBN alone).
DBN_NUM_TEMPI = 60
#: How much more periodic at 1.5 beats than at one beat the onset envelope must be to try a compound meter.
COMPOUND_MARGIN = 0.1
#: The network's beats are doubled when the onset envelope's own tempo is twice theirs with at least this
#: periodicity (normalised autocorrelation): machine-timed grooves, e.g. a rock groove at 140 that the network
#: reads at 70 (0.89) or a waltz at 150 (0.93); among the real dev clips where the envelope's tempo is twice
#: the network's, the network is right and the periodicity at most 0.75.
DOUBLE_PERIODICITY = 0.85
#: ... and the envelope's tracker must find a compound meter within this relative tempo of 2/3 of the network's.
TEMPO_TOLERANCE = 0.04


@dataclass(frozen=True)
class _BidirectionalLstm:
    """One bidirectional LSTM layer with peepholes; gates in the order input, forget, cell, output, and the
    forward direction before the backward one on every axis named ``2``."""

    weights: np.ndarray  # (n_in, 2 * 4 * H): both directions' input weights, so one product projects the layer
    bias: np.ndarray  # (2 * 4 * H,)
    recurrent: np.ndarray  # (2, H, 4 * H)
    peepholes: np.ndarray  # (2, 3, H): input, forget, output gates
    init: np.ndarray  # (2, H)
    cell_init: np.ndarray  # (2, H)


@dataclass(frozen=True)
class _BeatNetwork:
    layers: tuple[_BidirectionalLstm, ...]
    out_weights: np.ndarray  # (2H, 1)
    out_bias: np.ndarray  # (1,)


@dataclass(frozen=True)
class _BeatEnsemble:
    networks: tuple[_BeatNetwork, ...]
    filterbanks: tuple[np.ndarray, ...]  # per frame size: (n_bins at FEATURE_SR, n_bands)


def _bidirectional_from_madmom(layer) -> _BidirectionalLstm:
    f32 = np.float32
    directions = (layer.fwd_layer, layer.bwd_layer)

    def gates(d):
        return (d.input_gate, d.forget_gate, d.cell, d.output_gate)

    return _BidirectionalLstm(
        weights=np.hstack([np.hstack([g.weights for g in gates(d)]) for d in directions]).astype(f32),
        bias=np.concatenate([np.concatenate([g.bias for g in gates(d)]) for d in directions]).astype(f32),
        recurrent=np.ascontiguousarray(
            np.stack([np.hstack([g.recurrent_weights for g in gates(d)]) for d in directions]), dtype=f32
        ),
        peepholes=np.ascontiguousarray(np.stack([
            [d.input_gate.peephole_weights, d.forget_gate.peephole_weights, d.output_gate.peephole_weights]
            for d in directions
        ]), dtype=f32),
        init=np.ascontiguousarray(np.stack([d.init for d in directions]), dtype=f32),
        cell_init=np.ascontiguousarray(np.stack([d.cell_init for d in directions]), dtype=f32),
    )


@functools.cache
def load_beat_network() -> _BeatEnsemble:
    """madmom's offline beat networks (BEATS_BLSTM, all of them) and their filterbanks, read once per process."""
    import_madmom(DSP_OPTION)
    from madmom.ml.nn import NeuralNetwork
    from madmom.models import BEATS_BLSTM

    networks = []
    for path in BEATS_BLSTM:
        *recurrent, output = NeuralNetwork.load(path).layers
        networks.append(_BeatNetwork(
            layers=tuple(_bidirectional_from_madmom(layer) for layer in recurrent),
            out_weights=np.asarray(output.weights, dtype=np.float32),
            out_bias=np.asarray(output.bias, dtype=np.float32),
        ))
    banks = [filterbank(size, num_bands=BANDS_PER_OCTAVE, fmin=30, fmax=17000, norm_filters=True)
             for size in FRAME_SIZES_44K]
    return _BeatEnsemble(networks=tuple(networks), filterbanks=tuple(banks))


def _log_filtered_with_diff(y: np.ndarray, frame_44k: int, bank: np.ndarray) -> np.ndarray:
    """madmom's log-filtered spectrogram and its positive difference side by side: (n_frames, 2 * n_bands)."""
    hop = FEATURE_SR / FPS
    spec = log_spectrogram(y, frame_44k, hop, bank)
    # madmom's diff_ratio 0.5: the lag from where the Hann window rises above half (a quarter frame) to its
    # centre, in frames (>= 1): 1, 1 and 2 for the three frame sizes.
    lag = max(1, int(round(frame_44k / 4 / (hop * 2))))
    diff = np.zeros_like(spec)
    diff[lag:] = np.maximum(spec[lag:] - spec[:-lag], 0.0)
    return np.hstack([spec, diff])


def beat_features(y: np.ndarray, *, sr: int) -> np.ndarray:
    """The beat network's input for mono ``y`` at ``sr`` Hz: (n_frames, 266) at FPS frames per second."""
    y = np.asarray(y, dtype=np.float32)
    if sr != FEATURE_SR:
        y = soxr.resample(y, sr, FEATURE_SR).astype(np.float32)
    ensemble = load_beat_network()
    sizes = zip(FRAME_SIZES_44K, ensemble.filterbanks, strict=True)
    parts = [_log_filtered_with_diff(y, size, bank) for size, bank in sizes]
    n = min(len(p) for p in parts)
    return np.hstack([p[:n] for p in parts])


def _tanh_python(x):
    """tanh of a float32 to within 1e-6: Eigen's rational approximation on [-7.9, 7.9] (float32 tanh is +-1
    beyond). Multiplications and one division, so the compiler vectorises the loops that call it; calls
    to libm's tanh and exp do not vectorise and took a third of the recurrence's time."""
    x = min(max(x, np.float32(-7.90531110763549805)), np.float32(7.90531110763549805))
    x2 = x * x
    p = np.float32(-2.76076847742355e-16)
    p = p * x2 + np.float32(2.00018790482477e-13)
    p = p * x2 + np.float32(-8.60467152213735e-11)
    p = p * x2 + np.float32(5.12229709037114e-08)
    p = p * x2 + np.float32(1.48572235717979e-05)
    p = p * x2 + np.float32(6.37261928875436e-04)
    p = p * x2 + np.float32(4.89352455891786e-03)
    q = np.float32(1.19825839466702e-06)
    q = q * x2 + np.float32(1.18534705686654e-04)
    q = q * x2 + np.float32(2.26843463243900e-03)
    q = q * x2 + np.float32(4.89352518554385e-03)
    return p * x / q


def _recur_python(
    pre: np.ndarray, recurrent: np.ndarray, peep: np.ndarray, h0: np.ndarray, c0: np.ndarray
) -> np.ndarray:
    """Both directions of a bidirectional LSTM layer over its input projections ``pre`` (T, 2 * 4H): the
    forward one from frame 0, the backward one from frame T-1. Returns the hidden states (T, 2H), forward
    then backward, which is the next layer's input. ``recurrent`` (2, H, 4H), ``peep`` (2, 3, H), ``h0`` and
    ``c0`` (2, H)."""
    n = pre.shape[0]
    units = h0.shape[1]
    four = 4 * units
    out = np.empty((n, 2 * units), dtype=np.float32)
    gate = np.empty(four, dtype=np.float32)
    half = np.float32(0.5)
    for d in range(2):
        # Local copies: contiguous, and known not to alias ``gate``, so the loops below vectorise.
        rec = recurrent[d].copy()
        peep_in, peep_forget, peep_out = peep[d, 0].copy(), peep[d, 1].copy(), peep[d, 2].copy()
        h = h0[d].copy()
        c = c0[d].copy()
        for step in range(n):
            t = step if d == 0 else n - 1 - step
            for i in range(four):
                gate[i] = pre[t, d * four + i]
            for k in range(units):
                hk = h[k]
                for i in range(four):
                    gate[i] += hk * rec[k, i]
            # sigmoid(x) = (1 + tanh(x / 2)) / 2
            for j in range(units):
                in_gate = half + half * _tanh(half * (gate[j] + c[j] * peep_in[j]))
                forget = half + half * _tanh(half * (gate[units + j] + c[j] * peep_forget[j]))
                c[j] = _tanh(gate[2 * units + j]) * in_gate + c[j] * forget
            for j in range(units):
                out_gate = half + half * _tanh(half * (gate[3 * units + j] + c[j] * peep_out[j]))
                h[j] = _tanh(c[j]) * out_gate
                out[t, d * units + j] = h[j]
    return out


# Compiled when this module is imported, under the machine's numba cache lock: Ray workers importing it at
# once would otherwise write the cache files concurrently (see analysis.librosa_import).
with numba_cache_lock():
    _tanh = numba.njit(inline="always", fastmath=True, error_model="numpy", cache=True)(_tanh_python)
    _recur = numba.njit(
        "float32[:, ::1](float32[:, ::1], float32[:, :, ::1], float32[:, :, ::1], float32[:, ::1], float32[:, ::1])",
        fastmath=True,
        error_model="numpy",  # no zero-division checks: they stop the loops from vectorising
        cache=True,
    )(_recur_python)


def _network_activation(x: np.ndarray, net: _BeatNetwork) -> np.ndarray:
    for layer in net.layers:
        pre = x @ layer.weights
        pre += layer.bias
        x = _recur(pre, layer.recurrent, layer.peepholes, layer.init, layer.cell_init)
    logits = x @ net.out_weights + net.out_bias
    return (1.0 / (1.0 + np.exp(-logits[:, 0]))).astype(np.float32)


def beat_activation(features: np.ndarray) -> np.ndarray:
    """Beat probability per frame, (n_frames,) in [0, 1], from ``beat_features`` output (n_frames, 266):
    the mean of madmom's eight networks, as madmom averages them.

    One network at a time, so memory stays at one network's states (about 1.2 kB per frame).
    """
    networks = load_beat_network().networks
    x = np.ascontiguousarray(features, dtype=np.float32)
    total = np.zeros(len(x), np.float64)
    for net in networks:
        total += _network_activation(x, net)
    return (total / len(networks)).astype(np.float32)


@functools.cache
def _dbn(min_bpm: float, max_bpm: float):
    import_madmom(DSP_OPTION)
    from madmom.features.beats import DBNBeatTrackingProcessor

    return DBNBeatTrackingProcessor(fps=FPS, min_bpm=min_bpm, max_bpm=max_bpm, num_tempi=DBN_NUM_TEMPI)


def decode_beats(activation: np.ndarray, *, min_bpm: float = DBN_MIN_BPM, max_bpm: float = DBN_MAX_BPM) -> np.ndarray:
    """Beat times, seconds, from a beat activation at FPS (madmom's DBN, tempo within ``[min_bpm, max_bpm]``).

    The DBN's Viterbi keeps a back-pointer per frame and state (5600 states at 55-215 BPM: 2.7 GB for 20
    minutes), so activations longer than DBN_BLOCK_S are decoded in windows of that length with DBN_OVERLAP_S
    more on each side, each window keeping the beats of its own middle part. Empty when the activation spans
    less than two periods of ``min_bpm``.
    """
    activation = np.asarray(activation, dtype=np.float32)
    if activation.ndim != 1:
        raise AnalysisError(f"beat activation must be 1-D, got shape {activation.shape}")
    if len(activation) < 2 * FPS * 60.0 / min_bpm:
        return np.zeros(0)
    dbn = _dbn(round(min_bpm, 1), round(max_bpm, 1))
    block, overlap = int(DBN_BLOCK_S * FPS), int(DBN_OVERLAP_S * FPS)
    if len(activation) <= block + 2 * overlap:
        return np.asarray(dbn(activation), dtype=np.float64)
    beats = []
    for start in range(0, len(activation), block):
        lo = max(start - overlap, 0)
        found = np.asarray(dbn(activation[lo : start + block + overlap]), dtype=np.float64) + lo / FPS
        beats.append(found[(found >= start / FPS) & (found < (start + block) / FPS)])
    return np.concatenate(beats)


def activation_at(activation: np.ndarray, times: np.ndarray) -> float:
    """Mean of the activation's maximum within one frame of each time (0 for no times)."""
    if len(times) == 0:
        return 0.0
    frames = np.round(np.asarray(times) * FPS).astype(int)
    near = np.clip(frames[:, None] + np.arange(-1, 2)[None, :], 0, len(activation) - 1)
    return float(activation[near].max(axis=1).mean())


def rnn_beat_times(
    y: np.ndarray,
    *,
    sr: int,
    onset_envelope: np.ndarray | None = None,
    hop_length: int = 512,
    rms: np.ndarray | None = None,
    chroma: np.ndarray | None = None,
    drums: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Beat times (seconds) and the beat activation (n_frames at FPS) of mono ``y`` at ``sr`` Hz.

    With the separated ``drums`` (mono, at ``sr``) the activation is the mean of the networks' reading of
    the mix and of the drums alone: the drums carry the pulse without the harmony's and the voice's onsets,
    the mix carries it where the drums pause or are missing.

    With the track's ``onset_envelope`` (frames ``hop_length`` apart; ``rms`` and ``chroma`` on the same
    frames help the meter) a half-time reading of a strictly periodic groove is doubled (DOUBLE_PERIODICITY),
    and a compound meter is checked for: the network, trained mostly on simple meters,
    follows pairs of eighths in 6/8 and 12/8 (98 BPM for a 6/8 at 66). When the envelope is more periodic at
    1.5 beats than at one beat by COMPOUND_MARGIN of normalised autocorrelation (+0.11 to +0.17 on synthetic
    6/8 and 12/8 grooves, -0.13 to -0.18 on 2/4, 3/4 and 4/4), and the onset envelope's own tracker
    (``rhythm.track_beats``) reads a compound meter at 2/3 of the network's tempo, the beats are decoded again
    at that tempo. On the 50 real dev clips this never fires: none reads as compound at that ratio.
    """
    activation = beat_activation(beat_features(y, sr=sr))
    if drums is not None:
        drum_activation = beat_activation(beat_features(drums, sr=sr))
        n = min(len(activation), len(drum_activation))
        activation = 0.5 * (activation[:n] + drum_activation[:n])
    beats = decode_beats(activation)
    if onset_envelope is None or len(beats) < 4:
        return beats, activation
    env = np.asarray(onset_envelope, dtype=np.float64)
    fps = sr / hop_length
    lag = float(np.median(np.diff(beats))) * fps
    fast_bpm, periodicity = envelope_tempo(env, fps=fps, start_bpm=120.0)
    if periodicity >= DOUBLE_PERIODICITY and abs(fast_bpm * lag / fps / 120.0 - 1.0) <= TEMPO_TOLERANCE:
        fast = decode_beats(activation, min_bpm=fast_bpm * 0.9, max_bpm=fast_bpm * 1.1)
        if len(fast) >= 4:
            return fast, activation
    if len(env) < 3 * lag + 4:
        return beats, activation
    acf = autocorrelation(env, int(np.ceil(1.5 * lag)) + 3)
    if peak_near(acf, 1.5 * lag, 1.5)[1] < peak_near(acf, lag, 1)[1] + COMPOUND_MARGIN:
        return beats, activation
    envelope_track = track_beats(onset_envelope=env, sr=sr, hop_length=hop_length, rms=rms, chroma=chroma)
    tempo = envelope_track.tempo_bpm
    if not envelope_track.meter.endswith("/8") or abs(tempo * 1.5 * lag / fps / 60.0 - 1.0) > TEMPO_TOLERANCE:
        return beats, activation
    compound = decode_beats(activation, min_bpm=max(tempo * 0.9, 30.0), max_bpm=tempo * 1.1)
    return (compound if len(compound) >= 4 else beats), activation
