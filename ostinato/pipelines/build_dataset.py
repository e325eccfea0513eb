"""`ostinato build-dataset` on Ray: one task per analysed track turns its audio and analysis row into segments.

The driver reads the ok rows of an ``ostinato analyze`` output (identity and theory columns only), keeps a
bounded number of ``datasets.build.build_track`` tasks in flight (the same ``ray.wait`` back-pressure as
``analyze``), and writes each finished track's segments whole into its split's shard buffer, so a shard never
holds part of a track. A track whose audio cannot be read is counted with its reason and the job goes on.
Re-running on the same TRAINSET skips tracks already in the shards (same config hash), so a killed job is
finished by running it again; the card's counts come from a scan of all shards at the end.
"""

from __future__ import annotations

import collections
import datetime
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow.dataset as pads
import ray
from rich.console import Console
from rich.table import Table

from ostinato import __version__, schema
from ostinato.datasets import vocab
from ostinato.datasets.build import ROW_COLUMNS, build_track, common_folder, relocate
from ostinato.datasets.config import DatasetConfig
from ostinato.datasets.shards import (
    SPLITS,
    MelParams,
    SegmentWriter,
    SplitStats,
    TrainsetCard,
    read_card_dict,
    write_card,
)
from ostinato.datasets.split import split_of
from ostinato.datasets.stats import scan_trainset, written_track_ids
from ostinato.errors import OstinatoError
from ostinato.pipelines.analyze import _failure, connect
from ostinato.pipelines.progress import RunProgress, RunSummary
from ostinato.pipelines.resume import output_uri


@dataclass
class BuildSummary:
    """What one run did (tracks, segments) and what the training set now holds (``splits``, from its card)."""

    out: str
    tracks: int = 0  # ok rows in FEATURES
    skipped: int = 0  # already in the training set
    built: int = 0
    too_short: int = 0  # shorter than one segment: no rows
    errors: int = 0
    segments: int = 0  # written this run
    audio_s: float = 0.0
    wall_s: float = 0.0
    error_reasons: collections.Counter = field(default_factory=collections.Counter)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (audio path, reason), the first 100
    splits: dict[str, SplitStats] = field(default_factory=dict)
    shards: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tracks": self.tracks, "skipped": self.skipped, "built": self.built, "too_short": self.too_short,
            "errors": self.errors, "segments": self.segments, "audio_hours": round(self.audio_s / 3600, 4),
            "wall_s": round(self.wall_s, 2), "error_reasons": dict(self.error_reasons.most_common(20)),
            "failed": [list(f) for f in self.failed], "shards_written": len(self.shards),
        }


_OK = pads.field("status") == schema.STATUS_OK


def ok_paths(ds: pads.Dataset) -> dict[str, str]:
    """``track_id -> path`` of every ok row (two light columns)."""
    table = ds.to_table(columns=["track_id", "path"], filter=_OK)
    return dict(zip(table.column("track_id").to_pylist(), table.column("path").to_pylist(), strict=True))


def iter_rows(ds: pads.Dataset, *, skip: set[str], batch_rows: int = 256) -> Iterator[dict[str, Any]]:
    """The ok rows not in ``skip``, with only the columns a segment needs, a batch at a time (bounded memory)."""
    columns = [c for c in ROW_COLUMNS if c in ds.schema.names]
    for batch in ds.to_batches(columns=columns, filter=_OK, batch_size=batch_rows):
        for row in batch.to_pylist():
            if row["track_id"] not in skip:
                yield row


def _open_card(out: str, features: str, config: DatasetConfig, force: bool) -> dict[str, Any]:
    card = read_card_dict(out)
    results_hash = config.results_hash()
    if card is not None and card.get("config_hash") != results_hash and not force:
        raise OstinatoError(
            f"{out} holds a training set built with a different configuration (hash {card.get('config_hash')}, "
            f"now {results_hash}); write to a new --out, or pass --force to mix them"
        )
    if card is not None and card.get("n_frames") is not None:
        # Rows are fixed-size lists: shards of another shape could not be read as one dataset, even with --force.
        old = (card["mel"]["n_mels"], card["n_frames"])
        new = (config.mel.n_mels, config.segment.frames(config.mel))
        if old != new:
            raise OstinatoError(
                f"{out} holds segments of {old[0]} mels x {old[1]} frames; these would be {new[0]} x {new[1]}, "
                "which cannot share a training set; write to a new --out"
            )
    return {"runs": [], **(card or {}), "config_hash": results_hash, "source": features,
            "config": config.model_dump(mode="json")}


def _track_task(row: dict[str, Any], audio_path: str, split: str, config: DatasetConfig):
    """Runs in a Ray worker: the track's segment table, or the reason it failed (a string)."""
    try:
        return build_track(row, audio_path=audio_path, split=split, config=config)
    except Exception as exc:  # any failure of one track is that track's error; the job goes on
        return f"{type(exc).__name__}: {exc}"


def run_build_dataset(
    features: str,
    out: str,
    config: DatasetConfig,
    *,
    audio_root: str | None = None,
    address: str | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> BuildSummary:
    """Build (or finish) the training set ``out`` from the analysis output ``features``; see the module doc."""
    features, out = output_uri(features), output_uri(out)
    ds = schema.tracks_dataset(features)
    paths = ok_paths(ds)
    raw_card = _open_card(out, features, config, force)
    done = written_track_ids(out) & paths.keys()
    todo = len(paths) - len(done)
    summary = BuildSummary(out=out, tracks=len(paths), skipped=len(done))
    run_id = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:6]
    run = {"run_id": run_id, "started": datetime.datetime.now(datetime.UTC).isoformat(), "audio_root": audio_root}
    raw_card["runs"].append(run)
    write_card(out, raw_card)

    writer = SegmentWriter(out, run_id=run_id, rows_per_shard=config.output.rows_per_shard,
                           compression=config.output.compression)
    if todo:
        connect(address)
        old_root = common_folder(paths.values())
        live = RunSummary(out=out, inputs=len(paths), skipped=summary.skipped)
        start = time.monotonic()
        with RunProgress(live, total=todo, enabled=show_progress, label="build-dataset") as progress:
            _drive(iter_rows(ds, skip=done), config, writer, summary, progress, audio_root=audio_root,
                   old_root=old_root)
        summary.wall_s = time.monotonic() - start
    writer.close()
    summary.shards = writer.shards

    stats = scan_trainset(out)
    summary.splits = stats.splits
    mel = config.mel
    card = TrainsetCard(
        mel=MelParams(sample_rate=mel.sample_rate, n_fft=mel.n_fft, hop_length=mel.hop_length, n_mels=mel.n_mels,
                      fmin=mel.fmin, fmax=mel.top_hz),
        n_frames=config.segment.frames(mel), segment_hop_s=config.segment.hop_frames(mel) / mel.frame_rate,
        val_share=config.split.val_share, seed=config.split.seed, vocab_version=vocab.VOCAB_VERSION,
        vocab_sizes=vocab.vocab_sizes(), splits=stats.splits, coverage=stats.coverage, mel_mean=stats.mel_mean,
        mel_std=stats.mel_std, source=features, config_hash=raw_card["config_hash"], runs=raw_card["runs"],
        config=raw_card["config"],
    )
    run.update(finished=datetime.datetime.now(datetime.UTC).isoformat(), ostinato_version=__version__,
               **summary.to_dict())
    write_card(out, card)
    if show_progress:
        print_build_summary(summary)
    return summary


def _drive(
    todo: Iterator[dict[str, Any]],
    config: DatasetConfig,
    writer: SegmentWriter,
    summary: BuildSummary,
    progress: RunProgress,
    *,
    audio_root: str | None,
    old_root: str | None,
) -> None:
    """Keep at most ``window`` tracks in flight; write each finished track's segments as it arrives."""
    res = config.resources
    task = ray.remote(_track_task).options(num_cpus=res.cpus_per_task, max_retries=res.crash_retries)
    window = res.max_in_flight or max(2, 2 * int(ray.cluster_resources().get("CPU", 1)))
    config_ref = ray.put(config)
    in_flight: dict[Any, tuple[dict[str, Any], str, str]] = {}
    pending = next(todo, None)
    while pending is not None or in_flight:
        while pending is not None and len(in_flight) < window:
            row, pending = pending, next(todo, None)
            split = split_of(row["track_id"], val_share=config.split.val_share, seed=config.split.seed)
            path = relocate(row["path"], audio_root=audio_root, old_root=old_root)
            in_flight[task.remote(row, path, split, config_ref)] = (row, split, path)
        ready, _ = ray.wait(list(in_flight), num_returns=1, timeout=1.0)
        for ref in ready:
            row, split, path = in_flight.pop(ref)
            try:
                result = ray.get(ref)
            except ray.exceptions.RayError as exc:
                result = _failure(exc)
            if isinstance(result, str):
                summary.errors += 1
                summary.error_reasons[result[:100]] += 1
                if len(summary.failed) < 100:
                    summary.failed.append((path, result))
                progress.record_row({"status": schema.STATUS_ERROR, "error": {"stage": "build", "message": result}})
                continue
            if result.num_rows:
                writer.add(result, split=split)
                summary.built += 1
                summary.segments += result.num_rows
            else:
                summary.too_short += 1
            summary.audio_s += row.get("duration_s") or 0.0
            progress.record_row({"status": schema.STATUS_OK, "duration_s": row.get("duration_s")})


def print_build_summary(summary: BuildSummary, console: Console | None = None) -> None:
    """The end-of-run table: tracks and segments of this run, the set's per-split counts, errors, shards."""
    console = console or Console(stderr=True)
    table = Table(title="ostinato build-dataset: summary", show_header=False)
    table.add_row("tracks", f"{summary.tracks} ok in FEATURES ({summary.skipped} already built, skipped)")
    table.add_row("built / too short / errors", f"{summary.built} / {summary.too_short} / {summary.errors}")
    table.add_row("segments this run", f"{summary.segments} from {summary.audio_s / 3600:.3f} h of audio")
    table.add_row("wall clock", f"{summary.wall_s:.1f} s")
    for split in SPLITS:
        s = summary.splits.get(split, SplitStats())
        table.add_row(f"{split} split", f"{s.segments} segments, {s.tracks} tracks, {s.hours:.3f} h")
    for reason, count in summary.error_reasons.most_common(5):
        example = next(path for path, why in summary.failed if why[:100] == reason)
        table.add_row("error", f"{count} x {reason} (e.g. {example})")
    table.add_row("shards", f"{summary.out}/{{{','.join(SPLITS)}}} (+{len(summary.shards)} this run)")
    console.print(table)
