"""`ostinato build-dataset` on Ray: one task per analysed track turns its audio and analysis row into segments.

The driver reads the ok rows of an ``ostinato analyze`` output (identity and theory columns only), keeps a
bounded number of ``datasets.build.build_track`` tasks in flight (the same ``ray.wait`` back-pressure as
``analyze``), and writes each finished track's segments whole into its split's shard buffer, so a shard never
holds part of a track. A track whose audio cannot be read is counted with its reason and the job goes on.
Re-running on the same TRAINSET skips tracks already in the shards (same config hash), so a killed job is
finished by running it again; the card's counts come from a scan of all shards at the end. Tracks that failed
are listed in ``TRAINSET/_errors/`` and skipped by later runs unless ``retry_errors`` is set. The job holds
TRAINSET's writer lease (``pipelines.lease``) while it writes.
"""

from __future__ import annotations

import collections
import datetime
import io
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import ray
from rich.console import Console
from rich.table import Table

from ostinato import __version__, outputs, schema
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
from ostinato.pipelines.driver import (
    BoundedCalls,
    connect,
    failure_reason,
    new_run_id,
    refuse_other_config,
    window_size,
)
from ostinato.pipelines.lease import writer_lease
from ostinato.pipelines.progress import RunProgress, RunSummary
from ostinato.pipelines.resume import output_uri
from ostinato.storage import resolve, write_atomically

#: Folder of TRAINSET listing the tracks that failed (track_id, path, reason), one shard per run.
ERRORS_DIR = "_errors"


@dataclass
class BuildSummary:
    """What one run did (tracks, segments) and what the training set now holds (``splits``, from its card)."""

    out: str
    tracks: int = 0  # ok rows in FEATURES
    skipped: int = 0  # already in the training set
    built: int = 0
    too_short: int = 0  # shorter than one segment: no rows
    errors: int = 0
    earlier_errors: int = 0  # failed in an earlier run, skipped (no --retry-errors)
    retried: int = 0  # failed in an earlier run, built again (--retry-errors)
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
            "errors": self.errors, "earlier_errors": self.earlier_errors, "retried": self.retried,
            "segments": self.segments, "audio_hours": round(self.audio_s / 3600, 4),
            "wall_s": round(self.wall_s, 2), "error_reasons": dict(self.error_reasons.most_common(20)),
            "failed": [list(f) for f in self.failed], "shards_written": len(self.shards),
        }


def ok_paths(scan: outputs.OutputScan) -> dict[str, str]:
    """``track_id -> path`` of every ok row readers see (two light columns)."""
    identity = scan.kept_identity()
    return {t: p for t, p, s in zip(identity.column("track_id").to_pylist(), identity.column("path").to_pylist(),
                                    identity.column("status").to_pylist(), strict=True) if s == schema.STATUS_OK}


def iter_rows(scan: outputs.OutputScan, *, skip: set[str], batch_rows: int = 256) -> Iterator[dict[str, Any]]:
    """The ok rows not in ``skip``, with only the columns a segment needs, a batch at a time (bounded memory)."""
    for batch in outputs.read_tracks(scan, columns=ROW_COLUMNS, only_ok=True, batch_rows=batch_rows):
        for row in batch.to_pylist():
            if row["track_id"] not in skip:
                yield row


def failed_track_ids(out: str) -> set[str]:
    """Track ids listed in TRAINSET/_errors/ by earlier runs."""
    fs, root = resolve(out)
    failed: set[str] = set()
    for path in outputs.parquet_files(fs, f"{root}/{ERRORS_DIR}"):
        try:
            with fs.open_input_file(path) as handle:
                failed.update(pq.read_table(handle, columns=["track_id"]).column("track_id").to_pylist())
        except (OSError, pa.ArrowException):  # a damaged list only means those tracks are tried again
            continue
    return failed


def _write_failures(out: str, run_id: str, failures: list[tuple[str, str, str]]) -> None:
    fs, root = resolve(out)
    table = pa.table({name: [f[i] for f in failures] for i, name in enumerate(("track_id", "path", "reason"))})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    fs.create_dir(f"{root}/{ERRORS_DIR}", recursive=True)
    write_atomically(fs, f"{root}/{ERRORS_DIR}/part-{run_id}.parquet", buffer.getvalue())


def _open_card(out: str, features: str, config: DatasetConfig, force: bool) -> dict[str, Any]:
    card = read_card_dict(out)
    results_hash = config.results_hash()
    refuse_other_config(card, results_hash, out=out, force=force,
                        holds="a training set built with a different configuration")
    if card is not None and card.get("n_frames") is not None:
        # Rows are fixed-size lists: shards of another shape could not be read as one dataset, even with --force.
        old = (card["mel"]["n_mels"], card["n_frames"])
        new = (config.mel.n_mels, config.segment.frames(config.mel))
        if old != new:
            raise OstinatoError(
                f"{out} holds segments of {old[0]} mels x {old[1]} frames; these would be {new[0]} x {new[1]}, "
                "which cannot share a training set; write to a new TRAINSET"
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
    retry_errors: bool = False,
    wait: bool = False,
    show_progress: bool = True,
) -> BuildSummary:
    """Build (or finish) the training set ``out`` from the analysis output ``features``; see the module doc."""
    features, out = output_uri(features), output_uri(out)
    scan = outputs.scan_output(features, require=True)
    scan.warn_damaged()
    paths = ok_paths(scan)
    run_id = new_run_id()
    with writer_lease(out, run_id=run_id, wait=wait):
        raw_card = _open_card(out, features, config, force)
        done = written_track_ids(out) & paths.keys()
        failed = (failed_track_ids(out) & paths.keys()) - done
        skip = done if retry_errors else done | failed
        todo = len(paths) - len(skip)
        summary = BuildSummary(out=out, tracks=len(paths), skipped=len(done),
                               earlier_errors=0 if retry_errors else len(failed),
                               retried=len(failed) if retry_errors else 0)
        run = {"run_id": run_id, "started": datetime.datetime.now(datetime.UTC).isoformat(), "audio_root": audio_root,
               "retry_errors": retry_errors}
        raw_card["runs"].append(run)
        write_card(out, raw_card)

        writer = SegmentWriter(out, run_id=run_id, rows_per_shard=config.output.rows_per_shard,
                               compression=config.output.compression)
        failures: list[tuple[str, str, str]] = []
        if todo:
            connect(address)
            old_root = common_folder(paths.values())
            live = RunSummary(out=out, inputs=len(paths), skipped=len(skip))
            start = time.monotonic()
            with RunProgress(live, total=todo, enabled=show_progress, label="build-dataset") as progress:
                _drive(iter_rows(scan, skip=skip), config, writer, summary, progress, failures,
                       audio_root=audio_root, old_root=old_root)
            summary.wall_s = time.monotonic() - start
        writer.close()
        if failures:
            _write_failures(out, run_id, failures)
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
    failures: list[tuple[str, str, str]],
    *,
    audio_root: str | None,
    old_root: str | None,
) -> None:
    """Keep at most ``window`` tracks in flight; write each finished track's segments as it arrives, and append
    ``(track_id, audio path, reason)`` to ``failures`` for each track that fails."""
    res = config.resources
    task = ray.remote(_track_task).options(num_cpus=res.cpus_per_task, max_retries=res.crash_retries)
    config_ref = ray.put(config)
    calls = BoundedCalls(window_size(res.max_in_flight))

    def submit(row: dict[str, Any]) -> None:
        split = split_of(row["track_id"], val_share=config.split.val_share, seed=config.split.seed)
        path = relocate(row["path"], audio_root=audio_root, old_root=old_root)
        calls.add(task.remote(row, path, split, config_ref), (row, split, path))

    def finished(ref, job: tuple[dict[str, Any], str, str]) -> None:
        row, split, path = job
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as exc:
            result = failure_reason(exc)
        if isinstance(result, str):
            failures.append((row["track_id"], path, result))
            summary.errors += 1
            summary.error_reasons[result[:100]] += 1
            if len(summary.failed) < 100:
                summary.failed.append((path, result))
            progress.record_row({"status": schema.STATUS_ERROR, "error": {"stage": "build", "message": result}})
            return
        if result.num_rows:
            writer.add(result, split=split)
            summary.built += 1
            summary.segments += result.num_rows
        else:
            summary.too_short += 1
        summary.audio_s += row.get("duration_s") or 0.0
        progress.record_row({"status": schema.STATUS_OK, "duration_s": row.get("duration_s")})

    calls.run(todo, submit=submit, on_ready=finished)


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
    if summary.retried:
        table.add_row("retried", f"{summary.retried} tracks that failed in an earlier run")
    if summary.earlier_errors:
        table.add_row("earlier errors", f"{summary.earlier_errors} tracks that failed before, skipped; "
                                        "--retry-errors builds them again")
    for reason, count in summary.error_reasons.most_common(5):
        # Only the first 100 failures are kept with their paths; a reason may first appear after them.
        example = next((path for path, why in summary.failed if why[:100] == reason), None)
        table.add_row("error", f"{count} x {reason}" + (f" (e.g. {example})" if example else ""))
    table.add_row("shards", f"{summary.out}/{{{','.join(SPLITS)}}} (+{len(summary.shards)} this run)")
    console.print(table)
