"""Write analysis rows as bounded Parquet shards, atomically, plus the dataset card beside them.

A shard becomes visible only when complete (see ``storage.write_atomically``), so a crash mid-write leaves
nothing that readers or the resume scan would see. Rows are held in memory until ``rows_per_shard`` are
buffered or ``flush_s`` seconds have passed, whichever is first: a crash loses at most that much work,
which the next run redoes.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Mapping
from typing import Any

import pyarrow.parquet as pq

from ostinato import schema
from ostinato.storage import resolve, write_atomically


class ShardSink:
    """Buffers ``tracks`` rows and alias pairs for one run and writes them as Parquet shards under ``out``."""

    def __init__(
        self,
        out: str,
        *,
        run_id: str,
        rows_per_shard: int = 512,
        flush_s: float = 120.0,
        compression: str = "zstd",
    ) -> None:
        self.fs, self.root = resolve(out)
        self.run_id = run_id
        self.rows_per_shard = rows_per_shard
        self.flush_s = flush_s
        self.compression = None if compression == "none" else compression
        self._rows: dict[str, dict[str, Any]] = {}
        self._aliases: list[tuple[str, str]] = []
        self._last_flush = time.monotonic()
        self._seq = 0
        self.rows_written = 0
        self.shards: list[str] = []

    def add(self, row: Mapping[str, Any]) -> None:
        """Buffer one row (keyed by its ``track_id``); writes a shard when the buffer is due."""
        self._rows[row["track_id"]] = dict(row)
        self.flush_if_due()

    def add_duplicate(self, track_id: str, path: str) -> None:
        """Record that ``path`` holds the same bytes as ``track_id``: in its row's ``other_paths`` while that
        row is still buffered, else as an alias row."""
        row = self._rows.get(track_id)
        if row is not None:
            row["other_paths"] = [*(row.get("other_paths") or []), path]
        else:
            self._aliases.append((path, track_id))

    def flush_if_due(self) -> None:
        due = len(self._rows) >= self.rows_per_shard or time.monotonic() - self._last_flush >= self.flush_s
        if due:
            self.flush()

    def flush(self) -> None:
        """Write everything buffered (one tracks shard and/or one aliases shard)."""
        self._last_flush = time.monotonic()
        if self._rows:
            table = schema.tracks_table(self._rows.values())
            self._write(schema.TRACKS_DIR, table)
            self.rows_written += table.num_rows
            self._rows.clear()
        if self._aliases:
            self._write(schema.ALIASES_DIR, schema.aliases_table(self._aliases))
            self._aliases.clear()

    def _write(self, folder: str, table) -> None:
        buffer = io.BytesIO()
        pq.write_table(table, buffer, compression=self.compression)
        path = f"{self.root}/{folder}/part-{self.run_id}-{self._seq:05d}.parquet"
        self._seq += 1
        self.fs.create_dir(f"{self.root}/{folder}", recursive=True)
        write_atomically(self.fs, path, buffer.getvalue())
        if folder == schema.TRACKS_DIR:
            self.shards.append(path)

    def close(self) -> None:
        self.flush()


def read_card(out: str) -> dict[str, Any] | None:
    """The dataset card of an output folder, or None when there is none yet."""
    fs, root = resolve(out)
    try:
        with fs.open_input_stream(f"{root}/{schema.CARD_NAME}") as handle:
            return json.loads(handle.read())
    except (FileNotFoundError, OSError):
        return None


def write_card(out: str, card: Mapping[str, Any]) -> None:
    """Atomically replace the dataset card of an output folder."""
    fs, root = resolve(out)
    fs.create_dir(root, recursive=True)
    write_atomically(fs, f"{root}/{schema.CARD_NAME}", json.dumps(card, indent=2, sort_keys=True).encode())
