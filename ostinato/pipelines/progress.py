"""Live progress (files done/total, files/s, ETA) and the end-of-run summary of `ostinato analyze`."""

from __future__ import annotations

import collections
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from ostinato import schema


@dataclass
class RunSummary:
    """Counts and rates of one run. Audio seconds count decoded audio of rows written in this run."""

    out: str
    inputs: int = 0
    skipped: int = 0
    ok: int = 0
    errors: int = 0
    duplicates: int = 0
    audio_s: float = 0.0
    wall_s: float = 0.0
    stage_s: dict[str, float] = field(default_factory=lambda: dict.fromkeys(schema.STAGES, 0.0))
    error_reasons: collections.Counter = field(default_factory=collections.Counter)
    shards: list[str] = field(default_factory=list)
    retried: int = 0  # inputs with an error row analysed again (--retry-errors)
    earlier_errors: int = 0  # error rows of earlier runs left as they are (no --retry-errors)
    quarantined: list[str] = field(default_factory=list)  # damaged shards moved aside, new locations
    compacted: int = 0  # superseded rows dropped from the shards

    @property
    def done(self) -> int:
        return self.ok + self.errors + self.duplicates

    @property
    def x_realtime(self) -> float:
        """Seconds of audio analysed per second of wall clock."""
        return self.audio_s / self.wall_s if self.wall_s > 0 else 0.0

    def stage_share(self) -> dict[str, float]:
        """Share of summed worker time per stage, in [0, 1]."""
        total = sum(self.stage_s.values())
        return {k: (v / total if total else 0.0) for k, v in self.stage_s.items()}

    def to_dict(self) -> dict[str, Any]:
        return {
            "inputs": self.inputs, "skipped": self.skipped, "ok": self.ok, "errors": self.errors,
            "duplicates": self.duplicates, "audio_hours": round(self.audio_s / 3600, 4),
            "wall_s": round(self.wall_s, 2), "x_realtime": round(self.x_realtime, 2),
            "stage_share": {k: round(v, 4) for k, v in self.stage_share().items()},
            "error_reasons": dict(self.error_reasons.most_common(20)), "shards_written": len(self.shards),
            "retried": self.retried, "quarantined": list(self.quarantined), "compacted_rows": self.compacted,
        }


class RunProgress:
    """Tracks rows as they are produced; draws a live bar on a terminal, a line every 10 s elsewhere."""

    def __init__(self, summary: RunSummary, *, total: int, enabled: bool = True, label: str = "analyze") -> None:
        self.summary = summary
        self.label = label  # the command's name, shown before the bar
        self.total = total
        self.console = Console(stderr=True)
        self.enabled = enabled
        self.live = enabled and self.console.is_terminal
        self._start = time.monotonic()
        self._last_line = self._start
        self._progress = Progress(
            TextColumn(f"[bold]{label}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[rate]:.2f} files/s"), TextColumn("{task.fields[xrt]:.0f}x realtime"),
            TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            console=self.console, transient=False,
        )
        self._task = None

    def __enter__(self) -> RunProgress:
        if self.live:
            self._progress.start()
            self._task = self._progress.add_task(self.label, total=self.total, rate=0.0, xrt=0.0)
        return self

    def __exit__(self, *exc: object) -> None:
        self.summary.wall_s = time.monotonic() - self._start
        if self.live:
            self._progress.stop()

    def record_row(self, row: dict[str, Any]) -> None:
        s = self.summary
        if row["status"] == schema.STATUS_OK:
            s.ok += 1
            s.audio_s += row.get("duration_s") or 0.0
        else:
            s.errors += 1
            s.error_reasons[f"{row['error']['stage']}: {row['error']['message'][:80]}"] += 1
        for stage, seconds in (row.get("stage_seconds") or {}).items():
            s.stage_s[stage] += seconds or 0.0
        self._tick()

    def record_duplicate(self) -> None:
        self.summary.duplicates += 1
        self._tick()

    def _tick(self) -> None:
        elapsed = time.monotonic() - self._start
        rate = self.summary.done / elapsed if elapsed > 0 else 0.0
        xrt = self.summary.audio_s / elapsed if elapsed > 0 else 0.0
        if self.live and self._task is not None:
            self._progress.update(self._task, completed=self.summary.done, rate=rate, xrt=xrt)
        elif self.enabled and (time.monotonic() - self._last_line >= 10 or self.summary.done == self.total):
            self._last_line = time.monotonic()
            eta = (self.total - self.summary.done) / rate if rate > 0 else float("nan")
            print(
                f"{self.label}: {self.summary.done}/{self.total} files, {rate:.2f} files/s, {xrt:.0f}x realtime, "
                f"ETA {eta:.0f} s",
                file=sys.stderr, flush=True,
            )


def print_summary(summary: RunSummary, console: Console | None = None) -> None:
    """The end-of-run table: counts, hours of audio, throughput, stage shares, errors and where shards are."""
    console = console or Console(stderr=True)
    table = Table(title="ostinato analyze: summary", show_header=False)
    table.add_row("inputs", f"{summary.inputs} ({summary.skipped} already done, skipped)")
    if summary.retried:
        table.add_row("retried", f"{summary.retried} inputs whose earlier row was an error")
    if summary.earlier_errors:
        table.add_row("earlier errors", f"{summary.earlier_errors} rows kept as they are; --retry-errors analyses "
                                        "those inputs again")
    if summary.quarantined:
        table.add_row("quarantined", f"{len(summary.quarantined)} damaged shard(s) moved to "
                                     f"{summary.quarantined[0].rsplit('/', 2)[0]}/; their inputs analysed again")
    if summary.compacted:
        table.add_row("compacted", f"{summary.compacted} superseded rows dropped from the shards")
    table.add_row("ok / errors / duplicates", f"{summary.ok} / {summary.errors} / {summary.duplicates}")
    table.add_row("audio analysed", f"{summary.audio_s / 3600:.3f} h")
    table.add_row("wall clock", f"{summary.wall_s:.1f} s")
    table.add_row("throughput", f"{summary.x_realtime:.1f}x realtime")
    share = ", ".join(f"{k} {v:.0%}" for k, v in summary.stage_share().items() if v > 0)
    table.add_row("time per stage", share or "-")
    for reason, count in summary.error_reasons.most_common(5):
        table.add_row("error", f"{count} x {reason}")
    table.add_row("shards", f"{summary.out}/{schema.TRACKS_DIR} (+{len(summary.shards)} this run)")
    console.print(table)
