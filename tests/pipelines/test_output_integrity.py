"""One row per input whatever happened to an output: two jobs at once, damaged shards, duplicate rows, errors
retried; and every failure a user can cause is one ``error:`` line with exit code 1 (usage errors 2)."""

from __future__ import annotations

import datetime
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ostinato import outputs, schema
from ostinato.testing.features import synthetic_tracks, write_synthetic_features

CLI = [sys.executable, "-m", "ostinato.cli"]
ENV = {**os.environ, "RAY_ADDRESS": "", "COLUMNS": "200"}  # summary tables unwrapped
FAST = ["--set", "separation.enabled=false", "--set", "output.rows_per_shard=1", "--set", "features.music_tagger=none"]


def _cli(*args: str, timeout: float = 400) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], env=ENV, capture_output=True, text=True, timeout=timeout)


def _raw_rows(out: Path) -> list[dict]:
    """Every row of every visible tracks shard, superseded or not."""
    rows = []
    for shard in sorted((out / schema.TRACKS_DIR).glob("[!._]*.parquet")):
        rows += pq.read_table(shard, columns=["track_id", "path", "status"]).to_pylist()
    return rows


def _identity(rows: list[tuple[str, str, str, int, int]], others: list[list[str]] | None = None) -> pa.Table:
    """An identity table from (track_id, path, status, analyzed_at seconds, file index) tuples."""
    stamp = [datetime.datetime.fromtimestamp(r[3], datetime.UTC) for r in rows]
    return pa.table({
        "track_id": [r[0] for r in rows], "path": [r[1] for r in rows],
        "other_paths": others or [[] for _ in rows], "status": [r[2] for r in rows],
        "analyzed_at": pa.array(stamp, pa.timestamp("ms", tz="UTC")),
        "_file": pa.array([r[4] for r in rows], pa.int32()), "_row": pa.array(range(len(rows)), pa.int64()),
    })


# --- the rule ---------------------------------------------------------------------------------------------


def test_one_row_per_track_id_ok_beats_error_then_latest_then_later_shard():
    identity = _identity([
        ("a", "/x/a.mp3", "ok", 10, 0), ("a", "/x/a.mp3", "ok", 20, 1),  # latest wins
        ("b", "/x/b.mp3", "ok", 10, 0), ("b", "/x/b.mp3", "error", 30, 1),  # ok beats a later error
        ("c", "/x/c.mp3", "ok", 10, 0), ("c", "/x/c.mp3", "ok", 10, 1),  # a tie: the later shard
    ])
    assert outputs.kept_rows(identity).tolist() == [False, True, True, False, False, True]


def test_an_error_row_yields_to_an_ok_row_alias_or_later_error_for_its_path():
    identity = _identity(
        [
            ("unread-1", "/x/a.mp3", "error", 10, 0), ("h-a", "/x/a.mp3", "ok", 20, 1),  # retried: read now
            ("unread-2", "/x/b.mp3", "error", 10, 0),  # b turned out to be a copy of c: an alias covers it
            ("h-c", "/x/c.mp3", "ok", 20, 1),
            ("unread-3", "/x/d.mp3", "error", 10, 0), ("h-d", "/x/d.mp3", "error", 20, 1),  # still failing
            ("unread-4", "/x/e.mp3", "error", 10, 0), ("h-f", "/x/f.mp3", "ok", 20, 1),  # e listed as f's copy
        ],
        others=[[], [], [], [], [], [], [], ["/x/e.mp3"]],
    )
    kept = outputs.kept_rows(identity, alias_paths=["/x/b.mp3"])
    assert kept.tolist() == [False, True, False, True, False, True, False, True]


# --- two jobs, damage, duplicates, retries: the CLI as a user runs it -------------------------------------


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from ostinato.demo import write_demo_corpus

    folder = tmp_path_factory.mktemp("integrity") / "corpus"
    write_demo_corpus(folder, n_tracks=4, seconds=8.0, seed=11)
    (folder / "zz-broken.mp3").write_bytes(b"not audio at all" * 64)  # an error row
    return folder


def _inputs(corpus: Path) -> list[str]:
    return sorted(str(p) for p in corpus.glob("*.mp3"))


@pytest.fixture(scope="module")
def written(corpus, tmp_path_factory) -> Path:
    """Job A analyses; job B, started while A holds the output, stops with a message naming A; job C, started
    with --wait at the same time, waits for A and then finds nothing left to do."""
    out = tmp_path_factory.mktemp("integrity") / "out"
    first = subprocess.Popen([*CLI, "analyze", str(corpus), str(out), "--quiet", *FAST], env=ENV,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lease = out / "_writer.json"
    deadline = time.monotonic() + 120
    while not (lease.exists() and lease.stat().st_size) and time.monotonic() < deadline:
        time.sleep(0.1)
    holder = json.loads(lease.read_text())
    assert holder["pid"] == first.pid
    waiting = subprocess.Popen([*CLI, "analyze", str(corpus), str(out), "--wait", *FAST], env=ENV,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    refused = _cli("analyze", str(corpus), str(out), *FAST)
    assert first.poll() is None, "job A ended before job B could be refused"
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().count("\n") == 0, refused.stderr
    assert f"is being written by run {holder['run_id']}" in refused.stderr and f"pid {first.pid}" in refused.stderr
    assert first.wait(timeout=400) == 0, first.stderr.read()[-3000:]
    stderr = waiting.communicate(timeout=400)[1]
    assert waiting.returncode == 0, stderr[-3000:]
    assert "waiting for it to finish" in stderr and "5 already done, skipped" in stderr
    return out


@pytest.mark.slow
def test_concurrent_jobs_end_with_exactly_one_row_per_input(written, corpus):
    rows = _raw_rows(written)
    assert sorted(r["path"] for r in rows) == _inputs(corpus)
    assert [r["status"] for r in rows if r["path"].endswith("zz-broken.mp3")] == ["error"]
    assert (written / "_writer.json").read_text() == ""  # released


@pytest.mark.slow
def test_damaged_and_duplicated_shards_then_retry_errors(written, corpus, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(written, out)
    inputs = _inputs(corpus)
    shards = sorted((out / schema.TRACKS_DIR).glob("part-*.parquet"))
    ok_shards = [s for s in shards if pq.read_table(s, columns=["status"]).column("status")[0].as_py() == "ok"]
    damaged, copied = ok_shards[0], ok_shards[1]
    damaged.write_bytes(damaged.read_bytes()[:200])  # truncated by a copy tool: no footer
    shutil.copy(copied, copied.with_name("part-older-copy.parquet"))  # the same row twice, as old versions left

    query = _cli("query", str(out), "SELECT count(*) AS n, count(DISTINCT path) AS paths FROM tracks", "-f", "csv")
    assert query.returncode == 0, query.stderr
    assert query.stdout.splitlines()[1] == f"{len(inputs) - 1},{len(inputs) - 1}"
    assert query.stderr.count("\n") == 1 and "warning: skipped damaged shard" in query.stderr
    assert damaged.name in query.stderr and "Traceback" not in query.stderr

    # The broken input becomes a real file; without --retry-errors its error row stays.
    from ostinato.demo import write_demo_corpus

    fresh = write_demo_corpus(tmp_path / "fresh", n_tracks=1, seconds=8.0, seed=99)
    shutil.copy(next((tmp_path / "fresh").glob("*.mp3")), corpus / "zz-broken.mp3")
    assert fresh.tracks
    again = _cli("analyze", str(corpus), str(out), *FAST)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "moved a damaged shard to" in again.stderr and "--retry-errors analyses" in again.stderr
    assert (out / outputs.QUARANTINE_DIR / schema.TRACKS_DIR / damaged.name).exists()
    rows = _raw_rows(out)
    assert sorted(r["path"] for r in rows) == inputs  # re-analysed once, duplicate compacted away
    assert [r["status"] for r in rows if r["path"].endswith("zz-broken.mp3")] == ["error"]

    retry = _cli("analyze", str(corpus), str(out), "--retry-errors", *FAST)
    assert retry.returncode == 0, retry.stderr[-3000:]
    assert "1 inputs whose earlier row was an error" in retry.stderr
    rows = _raw_rows(out)
    assert sorted(r["path"] for r in rows) == inputs and {r["status"] for r in rows} == {"ok"}


# --- readers -------------------------------------------------------------------------------------------------


def test_readers_see_one_row_per_input_where_shards_hold_more(tmp_path):
    from ostinato.features import query_arrow
    from ostinato.theory.genre_model import read_feature_rows

    shards = write_synthetic_features(tmp_path / "f", n=20, rows_per_shard=10)
    newer = synthetic_tracks(10, seed=0).to_pylist()
    for row in newer:
        row["analyzed_at"] = datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC)
        row["tempo_bpm"] = 999.0
    pq.write_table(schema.tracks_table(newer), shards[0].with_name("part-newer.parquet"))
    table = query_arrow(tmp_path / "f", "SELECT count(*) AS n, count(DISTINCT track_id) AS ids, "
                                        "sum((tempo_bpm = 999)::int) AS newer FROM tracks")
    assert table.to_pylist() == [{"n": 20, "ids": 20, "newer": 10}]
    rows = read_feature_rows(str(tmp_path / "f"), columns=["track_id", "tempo_bpm"])
    assert len(rows) == 20 and sum(r["tempo_bpm"] == 999.0 for r in rows) == 10


# --- clean errors ----------------------------------------------------------------------------------------


@pytest.mark.slow
def test_out_naming_a_file_is_one_line_exit_1(corpus, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("x")
    run = _cli("analyze", str(corpus), str(target), *FAST)
    assert run.returncode == 1 and run.stderr.count("\n") == 1 and "is a file" in run.stderr, run.stderr


@pytest.mark.slow
def test_shards_of_a_newer_schema_are_one_line_exit_1(tmp_path):
    shard = write_synthetic_features(tmp_path / "f", n=3)[0]
    table = pq.read_table(shard)
    newer = table.replace_schema_metadata({b"ostinato.schema_version": str(schema.SCHEMA_VERSION + 1).encode()})
    pq.write_table(newer, shard)
    for args in (["query", str(tmp_path / "f"), "SELECT 1"], ["report", str(tmp_path / "f"), str(tmp_path / "r")]):
        run = _cli(*args)
        assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
        assert run.stderr.count("\n") == 1 and "newer than this ostinato" in run.stderr


@pytest.mark.slow
def test_usage_errors_exit_2_and_failures_exit_1(tmp_path):
    assert _cli("analyze", str(tmp_path / "o")).returncode == 2  # no INPUT
    bad_key = _cli("analyze", str(tmp_path), str(tmp_path / "o"), "--set", "nosuch.key=1")
    assert bad_key.returncode == 2 and bad_key.stderr.startswith("error:")
    missing = _cli("query", str(tmp_path / "nothing"), "SELECT 1")
    assert missing.returncode == 1 and missing.stderr.startswith("error:")


@pytest.mark.slow
def test_cuda_separation_without_a_gpu_is_one_line_not_a_wait(corpus, tmp_path):
    run = _cli("analyze", str(corpus), str(tmp_path / "o"), "--set", "separation.enabled=true",
               "--set", "separation.device=cuda", timeout=240)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-2000:]
    assert "has no GPU" in run.stderr and "separation.device=auto" in run.stderr


def test_build_summary_names_reasons_whose_examples_were_not_kept():
    import collections

    from rich.console import Console

    from ostinato.pipelines.build_dataset import BuildSummary, print_build_summary

    summary = BuildSummary(out="t", errors=101, error_reasons=collections.Counter({"a": 100, "b": 1}),
                           failed=[(f"/x/{i}.mp3", "a") for i in range(100)])
    console = Console(record=True, width=200)
    print_build_summary(summary, console)  # "b" first appears after the 100 kept failures
    text = console.export_text()
    assert "100 x a (e.g. /x/0.mp3)" in text and "1 x b" in text


def test_damaged_shards_are_found_without_reading_feature_columns(tmp_path):
    shards = write_synthetic_features(tmp_path / "f", n=6, rows_per_shard=2)
    shards[1].write_bytes(b"PAR1 but not really")
    scan = outputs.scan_output(str(tmp_path / "f"))
    assert [d.path for d in scan.damaged] == [str(shards[1])] and scan.rows == 4
    assert np.all(scan.kept)
    moved = outputs.quarantine(scan)
    assert moved == [str(tmp_path / "f" / outputs.QUARANTINE_DIR / schema.TRACKS_DIR / shards[1].name)]
    assert outputs.scan_output(str(tmp_path / "f")).damaged == []
