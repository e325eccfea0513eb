"""An analysis output's shards as every reader should see them: readable files only, one row per input.

Shards are append-only and written by independent runs, so an output can hold more than one row for an input:
two jobs that once wrote the same output (before the writer lease, or on an object store that raced), an
error row and the row of its retry (``--retry-errors``), a compaction cut short. Every reader (resume, query,
report, build-dataset, fit-genre) goes through :func:`scan_output`, which applies one rule (:func:`kept_rows`):

* per ``track_id``, an ok row beats error rows, then the latest ``analyzed_at`` wins, then the later shard;
* an error row also yields to an ok row or alias that covers its path, and to a later error row for its path.

A damaged shard (truncated by a copy tool or a full disk, not Parquet at all) is named and left out;
:func:`quarantine` moves it into ``OUT/_quarantine/`` so that a re-run analyses its inputs again, and
:func:`compact` rewrites shards holding superseded rows so the files, too, end with one row per input.
"""

from __future__ import annotations

import io
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ostinato import schema
from ostinato.errors import OstinatoError
from ostinato.storage import display, resolve, write_atomically

log = logging.getLogger(__name__)

QUARANTINE_DIR = "_quarantine"

#: Columns the rule reads; everything else stays on disk while an output is scanned.
IDENTITY_COLUMNS = ("track_id", "path", "other_paths", "status", "analyzed_at")


class OutputNotFoundError(OstinatoError):
    """A location holds no ``tracks`` shards of an ``ostinato analyze`` output."""


@dataclass(frozen=True)
class DamagedShard:
    """A shard that cannot be read as Parquet, and why."""

    path: str
    reason: str


@dataclass
class OutputScan:
    """What an output holds: its readable shards, the damaged ones, and which rows count.

    ``identity`` has IDENTITY_COLUMNS plus ``_file`` (index into ``tracks``) and ``_row`` (row in that file);
    ``kept`` is a bool per identity row; ``aliases`` has the alias shards' ``path`` and ``track_id``.
    """

    fs: pafs.FileSystem
    root: str
    tracks: list[str] = field(default_factory=list)
    alias_files: list[str] = field(default_factory=list)
    damaged: list[DamagedShard] = field(default_factory=list)
    identity: pa.Table | None = None
    kept: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=bool))
    aliases: pa.Table | None = None

    @property
    def location(self) -> str:
        return display(self.fs, self.root)

    @property
    def rows(self) -> int:
        """Rows in the readable shards, superseded ones included."""
        return 0 if self.identity is None else self.identity.num_rows

    @property
    def superseded(self) -> int:
        """Rows that readers do not see because another row for the same input wins."""
        return int((~self.kept).sum())

    def kept_masks(self) -> dict[str, np.ndarray]:
        """``shard path -> bool mask of its rows`` for the shards that hold superseded rows (the others are
        read whole)."""
        if self.identity is None or self.kept.all():
            return {}
        files = self.identity.column("_file").to_numpy()
        rows = self.identity.column("_row").to_numpy()
        masks: dict[str, np.ndarray] = {}
        for index in np.unique(files[~self.kept]):
            mine = files == index
            mask = np.zeros(int(rows[mine].max()) + 1, dtype=bool)
            mask[rows[mine & self.kept]] = True
            masks[self.tracks[index]] = mask
        return masks

    def kept_identity(self) -> pa.Table:
        """The identity columns of the rows readers see."""
        if self.identity is None:
            return schema.TRACKS_SCHEMA.empty_table().select(list(IDENTITY_COLUMNS))
        return self.identity.filter(pa.array(self.kept)).select(list(IDENTITY_COLUMNS))

    def warn_damaged(self) -> None:
        """One warning line per damaged shard (readers skip them)."""
        for shard in self.damaged:
            log.warning(
                "skipped damaged shard %s (%s); `ostinato analyze` on this output moves it to %s/ and analyses "
                "its inputs again", display(self.fs, shard.path), shard.reason, QUARANTINE_DIR,
            )


def parquet_files(fs: pafs.FileSystem, folder: str) -> list[str]:
    """Visible ``*.parquet`` files under ``folder``, sorted; hidden names are half-written shards."""
    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        return []
    infos = fs.get_file_info(pafs.FileSelector(folder, recursive=True))
    return sorted(
        i.path for i in infos
        if i.type == pafs.FileType.File and i.base_name.endswith(".parquet")
        and not i.base_name.startswith((".", "_"))
    )


def _read_columns(fs: pafs.FileSystem, path: str, columns: Sequence[str]) -> pa.Table:
    """``columns`` of one shard (those it has); OSError / ArrowException when the file is damaged."""
    with fs.open_input_file(path) as handle:
        parquet = pq.ParquetFile(handle)
        schema.check_readable(parquet.schema_arrow)
        present = [c for c in columns if c in parquet.schema_arrow.names]
        return parquet.read(columns=present)


def _damage(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return f"not readable as Parquet: {text}"


def _resolve_root(location: str) -> tuple[pafs.FileSystem, str]:
    fs, root = resolve(os.fspath(location).rstrip("/"))
    root = root.rstrip("/")
    if root.endswith(f"/{schema.TRACKS_DIR}"):  # the tracks/ folder itself is accepted too
        root = root[: -len(schema.TRACKS_DIR) - 1]
    return fs, root


def scan_output(location: str, *, require: bool = False) -> OutputScan:
    """List and check an output's shards and read their identity columns (never the feature columns).

    Parameters
    ----------
    location : an ``ostinato analyze`` output folder or URI (or its ``tracks/`` folder).
    require : raise OutputNotFoundError when no readable tracks shard exists there.
    """
    fs, root = _resolve_root(location)
    scan = OutputScan(fs=fs, root=root)
    try:
        files = parquet_files(fs, f"{root}/{schema.TRACKS_DIR}")
        alias_files = parquet_files(fs, f"{root}/{schema.ALIASES_DIR}")
    except OSError as exc:
        raise OutputNotFoundError(f"cannot list {location}: {exc}") from None
    identities = []
    for path in files:
        try:
            table = _read_columns(fs, path, IDENTITY_COLUMNS)
        except (OSError, pa.ArrowException) as exc:
            scan.damaged.append(DamagedShard(path, _damage(exc)))
            continue
        index = len(scan.tracks)
        scan.tracks.append(path)
        table = _with_columns(table, IDENTITY_COLUMNS, schema.TRACKS_SCHEMA)
        identities.append(table.append_column("_file", pa.array(np.full(table.num_rows, index, dtype=np.int32)))
                          .append_column("_row", pa.array(np.arange(table.num_rows, dtype=np.int64))))
    aliases = []
    for path in alias_files:
        try:
            aliases.append(_read_columns(fs, path, ("path", "track_id")))
            scan.alias_files.append(path)
        except (OSError, pa.ArrowException) as exc:
            scan.damaged.append(DamagedShard(path, _damage(exc)))
    if require and not scan.tracks:
        which = f"readable {schema.TRACKS_DIR} shards ({len(scan.damaged)} damaged)" if scan.damaged \
            else f"{schema.TRACKS_DIR} shards"
        raise OutputNotFoundError(
            f"no {which} under {display(fs, root)} (expected "
            f"{schema.TRACKS_DIR}/*.parquet there); point at the OUT folder of `ostinato analyze`"
        )
    alias_schema = pa.schema([("path", pa.string()), ("track_id", pa.string())])
    scan.aliases = pa.concat_tables([a.cast(alias_schema) for a in aliases]) if aliases else alias_schema.empty_table()
    if identities:
        scan.identity = pa.concat_tables(identities)
        scan.kept = kept_rows(scan.identity, alias_paths=scan.aliases.column("path").to_pylist())
    return scan


def _with_columns(table: pa.Table, names: Sequence[str], contract: pa.Schema) -> pa.Table:
    """``table`` with exactly ``names`` in order, typed as in ``contract``; missing columns are null."""
    columns = [
        table.column(n).cast(contract.field(n).type) if n in table.column_names
        else pa.nulls(table.num_rows, contract.field(n).type)
        for n in names
    ]
    return pa.table(columns, names=list(names))


def kept_rows(identity: pa.Table, *, alias_paths: Sequence[str] = ()) -> np.ndarray:
    """Which rows readers see (bool per row of ``identity``); the rule is in the module docstring.

    ``identity`` needs IDENTITY_COLUMNS plus ``_file`` and ``_row``, which break ties deterministically.
    """
    n = identity.num_rows
    if n == 0:
        return np.zeros(0, dtype=bool)
    is_ok = pc.equal(identity.column("status"), schema.STATUS_OK).fill_null(False).to_numpy(zero_copy_only=False)
    stamp = identity.column("analyzed_at").cast(pa.int64()).fill_null(0).to_numpy()
    files = identity.column("_file").to_numpy()
    rows = identity.column("_row").to_numpy()
    # Best first: ok before error, then latest analysis, later shard, later row.
    order = np.lexsort((-rows, -files, -stamp, ~is_ok))
    ids = pc.dictionary_encode(identity.column("track_id")).combine_chunks().indices.to_numpy()
    _, first = np.unique(ids[order], return_index=True)  # the best row of each track_id
    kept = np.zeros(n, dtype=bool)
    kept[order[first]] = True

    errors = [i for i in order if kept[i] and not is_ok[i]]  # few, in a healthy output
    if not errors:
        return kept
    ok_rows = identity.filter(pa.array(is_ok))
    covered = set(alias_paths) | set(ok_rows.column("path").to_pylist())
    covered.update(pc.list_flatten(ok_rows.column("other_paths")).to_pylist())
    paths = identity.column("path")
    seen_error_paths: set[str] = set()
    for i in errors:
        path = paths[int(i)].as_py()
        if path in covered or path in seen_error_paths:
            kept[i] = False
        seen_error_paths.add(path)
    return kept


def read_tracks(scan: OutputScan, *, columns: Sequence[str] | None = None, only_ok: bool = False,
                batch_rows: int = 256) -> Iterator[pa.RecordBatch]:
    """The rows readers see, a batch at a time (bounded memory), with ``columns`` (default: all of the tracks
    contract; columns an old shard lacks are null)."""
    names = list(columns) if columns else list(schema.TRACKS_SCHEMA.names)
    masks = scan.kept_masks()
    for path in scan.tracks:
        with scan.fs.open_input_file(path) as handle:
            parquet = pq.ParquetFile(handle)
            present = [c for c in names if c in parquet.schema_arrow.names]
            extra = ["status"] if only_ok and "status" not in present else []
            mask = masks.get(path)
            offset = 0
            for batch in parquet.iter_batches(batch_size=batch_rows, columns=present + extra):
                keep = np.ones(batch.num_rows, dtype=bool)
                if mask is not None:
                    keep &= mask[offset: offset + batch.num_rows]
                offset += batch.num_rows
                if only_ok:
                    keep &= pc.equal(batch.column("status"), schema.STATUS_OK).fill_null(False).to_numpy(
                        zero_copy_only=False)
                if keep.any():
                    table = pa.Table.from_batches([batch]).filter(pa.array(keep))
                    yield from _with_columns(table, names, schema.TRACKS_SCHEMA).to_batches()


def read_tracks_table_of(scan: OutputScan, path: str, mask: np.ndarray) -> pa.Table:
    """The rows of one shard of ``scan`` that ``mask`` keeps, every column."""
    with scan.fs.open_input_file(path) as handle:
        table = pq.read_table(handle)
    keep = np.zeros(table.num_rows, dtype=bool)
    n = min(mask.size, table.num_rows)
    keep[:n] = mask[:n]
    return table.filter(pa.array(keep))


def read_tracks_table(location: str, *, columns: Sequence[str] | None = None, only_ok: bool = False) -> pa.Table:
    """Every row readers see of the output at ``location`` as one table (damaged shards skipped with a
    warning); OutputNotFoundError when it holds no tracks shards."""
    scan = scan_output(location, require=True)
    scan.warn_damaged()
    names = list(columns) if columns else list(schema.TRACKS_SCHEMA.names)
    batches = list(read_tracks(scan, columns=names, only_ok=only_ok, batch_rows=4096))
    contract = pa.schema([schema.TRACKS_SCHEMA.field(n).with_nullable(True) for n in names])
    return pa.Table.from_batches(batches, schema=contract) if batches else contract.empty_table()


def quarantine(scan: OutputScan) -> list[str]:
    """Move every damaged shard of ``scan`` into ``OUT/_quarantine/<folder>/``; returns the new locations.

    Its rows are then missing from the output, so the next ``analyze`` run analyses those inputs again.
    """
    moved = []
    for shard in scan.damaged:
        relative = shard.path[len(scan.root) + 1:]
        target = f"{scan.root}/{QUARANTINE_DIR}/{relative}"
        scan.fs.create_dir(target.rsplit("/", 1)[0], recursive=True)
        scan.fs.move(shard.path, target)
        moved.append(display(scan.fs, target))
    scan.damaged.clear()
    return moved


def compact(scan: OutputScan, *, run_id: str, compression: str | None = "zstd") -> int:
    """Rewrite each shard that holds superseded rows without them; returns the number of rows dropped.

    The new shard is written (atomically) before the old one is deleted, so a crash in between leaves both,
    which readers resolve by the same rule, and the next compaction finishes the job. Run it only while
    holding the output's writer lease.
    """
    dropped = 0
    for seq, (path, mask) in enumerate(sorted(scan.kept_masks().items())):
        kept = read_tracks_table_of(scan, path, mask)
        if kept.num_rows:
            buffer = io.BytesIO()
            pq.write_table(kept, buffer, compression=compression)
            folder = path.rsplit("/", 1)[0]
            write_atomically(scan.fs, f"{folder}/part-{run_id}-compact-{seq:05d}.parquet", buffer.getvalue())
        scan.fs.delete_file(path)
        dropped += int((~mask).sum())
    return dropped
