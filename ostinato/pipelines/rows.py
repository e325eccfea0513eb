"""Fill ``tracks`` rows (see ``ostinato.schema``) from stage results."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ostinato import ANALYSIS_VERSION, schema
from ostinato.pipelines.records import Prepared, SeparationOutcome, node_name
from ostinato.theory.tags import tag_rows

if TYPE_CHECKING:
    from ostinato.analysis.describe import TrackDescription
    from ostinato.theory.harmony import HarmonyAnalysis
    from ostinato.theory.rhythm import RhythmProfile
    from ostinato.theory.roman import RomanChord
    from ostinato.theory.symbolic import ScoreDescription


@dataclass(frozen=True)
class RowContext:
    """Bookkeeping values stamped on every row."""

    config_hash: str
    worker_node: str = field(default_factory=node_name)


def _finite(value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else None


def _base(prepared: Prepared, seconds: dict[str, float], context: RowContext) -> dict[str, Any]:
    info = prepared.info
    row: dict[str, Any] = {
        "track_id": prepared.track_id,
        "path": prepared.uri,
        "other_paths": [],
        "warnings": list(prepared.warnings),
        "file_size_bytes": prepared.size,
        "duration_s": prepared.duration_s,
        "source_kind": getattr(prepared, "source_kind", "audio"),
        "stage_seconds": {stage: float(seconds.get(stage, 0.0)) for stage in schema.STAGES},
        "worker_node": context.worker_node,
        "schema_version": schema.SCHEMA_VERSION,
        "analysis_version": ANALYSIS_VERSION,
        "config_hash": context.config_hash,
        "analyzed_at": datetime.datetime.now(datetime.UTC),
    }
    if info is not None:
        row.update(
            container=info.container,
            codec=info.codec,
            bitrate_kbps=info.bitrate_kbps,
            sample_rate=info.sample_rate,
            channels=info.channels,
            tags={k: info.tags.get(k) for k in ("artist", "title", "album", "genre", "year")},
        )
    return row


def error_row(
    prepared: Prepared, error: tuple[str, str], *, seconds: dict[str, float], context: RowContext
) -> dict[str, Any]:
    """A row with ``status = "error"`` and the failing stage and message."""
    row = _base(prepared, seconds, context)
    row.update(status=schema.STATUS_ERROR, error={"stage": error[0], "message": error[1]})
    return row


def _beats(description: TrackDescription) -> list[dict[str, Any]]:
    track = description.beats
    if track is None or len(track.beat_times) == 0:
        return []
    downbeats = np.asarray(track.downbeat_times)
    out = []
    for t in np.asarray(track.beat_times, dtype=float):
        bar = int(np.searchsorted(downbeats, t + 1e-3, side="right")) - 1
        if bar < 0:  # pickup beats before the first downbeat count back from it
            position = track.beats_per_bar - int(round((downbeats[0] - t) * track.tempo_bpm / 60.0)) + 1
        else:
            position = int(round((t - downbeats[bar]) * track.tempo_bpm / 60.0)) + 1
        out.append({"time_s": float(t), "bar": bar, "position": max(1, min(position, track.beats_per_bar))})
    return out


def ok_row(
    prepared: Prepared,
    description: TrackDescription,
    roman: Sequence[RomanChord],
    *,
    stems: SeparationOutcome | None,
    seconds: dict[str, float],
    context: RowContext,
    extra_warnings: Sequence[str] = (),
    harmony: HarmonyAnalysis | None = None,
) -> dict[str, Any]:
    """A row with ``status = "ok"`` holding every feature the description has (and the harmony theory's)."""
    row = _base(prepared, seconds, context)
    row["status"] = schema.STATUS_OK
    row["warnings"] += list(extra_warnings)
    row["duration_s"] = description.duration_s
    beats, key, loud, timbre = description.beats, description.key, description.loudness, description.timbre
    row.update(
        loudness_lufs=_finite(loud.integrated_lufs),
        loudness_range_lu=_finite(loud.loudness_range_lu),
        peak_dbfs=_finite(loud.peak_dbfs),
        tuning_cents=_finite(description.tuning_cents),
        onset_rate=_finite(description.onset_rate),
        beats=_beats(description),
        chords=chord_rows(description.chords),
        music_tags=tag_rows(description.tags),
        sections=[{"start_s": s.start_s, "end_s": s.end_s, "label": s.label} for s in description.sections],
        roman=roman_rows(roman),
    )
    if harmony is not None:
        row.update(harmony_columns(harmony))
    if beats is not None:
        row.update(
            tempo_bpm=_finite(beats.tempo_bpm),
            tempo_confidence=_finite(beats.tempo_confidence),
            meter=beats.meter,
            beats_per_bar=beats.beats_per_bar,
            meter_confidence=_finite(beats.meter_confidence),
        )
    if key is not None:
        row.update(key=key.tonic, mode=key.mode, key_strength=_finite(key.strength))
    if timbre is not None:
        row.update(
            spectral_centroid_mean_hz=_finite(timbre.centroid_mean_hz),
            spectral_centroid_std_hz=_finite(timbre.centroid_std_hz),
            spectral_rolloff_mean_hz=_finite(timbre.rolloff_mean_hz),
            spectral_flatness_mean=_finite(timbre.flatness_mean),
            mfcc_mean=[float(v) for v in timbre.mfcc_mean],
            mfcc_std=[float(v) for v in timbre.mfcc_std],
        )
    if stems is not None and stems.analysis is not None:
        row["separation_model"] = stems.model
        row["stems"] = [
            {"name": s.name, "rms_mean_db": _finite(s.rms_mean_db), "rms_std_db": _finite(s.rms_std_db),
             "rms_max_db": _finite(s.rms_max_db), "energy_share": _finite(s.energy_share),
             "onset_density": _finite(s.onset_density), "present": bool(s.present)}
            for s in stems.analysis.stems
        ]
    return row


def chord_rows(chords) -> list[dict[str, Any]]:
    """``chords`` column entries from ChordSegment-like objects (``bass_pc`` -1 becomes null)."""
    return [
        {"start_s": c.start_s, "end_s": c.end_s, "label": c.label, "root_pc": c.root_pc, "quality": c.quality,
         "bass_pc": c.bass_pc if getattr(c, "bass_pc", -1) >= 0 else None}
        for c in chords
    ]


def roman_rows(roman: Sequence[RomanChord]) -> list[dict[str, Any]]:
    """``roman`` column entries."""
    return [
        {"start_s": r.start_s, "end_s": r.end_s, "chord": r.chord, "figure": r.figure, "function": r.function,
         "degree": r.degree, "local_key": r.local_key or None, "inversion": r.inversion, "kind": r.kind}
        for r in roman
    ]


def harmony_columns(harmony: HarmonyAnalysis) -> dict[str, Any]:
    """The theory columns other than ``roman``: local keys, modulations, progressions, cadences, voice
    leading, harmonic rhythm and complexity."""
    return {
        "local_keys": [
            {"start_s": k.start_s, "end_s": k.end_s, "key": k.key, "mode": k.mode, "strength": _finite(k.strength)}
            for k in harmony.local_keys
        ],
        "modulations": harmony.modulations,
        "progressions": [
            {"name": p.name, "start_s": p.start_s, "end_s": p.end_s, "figures": p.figures}
            for p in harmony.progressions
        ],
        "cadences": [
            {"type": c.type, "time_s": c.time_s, "figures": c.figures, "phrase_end": c.phrase_end}
            for c in harmony.cadences
        ],
        "voice_leading_cost": _finite(harmony.voice_leading_cost),
        "voice_leading_label": harmony.voice_leading_label,
        "harmonic_rhythm": _finite(harmony.harmonic_rhythm),
        "harmonic_complexity": _finite(harmony.harmonic_complexity),
    }


def score_row(
    prepared: Prepared,
    description: ScoreDescription,
    harmony: HarmonyAnalysis,
    *,
    seconds: dict[str, float],
    context: RowContext,
) -> dict[str, Any]:
    """A ``status = "ok"`` row for a score: the same tonal and theory columns as audio, rhythm from the score."""
    from ostinato.theory.score_formats import SCORE_FORMATS

    row = _base(prepared, seconds, context)
    key = description.key
    row.update(
        status=schema.STATUS_OK,
        source_kind="symbolic",
        container=SCORE_FORMATS.get(prepared.uri[prepared.uri.rfind("."):].lower()),
        duration_s=description.duration_s,
        tags={"artist": description.composer, "title": description.title, "album": None, "genre": None,
              "year": None},
        tempo_bpm=_finite(description.tempo_bpm),
        tempo_confidence=1.0,
        meter=description.meter,
        beats_per_bar=description.beats_per_bar,
        meter_confidence=1.0,
        beats=[{"time_s": b.time_s, "bar": b.bar, "position": b.position} for b in description.beats],
        onset_rate=_finite(description.onset_rate),
        note_density=_finite(description.onset_rate),
        key=key.tonic,
        mode=key.mode,
        key_strength=_finite(key.strength),
        chords=chord_rows(description.chords),
        roman=roman_rows(harmony.roman),
        **harmony_columns(harmony),
    )
    row["warnings"] += description.warnings
    return row


def rhythm_columns(rhythm: RhythmProfile) -> dict[str, Any]:
    """The rhythm-theory columns: metric hierarchy, syncopation, densities, polyrhythm, swing, complexity."""
    return {
        "metric_hierarchy": [float(v) for v in rhythm.metric_hierarchy],
        "syncopation": _finite(rhythm.syncopation),
        "note_density": _finite(rhythm.note_density),
        "polyrhythm": rhythm.polyrhythm,
        "polyrhythm_confidence": _finite(rhythm.polyrhythm_confidence),
        "swing_ratio": _finite(rhythm.swing_ratio),
        "rhythmic_complexity": _finite(rhythm.complexity),
    }
