"""Synthetic ``tracks`` rows with known aggregates, for tests and benchmarks of queries and reports.

Rows go through ``schema.tracks_table`` so they are exactly what the pipeline writes, including the theory,
rhythm and genre columns. Each row's chords follow a progression from ``PROGRESSIONS`` in the row's key, so
the chord-transition counts, cadence types and genre shares of a table are known in advance.
"""

from __future__ import annotations

import datetime
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ostinato import ANALYSIS_VERSION, schema
from ostinato.theory.pitch import PITCH_CLASSES, tonic_name

#: (name, Roman figures, scale degrees of their roots in a major key, chord qualities)
PROGRESSIONS = (
    ("axis", "I-V-vi-IV", (0, 7, 9, 5), ("maj", "maj", "min", "maj")),
    ("doo-wop", "I-vi-IV-V", (0, 9, 5, 7), ("maj", "min", "maj", "maj")),
    ("ii-V-I", "ii-V-I", (2, 7, 0), ("min", "maj", "maj")),
)
GENRES = ("pop", "rock", "jazz", "folk")
STAGE_MEANS_S = {"identify": 0.01, "decode": 0.4, "separate": 2.0, "describe": 1.5, "theory": 0.1}


def synthetic_row(index: int, rng: np.random.Generator, *, error: bool = False) -> dict[str, Any]:
    """One ``tracks`` row: ``index`` picks key and progression deterministically, ``rng`` the measured values."""
    track_id = f"{index:032x}"
    base: dict[str, Any] = {
        "track_id": track_id, "path": f"/corpus/{index // 1000:03d}/track-{index:06d}.mp3", "other_paths": [],
        "warnings": [], "file_size_bytes": int(rng.integers(1, 10) * 2**20), "source_kind": "audio",
        "stage_seconds": {s: float(rng.exponential(m)) for s, m in STAGE_MEANS_S.items()},
        "worker_node": f"node-{index % 3}", "schema_version": schema.SCHEMA_VERSION,
        "analysis_version": ANALYSIS_VERSION, "config_hash": "synthetic",
        "analyzed_at": datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC),
    }
    if error:
        base.update(status=schema.STATUS_ERROR, error={"stage": "decode", "message": "cannot decode the file"})
        return base
    tonic = index % 12
    name, figures, degrees, qualities = PROGRESSIONS[index % len(PROGRESSIONS)]
    bpm = float(rng.uniform(70, 170))
    bar_s = 4 * 60.0 / bpm
    chords, roman = [], []
    for repeat in range(4):
        for i, (degree, quality, figure) in enumerate(zip(degrees, qualities, figures.split("-"), strict=True)):
            start = (repeat * len(degrees) + i) * bar_s
            root = (tonic + degree) % 12
            chords.append({"start_s": start, "end_s": start + bar_s, "label": f"{PITCH_CLASSES[root]}:{quality}",
                           "root_pc": root, "quality": quality, "bass_pc": root})
            roman.append({"start_s": start, "end_s": start + bar_s, "chord": chords[-1]["label"], "figure": figure,
                          "function": "T" if figure in ("I", "vi") else ("D" if figure == "V" else "S"),
                          "degree": degree, "local_key": f"{tonic_name(tonic, 'major')} major", "inversion": 0,
                          "kind": "diatonic"})
    duration = len(chords) * bar_s
    cadence = "perfect_authentic" if figures.endswith("V-I") or name == "ii-V-I" else "half"
    base.update(
        status=schema.STATUS_OK, duration_s=duration, tempo_bpm=bpm, tempo_confidence=0.9, meter="4/4",
        beats_per_bar=4, beats=[{"time_s": b * 60.0 / bpm, "bar": b // 4, "position": b % 4 + 1}
                                for b in range(4 * len(chords))],
        key=tonic_name(tonic, "major"), mode="major", key_strength=float(rng.uniform(0.5, 0.9)), chords=chords,
        roman=roman, local_keys=[{"start_s": 0.0, "end_s": duration, "key": tonic_name(tonic, "major"),
                                  "mode": "major", "strength": 0.8}], modulations=0,
        progressions=[{"name": name, "start_s": 0.0, "end_s": len(degrees) * bar_s, "figures": figures}],
        cadences=[{"type": cadence, "time_s": duration - bar_s, "figures": "-".join(figures.split("-")[-2:]),
                   "phrase_end": True}],
        harmonic_rhythm=1.0, harmonic_complexity=float(rng.beta(2, 5)),
        genre=GENRES[index % len(GENRES)], genre_confidence=0.7, genre_source="rules",
        sections=[{"start_s": 0.0, "end_s": duration / 2, "label": "A"},
                  {"start_s": duration / 2, "end_s": duration, "label": "B"}],
        loudness_lufs=float(rng.normal(-14, 3)), loudness_range_lu=float(rng.uniform(3, 12)),
        peak_dbfs=float(rng.uniform(-6, 0)),
        stems=[{"name": s, "rms_mean_db": float(rng.normal(-25, 4)), "rms_std_db": 3.0, "rms_max_db": -10.0,
                "energy_share": 0.25, "onset_density": 2.0, "present": True}
               for s in ("drums", "bass", "other", "vocals")],
    )
    return base


def synthetic_tracks(n: int, *, seed: int = 0, error_every: int = 0, start: int = 0) -> pa.Table:
    """``n`` rows (indices ``start`` ... ``start + n - 1``); every ``error_every``-th row is an error row."""
    rng = np.random.default_rng(seed + start)
    rows = [synthetic_row(i, rng, error=bool(error_every) and i % error_every == error_every - 1)
            for i in range(start, start + n)]
    return schema.tracks_table(rows)


def write_synthetic_features(
    out: str | Path, *, n: int, rows_per_shard: int = 2000, seed: int = 0, error_every: int = 0
) -> list[Path]:
    """Write ``n`` synthetic rows as ``out/tracks/part-*.parquet`` shards, the layout `ostinato analyze` writes."""
    folder = Path(out) / schema.TRACKS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    shards = []
    for number, start in enumerate(range(0, n, rows_per_shard)):
        table = synthetic_tracks(min(rows_per_shard, n - start), seed=seed, error_every=error_every, start=start)
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression="zstd")
        shards.append(folder / f"part-synthetic-{number:05d}.parquet")
        shards[-1].write_bytes(buffer.getvalue())
    return shards


def transition_counts(tables: Sequence[pa.Table]) -> dict[tuple[str, str], int]:
    """Expected (figure, next figure) counts within each track, computed in Python as the reference."""
    counts: dict[tuple[str, str], int] = {}
    for table in tables:
        for roman in table.column("roman").to_pylist():
            figures = [r["figure"] for r in roman or []]
            for a, b in zip(figures, figures[1:], strict=False):
                counts[(a, b)] = counts.get((a, b), 0) + 1
    return counts
