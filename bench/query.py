"""Benchmark of `ostinato query` / `ostinato report` on a large synthetic corpus of tracks rows.

Writes N synthetic rows (default 100,000; full schema v2 rows with chords, Roman numerals, beats,
progressions, cadences) as shards, then times, in one run on the same shards:
  * open_features (listing shards and defining the views);
  * group-bys over tracks (key/mode, genre), and the chord-transition window query over the unnested
    roman view, each through DuckDB;
  * the same key/mode group-by done the common way without ostinato, pyarrow reading the two columns and
    pandas grouping them, as the baseline the DuckDB figure is a ratio of;
  * the whole report (every aggregate and chart).

Usage: python bench/query.py [--rows 100000] [--json bench/results/query.json] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

BASE_ROWS = 5000  # distinct rows generated through schema.tracks_table; larger corpora vary copies of them


def write_corpus(out: Path, rows: int, *, rows_per_shard: int = 5000, seed: int = 0) -> float:
    """Write ``rows`` synthetic rows under ``out/tracks``; returns seconds taken.

    Building 100k nested rows through Python dicts takes minutes, so BASE_ROWS rows are built that way and
    each further shard is a copy with new track ids, paths, tonics and tempos (vectorised).
    """
    from ostinato import schema
    from ostinato.testing.features import PITCH_CLASSES, synthetic_tracks

    start = time.perf_counter()
    base = synthetic_tracks(min(rows, BASE_ROWS), seed=seed, error_every=50)
    rng = np.random.default_rng(seed)
    folder = out / schema.TRACKS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    for number, first in enumerate(range(0, rows, rows_per_shard)):
        n = min(rows_per_shard, rows - first)
        table = base.slice(0, n)
        ids = [f"{i:032x}" for i in range(first, first + n)]
        ok = pc.equal(table.column("status"), "ok")
        keys = pa.array(np.array(PITCH_CLASSES)[rng.integers(0, 12, n)])
        tempo = pa.array(rng.uniform(60, 180, n).astype(np.float32))
        table = table.set_column(table.schema.get_field_index("track_id"), "track_id", pa.array(ids))
        table = table.set_column(table.schema.get_field_index("path"), "path",
                                 pa.array([f"/corpus/{i // 1000:04d}/{i:07d}.mp3" for i in range(first, first + n)]))
        table = table.set_column(table.schema.get_field_index("key"), "key", pc.if_else(ok, keys, None))
        table = table.set_column(table.schema.get_field_index("tempo_bpm"), "tempo_bpm", pc.if_else(ok, tempo, None))
        pq.write_table(table.cast(schema.TRACKS_SCHEMA), folder / f"part-bench-{number:05d}.parquet",
                       compression="zstd")
    return time.perf_counter() - start


def _timed(fn, repeats: int = 3) -> tuple[float, object]:
    """Best of ``repeats`` wall-clock seconds (the first run includes reading Parquet footers cold)."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def run(features: Path, report_dir: Path) -> dict:
    from ostinato.features import open_features
    from ostinato.report import build_report
    from ostinato.report.aggregates import chord_transitions

    results: dict = {}
    start = time.perf_counter()
    con = open_features(features)
    results["open_features_s"] = time.perf_counter() - start
    rows = con.execute("SELECT count(*) FROM tracks").fetchall()[0][0]
    key_mode = "SELECT key, mode, count(*) AS n, avg(tempo_bpm) AS bpm FROM tracks WHERE status = 'ok' GROUP BY ALL"
    results["group_by_key_mode_s"], answer = _timed(lambda: con.sql(key_mode).fetchall())
    results["group_by_key_mode_groups"] = len(answer)
    results["group_by_genre_s"], _ = _timed(lambda: con.sql(
        "SELECT genre, count(*), avg(harmonic_complexity) FROM tracks GROUP BY genre").fetchall())
    roman_rows = con.execute("SELECT count(*) FROM roman").fetchall()[0][0]
    results["chord_transitions_s"], _ = _timed(lambda: chord_transitions(con), repeats=1)
    results["roman_rows"] = roman_rows

    def pandas_baseline():
        table = pq.read_table(features / "tracks", columns=["key", "mode", "tempo_bpm", "status"])
        frame = table.to_pandas()
        return frame[frame["status"] == "ok"].groupby(["key", "mode"])["tempo_bpm"].agg(["count", "mean"])

    results["pandas_group_by_key_mode_s"], _ = _timed(pandas_baseline)
    results["duckdb_speedup_vs_pandas"] = results["pandas_group_by_key_mode_s"] / results["group_by_key_mode_s"]
    results["report_s"], _ = _timed(lambda: build_report(con, report_dir, source=str(features)), repeats=1)
    results["rows"] = rows
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    parser.add_argument("--keep", type=Path, default=None, help="write the shards here and keep them")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ostinato-bench-query-") as tmp:
        features = args.keep or Path(tmp) / "features"
        if not (features / "tracks").exists():
            written = write_corpus(features, args.rows)
            print(f"wrote {args.rows:,} synthetic rows in {written:.1f} s")
        results = run(features, Path(tmp) / "report")
        size = sum(p.stat().st_size for p in (features / "tracks").glob("*.parquet"))
    # Other work on the machine slows every figure alike; the load average says how busy it was.
    results.update(shards_mb=size / 2**20, cores=os.cpu_count(), load_average_1min=os.getloadavg()[0])
    for name, value in results.items():
        print(f"{name:32s} {value:.3f}" if isinstance(value, float) else f"{name:32s} {value}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
