"""Condition tracks aligned to mel frames, and the global conditions of a track, from its analysis row.

A mel frame ``t`` of a segment starting at ``start_s`` is centred at ``start_s + t / frame_rate`` seconds
(librosa's ``center=True`` framing), and takes the chord, Roman numeral, function and section whose span
``[start_s, end_s)`` holds that time. Beat phase is the position between the surrounding beats, bar phase the
position within the bar (``(beat position - 1 + beat phase) / beats per bar``); both are 0 outside the beat
grid. A downbeat marks the one frame nearest to it.

Rows are read defensively: any of ``beats``, ``chords``, ``roman``, ``sections`` and the global columns may be
null (the theory stage may not have run), which gives id 0 / NaN / phase 0 rather than an error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ostinato.datasets import vocab
from ostinato.datasets.shards import PHASE_MAX


def frame_times(*, start_s: float, n_frames: int, frame_rate: float) -> np.ndarray:
    """Centre times (seconds) of ``n_frames`` mel frames from ``start_s``, shape ``(n_frames,)``."""
    return start_s + np.arange(n_frames) / frame_rate


def _span_ids(spans: Sequence[Mapping[str, Any]] | None, times: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    """For each time, the id of the span ``[start_s, end_s)`` holding it (0 where none does), int16."""
    out = np.zeros(len(times), dtype=np.int16)
    if not spans:
        return out
    starts = np.array([s["start_s"] for s in spans], dtype=np.float64)
    ends = np.array([s["end_s"] for s in spans], dtype=np.float64)
    order = np.argsort(starts, kind="stable")
    starts, ends, values = starts[order], ends[order], np.asarray(ids, dtype=np.int16)[order]
    k = np.searchsorted(starts, times, side="right") - 1
    inside = (k >= 0) & (times < ends[np.clip(k, 0, None)])
    out[inside] = values[k[inside]]
    return out


def _beat_phases(
    beats: Sequence[Mapping[str, Any]] | None, times: np.ndarray, beats_per_bar: int | None
) -> tuple[np.ndarray, np.ndarray]:
    """Beat phase and bar phase in [0, 1) per time; 0 before the first beat and a beat after the last."""
    beat_phase = np.zeros(len(times), dtype=np.float32)
    bar_phase = np.zeros(len(times), dtype=np.float32)
    if not beats or len(beats) < 2:
        return beat_phase, bar_phase
    t = np.array([b["time_s"] for b in beats], dtype=np.float64)
    position = np.array([b.get("position") or 1 for b in beats], dtype=np.float64)
    per_bar = beats_per_bar or int(position.max())
    # One more beat after the last, a median interval later, so the final beat has a span too.
    t = np.append(t, t[-1] + float(np.median(np.diff(t))))
    k = np.searchsorted(t, times, side="right") - 1
    inside = (k >= 0) & (k < len(t) - 1)
    ki = k[inside]
    phase = (times[inside] - t[ki]) / (t[ki + 1] - t[ki])
    beat_phase[inside] = phase
    bar_phase[inside] = ((position[ki] - 1) + phase) / max(per_bar, 1)
    return np.clip(beat_phase, 0.0, PHASE_MAX), np.clip(bar_phase, 0.0, PHASE_MAX)


def _downbeats(
    beats: Sequence[Mapping[str, Any]] | None, *, start_s: float, n_frames: int, frame_rate: float
) -> np.ndarray:
    flags = np.zeros(n_frames, dtype=np.int8)
    for b in beats or ():
        if b.get("position") == 1:
            frame = int(round((b["time_s"] - start_s) * frame_rate))
            if 0 <= frame < n_frames:
                flags[frame] = 1
    return flags


def _items(row: Mapping[str, Any], name: str) -> list[Mapping[str, Any]]:
    """A list column as a list (pyarrow gives lists or None, pandas numpy arrays or None)."""
    value = row.get(name)
    return [] if value is None else list(value)


def frame_conditions(
    row: Mapping[str, Any], *, start_s: float, n_frames: int, frame_rate: float
) -> dict[str, np.ndarray]:
    """Frame-aligned conditions of one segment of the track analysed in ``row`` (a ``tracks`` row as a dict).

    Returns ``chord_root``, ``chord_quality``, ``roman``, ``function``, ``section`` (int16), ``downbeat``
    (int8), ``beat_phase`` and ``bar_phase`` (float32 in [0, 1)), each of shape ``(n_frames,)``.
    """
    times = frame_times(start_s=start_s, n_frames=n_frames, frame_rate=frame_rate)
    chords, roman, sections, beats = (_items(row, name) for name in ("chords", "roman", "sections", "beats"))
    per_bar = _value(row.get("beats_per_bar"))
    beat_phase, bar_phase = _beat_phases(beats, times, None if math.isnan(per_bar) else int(per_bar))
    return {
        "chord_root": _span_ids(chords, times, [vocab.encode_chord_root(c.get("root_pc")) for c in chords]),
        "chord_quality": _span_ids(chords, times, [vocab.encode_chord_quality(c.get("quality")) for c in chords]),
        "roman": _span_ids(roman, times, [vocab.encode_roman(r.get("figure")) for r in roman]),
        "function": _span_ids(roman, times, [vocab.encode_function(r.get("function")) for r in roman]),
        "section": _span_ids(sections, times, [vocab.encode_section(s.get("label")) for s in sections]),
        "downbeat": _downbeats(beats, start_s=start_s, n_frames=n_frames, frame_rate=frame_rate),
        "beat_phase": beat_phase,
        "bar_phase": bar_phase,
    }


def _value(x: Any) -> float:
    return float(x) if x is not None and math.isfinite(float(x)) else math.nan


def global_conditions(row: Mapping[str, Any]) -> dict[str, int | float]:
    """Track-level conditions: ``key``, ``mode``, ``time_signature``, ``genre`` ids and ``bpm``,
    ``loudness_lufs``, ``harmonic_complexity``, ``rhythmic_complexity`` values (NaN when unknown)."""
    ids = {
        "key": vocab.encode_key(row.get("key")),
        "mode": vocab.encode_mode(row.get("mode")),
        "time_signature": vocab.encode_time_signature(row.get("meter")),
        "genre": vocab.encode_genre(row.get("genre")),
    }
    values = {
        "bpm": _value(row.get("tempo_bpm")),
        "loudness_lufs": _value(row.get("loudness_lufs")),
        "harmonic_complexity": _value(row.get("harmonic_complexity")),
        "rhythmic_complexity": _value(row.get("rhythmic_complexity")),
    }
    return {**ids, **values}
