"""Open an analysis output (local folder or object-store URI) as a DuckDB connection with ready views.

Local shards are read by DuckDB's own Parquet reader (parallel, with projection and filter pushdown).
Object stores are read through pyarrow's filesystems (``storage.resolve``: native S3/GCS, else fsspec),
registered into DuckDB as a pyarrow dataset, because DuckDB's httpfs extension is a download and may be
unavailable; DuckDB still pushes projections and filters into that scan.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import duckdb
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.fs as pafs

from ostinato import outputs, schema
from ostinato.features.errors import FeaturesNotFoundError, QueryError
from ostinato.features.views import NESTED_VIEWS, nested_view_sql


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _register_source(con: duckdb.DuckDBPyConnection, name: str, fs: pafs.FileSystem, files: list[str],
                     contract, *, whole_folder: bool = False, extra: list[pa.Table] = ()) -> str:
    """Register ``files`` (plus in-memory ``extra`` tables) and return a SQL expression that scans them with
    every column of ``contract``.

    Shards written before a column existed lack it; ``UNION ALL BY NAME`` with an empty table of the
    contract gives such columns as NULL, so queries written for the current schema run on old shards.
    ``whole_folder`` says ``files`` are every shard of their folder, so a glob can stand for them.
    """
    con.register(f"_{name}_contract", contract.empty_table())
    scans = []
    if files and isinstance(fs, pafs.LocalFileSystem):
        folder = os.path.dirname(files[0])
        flat = all(os.path.dirname(f) == folder for f in files)
        # A glob keeps the view's SQL short on 100k shards; names with glob characters are listed instead.
        glob = whole_folder and flat and not set("*?[]{}") & set(folder)
        source = _sql_list([f"{folder}/[!._]*.parquet"]) if glob else _sql_list(files)
        scans.append(f"SELECT * FROM read_parquet({source}, union_by_name = true)")
    elif files:
        con.register(f"_{name}_shards", pads.dataset(files, filesystem=fs, format="parquet", schema=contract))
        scans.append(f"SELECT * FROM _{name}_shards")
    for i, table in enumerate(extra):
        con.register(f"_{name}_kept_{i}", table)
        scans.append(f"SELECT * FROM _{name}_kept_{i}")
    scans.append(f"SELECT * FROM _{name}_contract")
    return " UNION ALL BY NAME ".join(scans)


def open_features(location: str | os.PathLike[str], *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection over the shards written by ``ostinato analyze INPUT... LOCATION``.

    Parameters
    ----------
    location : a local output folder or an object-store URI (``s3://bucket/features``); the folder that holds
        ``tracks/`` (a path ending in ``/tracks`` is accepted too).
    threads : DuckDB worker threads (default: every core).

    Views: ``tracks`` (one row per analysed file), ``beats``, ``chords``, ``sections``, ``roman``, ``stems``,
    ``progressions``, ``cadences``, ``local_keys`` (one row per element of that nested column, with
    ``track_id``, ``path`` and the 1-based ``idx``), and ``aliases`` (paths whose bytes equal another track).
    ``tracks`` has one row per input even where the shards hold more (see ``ostinato.outputs``); damaged shards
    are skipped with a warning naming them.

    Raises FeaturesNotFoundError when the location holds no readable tracks shards.
    """
    location = os.fspath(location).rstrip("/")
    try:
        scan = outputs.scan_output(location, require=True)
    except (outputs.OutputNotFoundError, schema.SchemaError) as exc:
        raise FeaturesNotFoundError(str(exc)) from None
    scan.warn_damaged()
    masks = scan.kept_masks()
    clean = [f for f in scan.tracks if f not in masks]
    # Shards holding superseded rows (rare: see ostinato.outputs) are read here and registered filtered.
    kept = [outputs.read_tracks_table_of(scan, path, mask) for path, mask in sorted(masks.items())]
    whole = not masks and not any(d.path.rsplit("/", 2)[-2] == schema.TRACKS_DIR for d in scan.damaged)
    con = duckdb.connect(config={"threads": threads} if threads else {})
    tracks_sql = _register_source(con, "tracks", scan.fs, clean, schema.TRACKS_SCHEMA, whole_folder=whole,
                                  extra=kept)
    con.execute(f"CREATE VIEW tracks AS {tracks_sql}")
    for column in NESTED_VIEWS:
        con.execute(f"CREATE VIEW {column} AS {nested_view_sql(column)}")
    aliases_whole = not any(d.path.rsplit("/", 2)[-2] == schema.ALIASES_DIR for d in scan.damaged)
    aliases_sql = _register_source(con, "aliases", scan.fs, scan.alias_files, schema.ALIASES_SCHEMA,
                                   whole_folder=aliases_whole)
    con.execute(f"CREATE VIEW aliases AS {aliases_sql}")
    return con


@contextlib.contextmanager
def duckdb_errors() -> Iterator[None]:
    """Turn DuckDB's errors (raised when a query is planned or, lazily, when its rows are fetched) into a
    one-line QueryError."""
    try:
        yield
    except duckdb.Error as exc:
        text = str(exc).strip()
        first = text.splitlines()[0] if text else type(exc).__name__
        raise QueryError(f"query failed: {first}") from None


def run_sql(con: duckdb.DuckDBPyConnection, sql: str) -> duckdb.DuckDBPyRelation | None:
    """Run ``sql`` on ``con`` (a trailing ``;`` is fine); None for statements that return no rows.

    Errors in the SQL raise QueryError; fetch the rows under ``duckdb_errors()`` to get the same for errors
    DuckDB finds only while executing (a failed cast, ...).
    """
    with duckdb_errors():
        return con.sql(sql.strip().rstrip(";").strip())
