"""Write a query's result as a readable table, CSV, JSON or Parquet, to stdout, a file or an object store."""

from __future__ import annotations

import os
import sys
import tempfile
from typing import IO, Any

import duckdb
import pyarrow as pa

from ostinato.errors import UsageError
from ostinato.features.catalog import duckdb_errors
from ostinato.storage import is_uri, resolve, write_atomically

FORMATS = ("table", "csv", "json", "parquet")
_CELL_CHARS = 60  # nested values are shortened in the table view; the file formats keep them whole
_WIDE_COLUMNS = 10  # wider results are shown one record per block (column: value), like psql's \\x


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return text if len(text) <= _CELL_CHARS else text[: _CELL_CHARS - 1] + "…"


def render_table(table: pa.Table, *, total_rows: int | None = None, width: int | None = None) -> str:
    """``table`` as aligned text with a header (rich), plus a line saying how many rows were left out."""
    from rich.console import Console
    from rich.table import Table

    shown, total = table.num_rows, total_rows if total_rows is not None else table.num_rows
    if table.num_columns > _WIDE_COLUMNS:
        width = max(len(name) for name in table.column_names)
        blocks = []
        for number, row in enumerate(table.to_pylist(), start=1):
            lines = [f"-[ record {number} ]" + "-" * 40]
            lines += [f"{name.ljust(width)} | {_cell(value)}" for name, value in row.items()]
            blocks.append("\n".join(lines))
        text = "\n".join(blocks) + "\n" if blocks else " | ".join(table.column_names) + "\n"
        return text + _footer(shown, total)
    view = Table(show_edge=False, header_style="bold", pad_edge=False)
    for name in table.column_names:
        view.add_column(name, overflow="fold")
    for row in table.to_pylist():
        view.add_row(*(_cell(v) for v in row.values()))
    console = Console(width=width or 200, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(view)
    return console.export_text() + _footer(shown, total)


def _footer(shown: int, total: int) -> str:
    if total > shown:
        return f"({shown} of {total} rows shown; use --max-rows, or --format csv/json/parquet for all)\n"
    return f"({total} row{'s' if total != 1 else ''})\n"


def _copy(table: pa.Table, fmt: str, path: str) -> None:
    con = duckdb.connect()
    con.register("_result", table)
    options = {"csv": "FORMAT csv, HEADER true", "json": "FORMAT json, ARRAY true",
               "parquet": "FORMAT parquet, COMPRESSION zstd"}[fmt]
    con.execute(f"COPY _result TO '{path.replace(chr(39), chr(39) * 2)}' ({options})")
    con.close()


def write_result(
    relation: duckdb.DuckDBPyRelation | None,
    *,
    fmt: str = "table",
    out: str | None = None,
    max_rows: int = 50,
    stdout: IO[bytes] | None = None,
) -> int:
    """Write ``relation``'s rows in ``fmt`` to ``out`` (a path or URI) or to ``stdout``; returns the row count.

    ``table`` shows at most ``max_rows`` rows; csv, json (an array of objects) and parquet hold every row,
    nested values included (as text in CSV). Parquet needs ``out``.
    """
    if fmt not in FORMATS:
        raise UsageError(f"unknown --format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fmt == "parquet" and out is None:
        raise UsageError("--format parquet needs --out FILE (Parquet is binary)")
    stdout = stdout or sys.stdout.buffer
    with duckdb_errors():
        if relation is None:
            table = pa.table({})
        elif fmt == "table":
            table = relation.limit(max_rows + 1).to_arrow_table()
        else:
            table = relation.to_arrow_table()
    if fmt == "table":
        total = table.num_rows
        if total > max_rows:
            with duckdb_errors():
                total = relation.aggregate("count(*)").fetchall()[0][0]
        data = render_table(table.slice(0, max_rows), total_rows=total).encode()
    else:
        with tempfile.TemporaryDirectory(prefix="ostinato-query-") as tmp:
            path = os.path.join(tmp, f"result.{fmt}")
            _copy(table, fmt, path)
            with open(path, "rb") as handle:
                data = handle.read()
        total = table.num_rows
    if out is None:
        stdout.write(data)
        stdout.flush()
    elif is_uri(out):
        fs, path = resolve(out)
        write_atomically(fs, path, data)
    else:
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        with open(out, "wb") as handle:
            handle.write(data)
    return total
