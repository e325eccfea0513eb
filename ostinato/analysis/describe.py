"""One track's complete MIR description: the stages of ``analysis`` composed in data-flow order.

frames (one blocked STFT) -> tuning -> beats/meter -> bass -> chords -> key -> sections -> loudness -> timbre.
When separation ran, the harmonic stems' chroma replaces the mix chroma for key and chords, where drums
and vocals would otherwise blur the harmony.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ostinato.analysis.beat_rnn import rnn_beat_times
from ostinato.analysis.deep_chroma import NO_CHORD_PEAK, deep_chroma
from ostinato.analysis.deep_chroma import on_frames as deep_chroma_on_frames
from ostinato.analysis.key_cnn import estimate_key_cnn
from ostinato.analysis.loudness import Loudness, measure_loudness
from ostinato.analysis.musicnn_tagger import mean_tag_probabilities
from ostinato.analysis.rhythm import BeatTrack, onset_rate, track_beats
from ostinato.analysis.spectral import FrameFeatures, compute_frame_features
from ostinato.analysis.structure import Section, segment_sections
from ostinato.analysis.timbre import TimbreSummary, summarize_timbre
from ostinato.analysis.tonal import (
    ChordSegment,
    KeyEstimate,
    add_sevenths,
    estimate_bass_chroma,
    estimate_key,
    estimate_key_essentia,
    estimate_tuning,
    recognize_chords,
)

#: Peak level below which a track is treated as silent (dBFS).
SILENCE_DBFS = -60.0


@dataclass(frozen=True)
class TrackDescription:
    """Everything the MIR stages say about one track. Musical fields are None for silent audio."""

    duration_s: float
    tuning_cents: float | None
    beats: BeatTrack | None
    onset_rate: float | None
    key: KeyEstimate | None
    chords: list[ChordSegment]
    sections: list[Section]
    loudness: Loudness
    timbre: TimbreSummary | None
    silent: bool
    onset_envelope: np.ndarray | None = None  # (n_frames,) mix onset strength, for the theory stage's rhythm
    tags: dict[str, dict[str, float]] | None = None  # tagger -> tag -> mean probability over the tagged patches


def is_silent(y: np.ndarray) -> bool:
    """True when the peak of ``y`` (any shape) is below SILENCE_DBFS."""
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    return peak <= 10 ** (SILENCE_DBFS / 20)


def track_rhythm(
    mono: np.ndarray, *, sr: int, frames: FrameFeatures, beat_tracker: str = "rnn", drums: np.ndarray | None = None
) -> BeatTrack:
    """Tempo, beats and meter of mono ``mono`` (n,) at ``sr`` Hz whose frame features are ``frames``.

    ``beat_tracker`` ``"rnn"`` tracks beats with ``analysis.beat_rnn`` (which also listens to the separated
    ``drums`` (n,) at ``sr`` when given), ``"dsp"`` with the onset envelope alone; the meter and downbeats come
    from the beats' accents either way (``rhythm.track_beats``).
    """
    tracked = None
    if beat_tracker == "rnn":
        tracked, _ = rnn_beat_times(
            mono, sr=sr, onset_envelope=frames.onset_envelope, hop_length=frames.hop_length, rms=frames.rms,
            chroma=frames.chroma, drums=drums,
        )
    return track_beats(
        onset_envelope=frames.onset_envelope, sr=sr, hop_length=frames.hop_length, rms=frames.rms,
        chroma=frames.chroma, beat_times=tracked,
    )


def describe_track(
    y: np.ndarray,
    *,
    sr: int,
    hop_length: int = 512,
    n_fft: int = 2048,
    n_mfcc: int = 20,
    block_s: float = 30.0,
    min_section_s: float = 6.0,
    harmonic_chroma: np.ndarray | None = None,
    harmonic_signal: np.ndarray | None = None,
    drum_signal: np.ndarray | None = None,
    loudness: Loudness | None = None,
    chord_vocabulary: str = "sevenths",
    chord_self_transition: float = 0.3,
    beat_tracker: str = "rnn",
    key_estimator: str = "essentia",
    chord_chroma: str = "deep",
    music_tagger: str = "none",
    tag_patches: int = 2,
) -> TrackDescription:
    """Describe a waveform ``y`` of shape ``(channels, n)`` or ``(n,)`` at ``sr`` Hz.

    Separated stems, when given, replace the mix where they help: ``harmonic_signal`` (n,), the mono sum of
    the harmonic stems (bass + other) at ``sr``, feeds the chord and bass chroma (no drums or vocals to
    mistake for chord tones); ``harmonic_chroma`` (12, n_frames), its spectral chroma on the mix's frames,
    is the chord chroma with ``chord_chroma="dsp"`` (and the sevenths' check); ``drum_signal`` (n,), the
    drum stem at ``sr`` (pass it only when the drums are present), is heard by the beat network beside the
    mix. The essentia and cnn keys are read from the mix either way. Chords are named from ``chord_vocabulary`` (see
    ``analysis.tonal.VOCABULARIES``) with the HMM's ``chord_self_transition`` (0.3 per half second: chorales
    change chord on every beat, so 0.8 cost 0.11 of chord accuracy there and nothing on the demo corpus, see
    bench/theory.py). ``beat_tracker`` is ``"rnn"`` (``analysis.beat_rnn``) or ``"dsp"`` (the onset
    envelope alone, no pretrained weights); ``key_estimator`` is ``"essentia"``
    (``tonal.estimate_key_essentia`` on the mix), ``"cnn"`` (``analysis.key_cnn``) or ``"profile"``
    (``tonal.estimate_key`` on the chroma used for chords); ``chord_chroma`` is ``"deep"``
    (``analysis.deep_chroma``: chord tones, not melody or overtones) or ``"dsp"`` (the frames' spectral
    chroma, matched with overtone-aware templates), each of the harmonic stems when they are given. ``loudness``, when
    already metered (e.g. on the stereo stream while decoding to mono), is taken as is instead of being
    measured on ``y``. ``music_tagger`` ``"musicnn"`` adds musicnn's tag probabilities (``analysis.
    musicnn_tagger``, ``tag_patches`` 3 s patches per tagger), which the genre is read from.
    """
    y = np.atleast_2d(y)
    duration = y.shape[-1] / sr
    loudness = loudness or measure_loudness(y, sr=sr)
    if is_silent(y):
        return TrackDescription(duration, None, None, None, None, [], [], loudness, None, silent=True)
    mono = y.mean(axis=0) if y.shape[0] > 1 else y[0]  # a copy only for multichannel callers
    tuning = estimate_tuning(y=mono, sr=sr)
    frames: FrameFeatures = compute_frame_features(
        mono, sr=sr, hop_length=hop_length, n_fft=n_fft, n_mfcc=n_mfcc, block_seconds=block_s, tuning=tuning
    )
    beats = track_rhythm(mono, sr=sr, frames=frames, beat_tracker=beat_tracker, drums=drum_signal)
    harmony = mono if harmonic_signal is None else _fit_length(harmonic_signal, len(mono))
    spectral = frames.chroma
    if harmonic_chroma is not None:
        spectral = harmonic_chroma[:, : min(spectral.shape[1], harmonic_chroma.shape[1])]
    chroma, partials, min_peak = spectral, True, 0.0
    if chord_chroma == "deep":
        chroma, partials = deep_chroma_on_frames(deep_chroma(harmony, sr=sr), frames.times), False
        min_peak = NO_CHORD_PEAK
    bass = estimate_bass_chroma(harmony, sr=sr, hop_length=hop_length, n_frames=chroma.shape[1], tuning=tuning)
    chords = recognize_chords(
        chroma=chroma, frame_times=frames.times[: chroma.shape[1]], beat_times=beats.beat_times,
        vocabulary=chord_vocabulary, self_transition=chord_self_transition, bass_chroma=bass, partials=partials,
        min_peak=min_peak,
    )
    if not partials and chord_vocabulary == "sevenths":
        chords = add_sevenths(chords, chroma=spectral, frame_times=frames.times[: spectral.shape[1]])
    if key_estimator == "cnn":
        key = estimate_key_cnn(mono, sr=sr)
    elif key_estimator == "essentia":
        key = estimate_key_essentia(mono, sr=sr)
    else:
        key = estimate_key(chroma=chroma, chords=chords)
    sections = segment_sections(features=frames, beat_times=beats.beat_times, min_section_s=min_section_s)
    tags = mean_tag_probabilities(mono, sr, max_patches=tag_patches) if music_tagger == "musicnn" else None
    return TrackDescription(
        duration_s=duration,
        tuning_cents=100.0 * tuning,
        beats=beats,
        onset_rate=onset_rate(onset_envelope=frames.onset_envelope, sr=sr, hop_length=hop_length),
        key=key,
        chords=chords,
        sections=sections,
        loudness=loudness,
        timbre=summarize_timbre(features=frames),
        silent=False,
        onset_envelope=frames.onset_envelope,
        tags=tags,
    )


def _fit_length(y: np.ndarray, n: int) -> np.ndarray:
    """``y`` cut or zero-padded to ``n`` samples (separated stems can differ from the mix by a few)."""
    y = np.asarray(y, dtype=np.float32)
    return y[:n] if len(y) >= n else np.pad(y, (0, n - len(y)))
