"""A synthetic genre-tagged analysis output: ``tracks`` rows around per-genre prototypes, as real Parquet.

For testing ``ostinato fit-genre``: the rows go through :func:`ostinato.schema.tracks_table` and are written
where ``ostinato analyze`` writes its shards, so the reader under test is the real one.
"""

from __future__ import annotations

import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from ostinato import ANALYSIS_VERSION, schema

#: Per genre: (tempo BPM, swing ratio, drums/bass/other/vocals energy shares, loudness LUFS, LRA LU,
#: progression name or None, chord quality, tag spelling as a tagger might write it).
PROTOTYPES: dict[str, tuple[float, float, tuple[float, float, float, float], float, float, str | None, str, str]] = {
    "jazz": (160.0, 1.9, (0.15, 0.2, 0.6, 0.05), -20.0, 9.0, "ii_v_i", "min7", "Jazz"),
    "electronic": (128.0, 1.0, (0.45, 0.35, 0.18, 0.02), -8.0, 4.0, None, "min", "Techno"),
    "classical": (84.0, 1.0, (0.01, 0.15, 0.84, 0.0), -23.0, 15.0, "minor_cadence", "maj", "classical"),
    "hip-hop": (90.0, 1.5, (0.3, 0.3, 0.1, 0.3), -9.0, 5.0, None, "min", "Hip Hop"),
}


def genre_rows(*, per_genre: int = 8, seed: int = 0, untagged: int = 2) -> list[dict[str, Any]]:
    """``per_genre`` ok rows per genre of :data:`PROTOTYPES` (features jittered by a seeded RNG, tags spelt
    as in the prototypes) plus ``untagged`` rows without a genre tag and one error row."""
    rng = np.random.default_rng(seed)
    now = datetime.datetime.now(datetime.UTC)
    rows = []
    for genre, (bpm, swing, shares, lufs, lra, progression, quality, tag) in PROTOTYPES.items():
        for i in range(per_genre + (untagged if genre == "jazz" else 0)):
            jitter = rng.dirichlet(np.asarray(shares) * 60 + 0.5)
            rows.append({
                "track_id": f"{genre}-{i:03d}",
                "path": f"/corpus/{genre}/{i:03d}.mp3",
                "status": schema.STATUS_OK,
                "tags": {"artist": None, "title": None, "album": None, "year": None,
                         "genre": tag if i < per_genre else None},
                "duration_s": 180.0,
                "tempo_bpm": float(bpm * rng.normal(1.0, 0.04)),
                "tempo_confidence": float(np.clip(rng.normal(0.9 if genre == "electronic" else 0.6, 0.1), 0, 1)),
                "meter": "3/4" if genre == "classical" and i % 2 else "4/4",
                "meter_confidence": float(rng.uniform(0.4, 1.0)),
                "swing_ratio": float(swing + rng.normal(0.0, 0.08)),
                "syncopation": float(abs(rng.normal(2.5 if genre == "hip-hop" else 1.0, 0.5))),
                "note_density": float(abs(rng.normal(2.0 if genre == "classical" else 5.0, 0.8))),
                "loudness_lufs": float(lufs + rng.normal(0.0, 1.5)),
                "loudness_range_lu": float(max(lra + rng.normal(0.0, 1.5), 0.5)),
                "mode": "minor" if quality.startswith("min") else "major",
                "stems": [{"name": n, "energy_share": float(s), "present": bool(s > 0.01)}
                          for n, s in zip(("drums", "bass", "other", "vocals"), jitter, strict=True)],
                "chords": [{"start_s": 2.0 * k, "end_s": 2.0 * (k + 1), "label": f"C:{quality}", "root_pc": 0,
                            "quality": quality} for k in range(4)],
                "progressions": [{"name": progression, "start_s": 0.0, "end_s": 8.0, "figures": ""}]
                if progression and rng.random() < 0.8 else [],
                "mfcc_mean": [float(v) for v in rng.normal(0.0, 1.0, 20)],
                "schema_version": schema.SCHEMA_VERSION,
                "analysis_version": ANALYSIS_VERSION,
                "config_hash": "synthetic",
                "analyzed_at": now,
            })
    rows.append({"track_id": "broken", "path": "/corpus/broken.mp3", "status": schema.STATUS_ERROR,
                 "error": {"stage": "decode", "message": "synthetic"}, "schema_version": schema.SCHEMA_VERSION,
                 "analysis_version": ANALYSIS_VERSION, "config_hash": "synthetic", "analyzed_at": now})
    return rows


def write_genre_corpus(folder: str | Path, *, per_genre: int = 8, seed: int = 0) -> Path:
    """Write :func:`genre_rows` as ``folder/tracks/part-00000.parquet``; returns ``folder``."""
    folder = Path(folder)
    (folder / schema.TRACKS_DIR).mkdir(parents=True, exist_ok=True)
    table = schema.tracks_table(genre_rows(per_genre=per_genre, seed=seed))
    pq.write_table(table, folder / schema.TRACKS_DIR / "part-00000.parquet")
    return folder
