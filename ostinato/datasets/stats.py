"""Counts, hours, condition coverage and mel statistics of a written training set, for its card.

Computed by one streaming pass over the shards (a batch at a time), so the card is right after resumed or
repeated runs too, whatever each run wrote.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from ostinato.datasets.shards import (
    FRAME_ID_COLUMNS,
    FRAME_PHASE_COLUMNS,
    GLOBAL_ID_COLUMNS,
    GLOBAL_VALUE_COLUMNS,
    SPLITS,
    SplitStats,
    column_array,
)
from ostinato.storage import resolve


def split_dataset(path: str, split: str) -> pads.Dataset | None:
    """The Parquet shards of one split as a pyarrow dataset; None when the split has no folder yet."""
    fs, root = resolve(path)
    folder = f"{root}/{split}"
    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        return None
    # Hidden names (".part-*.inprogress") are half-written shards and are ignored by default.
    return pads.dataset(folder, filesystem=fs, format="parquet")


def written_track_ids(path: str) -> set[str]:
    """Track ids with segments in any split (reads only the ``track_id`` column)."""
    done: set[str] = set()
    for split in SPLITS:
        ds = split_dataset(path, split)
        if ds is not None:
            done.update(ds.to_table(columns=["track_id"]).column("track_id").to_pylist())
    return done


@dataclass
class TrainsetStats:
    """Everything the card reports about the shards' content."""

    splits: dict[str, SplitStats] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)
    mel_mean: float = 0.0
    mel_std: float = 1.0


def scan_trainset(path: str, *, batch_rows: int = 256) -> TrainsetStats:
    """Stream every shard once, never reading the mels: per-split segments/tracks/hours, coverage over all
    splits, and the train split's mel mean/std combined from each segment's ``mel_mean``/``mel_std`` (segments
    have equal sizes, so the pooled mean is the mean of means and the pooled E[x^2] the mean of std^2 + mean^2)."""
    stats = TrainsetStats()
    known = dict.fromkeys((*FRAME_ID_COLUMNS, "beat_grid", *GLOBAL_ID_COLUMNS, *GLOBAL_VALUE_COLUMNS), 0)
    frames = segments = 0
    mel_sum = mel_sq = mel_n = 0.0
    for split in SPLITS:
        ds = split_dataset(path, split)
        tracks: set[str] = set()
        n = 0
        seconds = 0.0
        if ds is not None:
            light = [name for name in ds.schema.names if name != "mel"]
            for batch in ds.to_batches(columns=light, batch_size=batch_rows):
                rows = batch.num_rows
                n += rows
                tracks.update(batch.column("track_id").to_pylist())
                seconds += float(np.sum(batch.column("duration_s").to_numpy()))
                for name in FRAME_ID_COLUMNS:
                    known[name] += int(np.count_nonzero(column_array(batch, name)))
                # Frames inside the beat grid: a non-zero phase, or a downbeat (phase 0 exactly on it).
                grid = (column_array(batch, FRAME_PHASE_COLUMNS[0]) > 0) | (column_array(batch, "downbeat") > 0)
                known["beat_grid"] += int(np.count_nonzero(grid))
                for name in GLOBAL_ID_COLUMNS:
                    known[name] += int(np.count_nonzero(batch.column(name).to_numpy()))
                for name in GLOBAL_VALUE_COLUMNS:
                    known[name] += int(np.count_nonzero(np.isfinite(batch.column(name).to_numpy())))
                frames += column_array(batch, "downbeat").size
                segments += rows
                if split == "train":
                    mean = batch.column("mel_mean").to_numpy().astype(np.float64)
                    std = batch.column("mel_std").to_numpy().astype(np.float64)
                    mel_sum += float(mean.sum())
                    mel_sq += float((np.square(std) + np.square(mean)).sum())
                    mel_n += rows
        stats.splits[split] = SplitStats(segments=n, tracks=len(tracks), hours=round(seconds / 3600, 6))
    for name, count in known.items():
        total = frames if name in (*FRAME_ID_COLUMNS, "beat_grid") else segments
        stats.coverage[name] = round(count / total, 4) if total else 0.0
    if mel_n:
        stats.mel_mean = mel_sum / mel_n
        stats.mel_std = float(np.sqrt(max(mel_sq / mel_n - stats.mel_mean**2, 1e-12)))
    return stats
