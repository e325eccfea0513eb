"""`analyze`, `query` and `report` against an S3-compatible server (moto, on loopback): inputs read, shards and
the dataset card written, resume and queries all by s3:// URI."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from ostinato import schema
from ostinato.features import open_features, query_pandas
from ostinato.testing.features import write_synthetic_features

pytestmark = pytest.mark.slow  # Ray, CLI subprocesses or training: deselect with -m "not slow"

CLI = [sys.executable, "-m", "ostinato.cli"]
BUCKET = "music"
FAST = ["--set", "separation.enabled=false", "--set", "output.rows_per_shard=2"]


@pytest.fixture(scope="module")
def s3(s3_bucket):
    """The shared moto S3 server (conftest's ``s3_bucket``); its environment reaches the CLI's subprocesses and
    their Ray workers, which start after it. Yields a boto3 client."""
    client, name = s3_bucket
    client.create_bucket(Bucket=BUCKET)
    return client


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {**os.environ, "RAY_ADDRESS": ""}
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env)


def _keys(client, prefix: str) -> list[str]:
    listing = client.list_objects_v2(Bucket=BUCKET, Prefix=prefix)
    return sorted(o["Key"] for o in listing.get("Contents", []))


def test_open_features_on_s3_matches_the_local_copy(s3, tmp_path):
    shards = write_synthetic_features(tmp_path / "local", n=30, rows_per_shard=10, error_every=7)
    for shard in shards:
        s3.upload_file(str(shard), BUCKET, f"synthetic/{schema.TRACKS_DIR}/{shard.name}")
    sql = "SELECT key, count(*) AS n, round(sum(tempo_bpm), 3) AS t FROM tracks GROUP BY key ORDER BY key"
    remote = query_pandas(f"s3://{BUCKET}/synthetic", sql)
    assert remote.equals(query_pandas(tmp_path / "local", sql)) and remote["n"].sum() == 30
    nested = "SELECT count(*), count(DISTINCT track_id), sum(root_pc) FROM chords"
    remote, local = (open_features(f).execute(nested).fetchall()[0]
                     for f in (f"s3://{BUCKET}/synthetic", tmp_path / "local"))
    assert remote == local and remote[1] == sum(i % 7 != 6 for i in range(30))


def test_analyze_query_and_report_by_s3_uri(s3, demo_corpus, tmp_path):
    names = sorted(p.name for p in demo_corpus.glob("*.mp3"))
    for name in names:
        s3.upload_file(str(demo_corpus / name), BUCKET, f"corpus/{name}")
    corpus, out = f"s3://{BUCKET}/corpus", f"s3://{BUCKET}/features"
    run = _cli("analyze", corpus, out, "--quiet", *FAST)
    assert run.returncode == 0, run.stderr[-3000:]
    assert f"features/{schema.CARD_NAME}" in _keys(s3, "features/")
    assert len([k for k in _keys(s3, f"features/{schema.TRACKS_DIR}/") if k.endswith(".parquet")]) == 2

    query = _cli("query", out, "SELECT path, status, key, tempo_bpm FROM tracks ORDER BY path", "--format", "json")
    assert query.returncode == 0, query.stderr
    rows = json.loads(query.stdout)
    assert [r["path"] for r in rows] == [f"{corpus}/{n}" for n in names]
    assert {r["status"] for r in rows} == {"ok"} and all(r["tempo_bpm"] > 0 for r in rows)

    # Re-running resumes from the shards in the bucket: nothing is analysed twice.
    again = _cli("analyze", corpus, out, "--quiet", *FAST)
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(query_pandas(out, "SELECT path FROM tracks")) == len(names)
    card = json.loads(s3.get_object(Bucket=BUCKET, Key=f"features/{schema.CARD_NAME}")["Body"].read())
    assert [r.get("skipped") for r in card["runs"]] == [0, len(names)]

    # Results can be written back to the bucket, and the report reads the bucket too.
    csv = _cli("query", out, "SELECT key, mode FROM tracks", "--format", "csv", "--out", f"s3://{BUCKET}/r/keys.csv")
    assert csv.returncode == 0, csv.stderr
    body = s3.get_object(Bucket=BUCKET, Key="r/keys.csv")["Body"].read().decode()
    assert body.splitlines()[0] == "key,mode" and len(body.splitlines()) == len(names) + 1
    report = _cli("report", out, str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    assert (tmp_path / "report" / "keys.png").exists()


def test_missing_bucket_prefix_is_a_one_line_error(s3):
    run = _cli("query", f"s3://{BUCKET}/nothing-here", "SELECT 1", timeout=120)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "no tracks shards under s3://music/nothing-here" in run.stderr


def test_writer_lease_on_s3_refuses_a_second_job_and_takes_over_a_stale_one(s3, monkeypatch):
    """Object stores have no locks: the lease is an object with a heartbeat, taken over once it is stale."""
    from ostinato.pipelines import lease

    monkeypatch.setattr(lease, "SETTLE_S", 0.2)
    out = f"s3://{BUCKET}/leased"
    with lease.writer_lease(out, run_id="run-a") as holder:
        assert holder.run_id == "run-a"
        busy = pytest.raises(lease.OutputBusyError, match=r"being written by run run-a \(host .*, pid \d+")
        with busy, lease.writer_lease(out, run_id="run-b"):
            raise AssertionError("a second writer got the lease")
    assert "leased/_writer.json" not in _keys(s3, "leased/")  # released: deleted
    # A job killed without releasing leaves its lease; once its heartbeat is STALE_S old, the next job takes it.
    stale = lease.Holder(run_id="killed", host="elsewhere", pid=1, started="2026-01-01T00:00:00+00:00",
                         heartbeat=0.0)
    s3.put_object(Bucket=BUCKET, Key="leased/_writer.json", Body=stale.to_json())
    with lease.writer_lease(out, run_id="run-c") as holder:
        assert holder.run_id == "run-c"
