"""`ostinato query` and `open_features`: DuckDB views over real shards, output formats, one-line errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as pads
import pyarrow.parquet as pq
import pytest

from ostinato import open_features, schema
from ostinato.features import VIEW_NAMES, FeaturesNotFoundError, QueryError, query_arrow, query_pandas
from ostinato.testing.features import GENRES, transition_counts, write_synthetic_features

CLI = [sys.executable, "-m", "ostinato.cli"]
N_TRACKS, ERROR_EVERY = 60, 10


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    write_synthetic_features(out, n=N_TRACKS, rows_per_shard=25, error_every=ERROR_EVERY)
    (out / schema.ALIASES_DIR).mkdir()
    pq.write_table(schema.aliases_table([("/corpus/copy-of-0.mp3", f"{0:032x}")]),
                   out / schema.ALIASES_DIR / "part-a-00000.parquet")
    # A half-written shard (hidden name) must be invisible to queries, as it is to the resume scan.
    (out / schema.TRACKS_DIR / ".part-x-00009.parquet.123.inprogress").write_bytes(b"PAR1 partial")
    return out


def _table(out) -> pa.Table:
    return pads.dataset(out / schema.TRACKS_DIR, format="parquet").to_table()


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=120)


def test_every_view_matches_the_nested_columns(features):
    table = _table(features)
    con = open_features(features)
    counts = {v: con.execute(f"SELECT count(*) FROM {v}").fetchall()[0][0] for v in VIEW_NAMES}
    assert counts["tracks"] == N_TRACKS
    for column in ("beats", "chords", "sections", "roman", "stems", "progressions", "cadences", "local_keys"):
        expected = sum(len(v or []) for v in table.column(column).to_pylist())
        assert counts[column] == expected > 0, column
    assert counts["aliases"] == 1
    # Error rows have no chords: the chords view holds only ok tracks.
    ok = N_TRACKS - N_TRACKS // ERROR_EVERY
    assert con.execute("SELECT count(DISTINCT track_id) FROM chords").fetchall()[0][0] == ok


def test_idx_orders_elements_so_lead_gives_the_chord_transitions(features):
    expected = transition_counts([_table(features)])
    got = query_pandas(features, """
        SELECT figure, next, count(*) AS n FROM (
            SELECT figure, lead(figure) OVER (PARTITION BY track_id ORDER BY idx) AS next FROM roman)
        WHERE next IS NOT NULL GROUP BY ALL""")
    assert {(r.figure, r.next): r.n for r in got.itertuples()} == expected
    # The axis progression I-V-vi-IV repeats, so vi is always followed by IV in it and in the doo-wop one.
    assert expected[("vi", "IV")] > 0 and ("vi", "V") not in expected


def test_group_by_gives_the_known_genre_and_cadence_counts(features):
    rows = query_arrow(features, "SELECT genre, count(*) AS n FROM tracks WHERE status = 'ok' GROUP BY 1")
    genres = {r["genre"]: r["n"] for r in rows.to_pylist()}
    ok_indices = [i for i in range(N_TRACKS) if i % ERROR_EVERY != ERROR_EVERY - 1]
    assert genres == {g: sum(GENRES[i % 4] == g for i in ok_indices) for g in GENRES}
    cadences = query_pandas(features, "SELECT type, count(*) AS n FROM cadences GROUP BY type")
    assert set(cadences["type"]) == {"perfect_authentic", "half"}
    assert cadences["n"].sum() == len(ok_indices)


def test_shards_without_the_newer_columns_read_as_null(tmp_path):
    old = write_synthetic_features(tmp_path, n=5, rows_per_shard=5)[0]
    table = pq.read_table(old)
    dropped = [c for c in table.column_names if c.startswith("genre") or c in ("cadences", "progressions")]
    pq.write_table(table.drop_columns(dropped), old)
    con = open_features(tmp_path)
    assert con.execute("SELECT count(*), count(genre) FROM tracks").fetchall()[0] == (5, 0)
    assert con.execute("SELECT count(*) FROM cadences").fetchall()[0][0] == 0


def test_missing_location_and_bad_sql_raise_one_sentence_errors(features, tmp_path):
    with pytest.raises(FeaturesNotFoundError, match="no tracks shards under"):
        open_features(tmp_path / "nothing-here")
    with pytest.raises(QueryError, match="syntax error"):
        query_pandas(features, "SELEC key FROM tracks")
    with pytest.raises(QueryError, match="Conversion Error"):  # found only while executing
        query_arrow(features, "SELECT CAST(path AS INTEGER) FROM tracks")

@pytest.mark.slow

def test_cli_formats_hold_the_same_rows(features, tmp_path):
    sql = "SELECT key, count(*) AS n FROM tracks WHERE status = 'ok' GROUP BY key ORDER BY key"
    expected = query_pandas(features, sql)

    table = _cli("query", str(features), sql, "--max-rows", "3")
    assert table.returncode == 0, table.stderr
    assert "key" in table.stdout.splitlines()[0] and f"(3 of {len(expected)} rows shown" in table.stdout

    csv = _cli("query", str(features), sql, "--format", "csv")
    assert csv.returncode == 0, csv.stderr
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(csv.stdout)), expected, check_dtype=False)

    js = _cli("query", str(features), "SELECT track_id, chords FROM tracks ORDER BY track_id LIMIT 2", "-f", "json")
    records = json.loads(js.stdout)
    # chord roots spelt as the pipeline spells them (theory.pitch)
    assert records[0]["chords"][0]["label"] == "C:maj" and records[1]["chords"][0]["label"] == "C#:maj"

    parquet = tmp_path / "result.parquet"
    run = _cli("query", str(features), sql, "--format", "parquet", "--out", str(parquet))
    assert run.returncode == 0, run.stderr
    pd.testing.assert_frame_equal(pq.read_table(parquet).to_pandas(), expected, check_dtype=False)


@pytest.mark.slow
@pytest.mark.parametrize(("args", "message"), [
    (["/definitely/not/here", "SELECT 1"], "no tracks shards under /definitely/not/here"),
    (["{features}", "SELECT nosuch FROM tracks"], "query failed: Binder Error"),
    (["{features}", "SELECT 1", "--format", "parquet"], "--format parquet needs --out"),
])
def test_cli_errors_are_one_line_without_traceback(features, args, message):
    run = _cli("query", *(a.format(features=features) for a in args))
    assert run.returncode == (2 if "--format" in args else 1)
    assert "Traceback" not in run.stderr
    assert run.stderr.strip().count("\n") == 0 and message in run.stderr, run.stderr
