"""The numbers behind `ostinato report`, each one SQL query over the views of ``open_features``.

Everything is aggregated inside DuckDB and only small results (tens of rows) reach Python, so the same code
serves 10 tracks and millions. Every function returns an empty DataFrame, never raises, when its columns are
still null (e.g. cadences before the theory stage fills them).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pandas as pd

_OK = "status = 'ok'"


def overview(con: duckdb.DuckDBPyConnection) -> dict[str, float]:
    """Row counts and total audio hours."""
    row = con.execute(
        f"""SELECT count(*), count(*) FILTER ({_OK}), count(*) FILTER (status = 'error'),
                   coalesce(sum(duration_s) FILTER ({_OK}), 0) / 3600.0, count(DISTINCT worker_node)
            FROM tracks"""
    ).fetchall()[0]
    aliases = con.execute("SELECT count(*) FROM aliases").fetchall()[0][0]
    names = ("tracks", "ok", "errors", "audio_hours", "worker_nodes")
    return {**dict(zip(names, row, strict=True)), "aliases": aliases}


def key_mode_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Columns ``key``, ``mode``, ``n``: tracks per key and mode."""
    return con.sql(
        f"SELECT key, mode, count(*) AS n FROM tracks WHERE {_OK} AND key IS NOT NULL GROUP BY ALL ORDER BY n DESC"
    ).df()


@dataclass
class Histogram:
    """``counts[i]`` values fell in ``[edges[i], edges[i + 1])`` (the last bin is closed)."""

    edges: np.ndarray  # shape (bins + 1,)
    counts: np.ndarray  # shape (bins,)

    @property
    def empty(self) -> bool:
        return int(self.counts.sum()) == 0


def histogram(con: duckdb.DuckDBPyConnection, expression: str, *, source: str = "tracks",
              where: str = _OK, bins: int = 30) -> Histogram:
    """Histogram of the finite values of ``expression`` over ``source`` rows matching ``where``, binned in SQL.

    At most ``bins`` bins, fewer (about the square root of the count, at least 5) for small corpora.
    """
    values = f"SELECT CAST({expression} AS DOUBLE) AS x FROM {source} WHERE {where}"
    finite = f"SELECT x FROM ({values}) WHERE x IS NOT NULL AND isfinite(x)"
    lo, hi, n = con.execute(f"SELECT min(x), max(x), count(*) FROM ({finite})").fetchall()[0]
    bins = int(min(bins, max(5, np.ceil(np.sqrt(n)))))
    if lo is None:
        return Histogram(np.zeros(1), np.zeros(0, dtype=np.int64))
    if hi <= lo:  # every value equal: one bin around it
        lo, hi, bins = lo - 0.5, hi + 0.5, 1
    width = (hi - lo) / bins
    rows = con.execute(
        f"SELECT least(CAST(floor((x - {lo!r}) / {width!r}) AS BIGINT), {bins - 1}) AS b, count(*) "
        f"FROM ({finite}) GROUP BY b"
    ).fetchall()
    counts = np.zeros(bins, dtype=np.int64)
    for b, n in rows:
        counts[b] = n
    return Histogram(lo + width * np.arange(bins + 1), counts)


def chord_transitions(con: duckdb.DuckDBPyConnection, *, top: int = 12) -> pd.DataFrame:
    """Matrix (index: from figure, columns: to figure) of Roman-numeral transitions within tracks.

    Only the ``top`` figures that take part in the most transitions are kept, most frequent first. Pairs are
    formed with list functions on each track's ``roman`` list (figure i with figure i + 1, nulls dropped),
    which is twice as fast as ``lead()`` over the unnested view on 1.4 M numerals.
    """
    pairs = con.sql(
        """WITH figures AS (SELECT list_filter(list_transform(roman, lambda r: r.figure), lambda f: f IS NOT NULL)
                            AS f FROM tracks WHERE len(roman) > 1),
                steps AS (SELECT unnest(list_zip(f[:-2], f[2:])) AS step FROM figures WHERE len(f) > 1)
           SELECT step[1] AS figure, step[2] AS next_figure, count(*) AS n FROM steps GROUP BY ALL"""
    ).df()
    if pairs.empty:
        return pd.DataFrame()
    weight = pairs.groupby("figure")["n"].sum().add(pairs.groupby("next_figure")["n"].sum(), fill_value=0)
    order = sorted(weight.index, key=lambda f: (-weight[f], f))[:top]
    matrix = pairs.pivot_table(index="figure", columns="next_figure", values="n", aggfunc="sum", fill_value=0)
    return matrix.reindex(index=order, columns=order, fill_value=0).astype(int)


def top_progressions(con: duckdb.DuckDBPyConnection, *, top: int = 15) -> pd.DataFrame:
    """Columns ``name``, ``figures``, ``n`` (occurrences), ``tracks`` (tracks with it): most common first."""
    return con.sql(
        f"""SELECT coalesce(name, '') AS name, figures, count(*) AS n, count(DISTINCT track_id) AS tracks
            FROM progressions WHERE figures IS NOT NULL GROUP BY ALL ORDER BY n DESC, figures LIMIT {int(top)}"""
    ).df()


def cadence_counts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Columns ``type``, ``n``, ``phrase_ends`` (those ending a phrase): most common first."""
    return con.sql(
        """SELECT type, count(*) AS n, count(*) FILTER (phrase_end) AS phrase_ends
           FROM cadences WHERE type IS NOT NULL GROUP BY type ORDER BY n DESC, type"""
    ).df()


def genre_shares(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Columns ``genre``, ``n``, ``share`` (of tracks with a genre): most common first."""
    return con.sql(
        f"""SELECT genre, count(*) AS n, count(*) / sum(count(*)) OVER () AS share
            FROM tracks WHERE {_OK} AND genre IS NOT NULL GROUP BY genre ORDER BY n DESC, genre"""
    ).df()


def stage_timings(con: duckdb.DuckDBPyConnection, stages: tuple[str, ...]) -> pd.DataFrame:
    """Columns ``stage``, ``mean_s``, ``p50_s``, ``p95_s``, ``total_h``: seconds per track spent in each stage
    that ran."""
    parts = [
        f"""SELECT '{stage}' AS stage, avg(s) AS mean_s, quantile_cont(s, 0.5) AS p50_s,
                   quantile_cont(s, 0.95) AS p95_s, sum(s) / 3600.0 AS total_h
            FROM (SELECT CAST(stage_seconds.{stage} AS DOUBLE) AS s FROM tracks) WHERE s IS NOT NULL"""
        for stage in stages
    ]
    frame = con.sql(" UNION ALL ".join(parts)).df()
    # A stage that never ran (separation disabled) records 0 s everywhere: leave it out.
    return frame[frame["mean_s"].notna() & (frame["total_h"] > 0)].reset_index(drop=True)


def error_reasons(con: duckdb.DuckDBPyConnection, *, top: int = 20) -> pd.DataFrame:
    """Columns ``stage``, ``reason``, ``n``, ``example``: error rows grouped by stage and message, with numbers
    in messages replaced by ``N`` so "audio is 0.41 s long" and "audio is 0.12 s long" count as one reason."""
    return con.sql(
        f"""SELECT coalesce(error.stage, '?') AS stage,
                   regexp_replace(coalesce(error.message, ''), '[0-9]+(\\.[0-9]+)?', 'N', 'g') AS reason,
                   count(*) AS n, min(path) AS example
            FROM tracks WHERE status = 'error' GROUP BY ALL ORDER BY n DESC, stage, reason LIMIT {int(top)}"""
    ).df()
