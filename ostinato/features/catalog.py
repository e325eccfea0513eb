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
import pyarrow.dataset as pads
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from ostinato import schema
from ostinato.features.errors import FeaturesNotFoundError, QueryError
from ostinato.features.views import NESTED_VIEWS, nested_view_sql
from ostinato.storage import display, resolve


def _shards(fs: pafs.FileSystem, folder: str) -> list[str]:
    """Visible ``*.parquet`` files under ``folder``, sorted; hidden names are half-written shards."""
    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        return []
    infos = fs.get_file_info(pafs.FileSelector(folder, recursive=True))
    return sorted(
        i.path for i in infos
        if i.type == pafs.FileType.File and i.base_name.endswith(".parquet") and not i.base_name.startswith((".", "_"))
    )


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _register_source(con: duckdb.DuckDBPyConnection, name: str, fs: pafs.FileSystem, files: list[str],
                     contract) -> str:
    """Register ``files`` and return a SQL expression that scans them with every column of ``contract``.

    Shards written before a column existed lack it; ``UNION ALL BY NAME`` with an empty table of the
    contract gives such columns as NULL, so queries written for the current schema run on old shards.
    """
    con.register(f"_{name}_contract", contract.empty_table())
    if not files:
        return f"SELECT * FROM _{name}_contract"
    if isinstance(fs, pafs.LocalFileSystem):
        folder = os.path.dirname(files[0])
        flat = all(os.path.dirname(f) == folder for f in files)
        # A glob keeps the view's SQL short on 100k shards; names with glob characters are listed instead.
        source = (_sql_list([f"{folder}/[!._]*.parquet"]) if flat and not set("*?[]{}") & set(folder)
                  else _sql_list(files))
        scan = f"SELECT * FROM read_parquet({source}, union_by_name = true)"
    else:
        con.register(f"_{name}_shards", pads.dataset(files, filesystem=fs, format="parquet", schema=contract))
        scan = f"SELECT * FROM _{name}_shards"
    return f"{scan} UNION ALL BY NAME SELECT * FROM _{name}_contract"


def open_features(location: str | os.PathLike[str], *, threads: int | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection over the shards written by ``ostinato analyze --out location``.

    Parameters
    ----------
    location : a local output folder or an object-store URI (``s3://bucket/features``); the folder that holds
        ``tracks/`` (a path ending in ``/tracks`` is accepted too).
    threads : DuckDB worker threads (default: every core).

    Views: ``tracks`` (one row per analysed file), ``beats``, ``chords``, ``sections``, ``roman``, ``stems``,
    ``progressions``, ``cadences``, ``local_keys`` (one row per element of that nested column, with
    ``track_id``, ``path`` and the 1-based ``idx``), and ``aliases`` (paths whose bytes equal another track).

    Raises FeaturesNotFoundError when the location holds no tracks shards.
    """
    location = os.fspath(location).rstrip("/")
    fs, root = resolve(location)
    if root.rstrip("/").endswith(f"/{schema.TRACKS_DIR}"):
        root = root.rstrip("/")[: -len(schema.TRACKS_DIR) - 1]
    try:
        tracks = _shards(fs, f"{root}/{schema.TRACKS_DIR}")
    except OSError as exc:
        raise FeaturesNotFoundError(f"cannot list {location}: {exc}") from None
    if not tracks:
        raise FeaturesNotFoundError(
            f"no tracks shards under {display(fs, root)} (expected {schema.TRACKS_DIR}/*.parquet there); "
            "point at the --out of `ostinato analyze`"
        )
    try:
        with fs.open_input_file(tracks[0]) as handle:
            schema.check_readable(pq.read_schema(handle))
    except schema.SchemaError as exc:
        raise FeaturesNotFoundError(str(exc)) from None
    con = duckdb.connect(config={"threads": threads} if threads else {})
    con.execute(f"CREATE VIEW tracks AS {_register_source(con, 'tracks', fs, tracks, schema.TRACKS_SCHEMA)}")
    for column in NESTED_VIEWS:
        con.execute(f"CREATE VIEW {column} AS {nested_view_sql(column)}")
    aliases = _shards(fs, f"{root}/{schema.ALIASES_DIR}")
    con.execute(f"CREATE VIEW aliases AS {_register_source(con, 'aliases', fs, aliases, schema.ALIASES_SCHEMA)}")
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
