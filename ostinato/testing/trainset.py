"""A tiny, valid training set with known conditions, written without audio or Ray (for model and loader tests).

Each synthetic track is in a major key with one chord per two beats, cycling four diatonic triads. Its
analysis-like row (beats, chords, Roman numerals, sections, globals) goes through the same
``conditions.frame_conditions`` as real tracks do, and the mel is drawn from the conditions, so a model can
tell them apart: a floor of -8 with small noise; on each frame, +6 on the mel bins of the chord's pitch
classes (bin ``pc * n_mels // 12``, two bins wide) - a chord-root- and quality-dependent stack; +2 on every
bin of a downbeat frame.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np

from ostinato.datasets import vocab
from ostinato.datasets.conditions import frame_conditions, global_conditions
from ostinato.datasets.shards import (
    MelParams,
    SegmentWriter,
    TrainsetCard,
    segments_table,
    write_card,
)
from ostinato.datasets.stats import scan_trainset

#: Major-key triads: figure, semitones above the tonic, quality, harmonic function.
_TRIADS = (
    ("I", 0, "maj", "tonic"), ("ii", 2, "min", "predominant"), ("iii", 4, "min", "tonic"),
    ("IV", 5, "maj", "predominant"), ("V", 7, "maj", "dominant"), ("vi", 9, "min", "tonic"),
)
_INTERVALS = {"maj": (0, 4, 7), "min": (0, 3, 7)}

#: The mel parameters the tiny set claims: 8 kHz, hop 256 -> 31.25 frames/s, so 64 frames are 2.05 s.
TINY_SAMPLE_RATE = 8000
TINY_HOP = 256


def _track_row(track_id: str, *, seconds: float, rng: np.random.Generator) -> dict:
    tonic = int(rng.integers(12))
    bpm = float(rng.choice([90.0, 100.0, 120.0, 140.0]))
    beat_s = 60.0 / bpm
    progression = [_TRIADS[i] for i in rng.choice(len(_TRIADS), size=4, replace=False)]
    beat_times = np.arange(0.0, seconds + beat_s, beat_s)
    beats = [{"time_s": float(t), "bar": i // 4, "position": i % 4 + 1} for i, t in enumerate(beat_times)]
    chords, roman = [], []
    for k, start in enumerate(beat_times[::2]):
        figure, semis, quality, function = progression[k % len(progression)]
        root = (tonic + semis) % 12
        span = {"start_s": float(start), "end_s": float(start + 2 * beat_s)}
        chords.append({**span, "root_pc": root, "quality": quality,
                       "label": f"{vocab.PITCH_CLASS_NAMES[root]}:{quality}"})
        roman.append({**span, "figure": figure, "function": function})
    half = seconds / 2
    return {
        "track_id": track_id, "duration_s": seconds, "beats": beats, "beats_per_bar": 4, "chords": chords,
        "roman": roman, "sections": [{"start_s": 0.0, "end_s": half, "label": "A"},
                                     {"start_s": half, "end_s": seconds, "label": "B"}],
        "key": vocab.PITCH_CLASS_NAMES[tonic], "mode": "major", "meter": "4/4", "tempo_bpm": bpm,
        "genre": str(rng.choice(["pop", "rock", "jazz"])), "loudness_lufs": float(rng.uniform(-20, -8)),
        "harmonic_complexity": float(rng.uniform(0, 1)), "rhythmic_complexity": None,
    }


def condition_mel(frames: dict[str, np.ndarray], *, n_mels: int, rng: np.random.Generator) -> np.ndarray:
    """The synthetic log-mel ``(n_mels, n_frames)`` float32 of one segment's frame conditions (see module doc)."""
    n_frames = len(frames["chord_root"])
    mel = -8.0 + 0.1 * rng.standard_normal((n_mels, n_frames))
    for t in range(n_frames):
        root = vocab.decode_chord_root(int(frames["chord_root"][t]))
        quality = vocab.decode_chord_quality(int(frames["chord_quality"][t]))
        if root is not None and quality in _INTERVALS:
            for interval in _INTERVALS[quality]:
                low = ((root + interval) % 12) * n_mels // 12
                mel[low : low + 2, t] += 6.0
        if frames["downbeat"][t]:
            mel[:, t] += 2.0
    return mel.astype(np.float32)


def write_tiny_trainset(
    folder: Path | str,
    *,
    n_tracks: int = 4,
    segments_per_track: int = 4,
    n_mels: int = 32,
    n_frames: int = 64,
    seed: int = 0,
) -> Path:
    """Write a valid TRAINSET (card + train/val shards) of ``n_tracks * segments_per_track`` segments.

    The last quarter of the tracks (at least one, when there are two or more) is the val split. Returns the
    folder. Deterministic for a seed.
    """
    folder = Path(folder)
    rng = np.random.default_rng(seed)
    mel_params = MelParams(sample_rate=TINY_SAMPLE_RATE, n_fft=1024, hop_length=TINY_HOP, n_mels=n_mels,
                           fmin=0.0, fmax=TINY_SAMPLE_RATE / 2)
    segment_s = n_frames / mel_params.frame_rate
    n_val = max(1, n_tracks // 4) if n_tracks >= 2 else 0
    writer = SegmentWriter(str(folder), run_id="tiny", rows_per_shard=max(1, segments_per_track * 2))
    for i in range(n_tracks):
        track_id = f"tiny{seed:03d}{i:04d}"
        split = "val" if i >= n_tracks - n_val else "train"
        row = _track_row(track_id, seconds=segments_per_track * segment_s, rng=rng)
        globals_ = global_conditions(row)
        columns: dict[str, list] = {}
        for s in range(segments_per_track):
            start = s * n_frames / mel_params.frame_rate
            frames = frame_conditions(row, start_s=start, n_frames=n_frames, frame_rate=mel_params.frame_rate)
            values = {
                "segment_id": f"{track_id}:{s * n_frames}", "track_id": track_id, "split": split,
                "start_s": start, "duration_s": segment_s,
                "mel": condition_mel(frames, n_mels=n_mels, rng=rng), **frames, **globals_,
            }
            for name, value in values.items():
                columns.setdefault(name, []).append(value)
        table = segments_table({k: np.asarray(v) if k not in ("segment_id", "track_id", "split") else v
                                for k, v in columns.items()}, n_mels=n_mels, n_frames=n_frames)
        writer.add(table, split=split)
    writer.close()
    card = TrainsetCard(
        mel=mel_params, n_frames=n_frames, segment_hop_s=segment_s, val_share=n_val / max(n_tracks, 1), seed=seed,
        vocab_version=vocab.VOCAB_VERSION, vocab_sizes=vocab.vocab_sizes(), source="ostinato.testing.trainset",
        config_hash="tiny",
    )
    stats = scan_trainset(str(folder))
    write_card(str(folder), dataclasses.replace(card, splits=stats.splits, coverage=stats.coverage,
                                                mel_mean=stats.mel_mean, mel_std=stats.mel_std))
    return folder
