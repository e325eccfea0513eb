"""End to end: `run_analysis` on a real local Ray, real Parquet shards, read back by pandas, pyarrow and DuckDB."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow.dataset as pads
import pytest

from ostinato import schema
from ostinato.analysis.tonal import PITCH_CLASSES
from ostinato.config import load_config
from ostinato.errors import OstinatoError
from ostinato.pipelines.analyze import run_analysis
from ostinato.testing.corpus import write_bad_inputs

pytestmark = pytest.mark.slow  # Ray, CLI subprocesses or training: deselect with -m "not slow"

NO_SEPARATION = ["separation.enabled=false", "output.rows_per_shard=4"]


def _rows(out: Path) -> pd.DataFrame:
    return pads.dataset(out / schema.TRACKS_DIR, format="parquet").to_table().to_pandas()


@pytest.fixture(scope="module")
def demo_run(ray_local, demo_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("demo-out")
    summary = run_analysis([str(demo_corpus)], str(out), load_config(None, NO_SEPARATION), show_progress=False)
    return out, summary


def test_demo_corpus_rows_recover_the_truth(demo_run, demo_corpus):
    out, summary = demo_run
    truth = {Path(t["file"]).name: t for t in json.loads((demo_corpus / "truth.json").read_text())["tracks"]}
    df = _rows(out)
    assert summary.ok == len(truth) == len(df)
    assert set(df["status"]) == {"ok"}
    df["name"] = df["path"].map(lambda p: Path(p).name)
    for _, row in df.iterrows():
        t = truth[row["name"]]
        assert abs(row["tempo_bpm"] - t["bpm"]) / t["bpm"] < 0.02, (row["name"], row["tempo_bpm"], t["bpm"])
        assert row["key"] is not None and row["mode"] in ("major", "minor")
        assert len(row["beats"]) > 0 and len(row["chords"]) > 0 and len(row["roman"]) > 0
        assert row["stage_seconds"]["describe"] > 0 and row["stage_seconds"]["decode"] > 0
        assert row["schema_version"] == schema.SCHEMA_VERSION
    keys_right = sum(
        (PITCH_CLASSES.index(r["key"]), r["mode"]) == (truth[r["name"]]["tonic_pc"], truth[r["name"]]["mode"])
        for _, r in df.iterrows()
    )
    assert keys_right >= len(df) - 1


def test_duckdb_and_pyarrow_read_the_shards_as_is(demo_run):
    out, _ = demo_run
    glob = f"{out}/{schema.TRACKS_DIR}/*.parquet"
    n, mean_bpm = duckdb.sql(f"SELECT count(*), avg(tempo_bpm) FROM '{glob}'").fetchall()[0]
    assert n == 3 and 60 < mean_bpm < 200
    chords = duckdb.sql(f"SELECT unnest(chords, recursive := true) FROM '{glob}'").df()
    assert {"start_s", "end_s", "label", "root_pc", "quality"} <= set(chords.columns)
    assert (chords["end_s"] > chords["start_s"]).all()
    stages = duckdb.sql(f"SELECT stage_seconds.describe AS d FROM '{glob}'").df()
    assert (stages["d"] > 0).all()
    card = json.loads((out / schema.CARD_NAME).read_text())
    assert card["schema_version"] == schema.SCHEMA_VERSION and card["packages"]["ray"]
    assert card["runs"][-1]["ok"] == 3


def test_rerun_skips_finished_tracks(demo_run, demo_corpus):
    out, _ = demo_run
    again = run_analysis([str(demo_corpus)], str(out), load_config(None, NO_SEPARATION), show_progress=False)
    assert again.skipped == 3 and again.done == 0
    assert len(_rows(out)) == 3


def test_other_config_on_same_output_is_refused(demo_run, demo_corpus):
    out, _ = demo_run
    with pytest.raises(OstinatoError, match="different analysis configuration"):
        run_analysis([str(demo_corpus)], str(out), load_config(None, [*NO_SEPARATION, "features.hop_length=256"]),
                     show_progress=False)


def test_identical_files_are_analysed_once(ray_local, demo_corpus, tmp_path):
    first = sorted(demo_corpus.glob("*.mp3"))[0]
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(first, inputs / "a.mp3")
    shutil.copy(first, inputs / "b.mp3")
    out = tmp_path / "out"
    summary = run_analysis([str(inputs)], str(out), load_config(None, NO_SEPARATION), show_progress=False)
    assert (summary.ok, summary.duplicates) == (1, 1)
    df = _rows(out)
    assert len(df) == 1  # whichever copy finished decoding first is the row's path, the other is recorded
    assert {df.loc[0, "path"], *df.loc[0, "other_paths"]} == {str(inputs / "a.mp3"), str(inputs / "b.mp3")}
    shutil.copy(first, inputs / "c.mp3")  # a later copy lands in the aliases table
    summary = run_analysis([str(inputs)], str(out), load_config(None, NO_SEPARATION), show_progress=False)
    assert (summary.skipped, summary.duplicates, summary.ok) == (2, 1, 0)
    aliases = pads.dataset(out / schema.ALIASES_DIR, format="parquet").to_table().to_pylist()
    assert [(a["path"], a["track_id"]) for a in aliases] == [(str(inputs / "c.mp3"), df.loc[0, "track_id"])]


EXPECTED_BAD = {
    # name: (status, stage or None, fragment of the message / warning)
    "zero_byte": ("error", "identify", "empty"),
    "random_bytes": ("error", "decode", ""),
    "text_file": ("error", "decode", ""),
    "short_clip": ("error", "decode", "min_duration_s"),
    "silence": ("ok", None, "silent"),
    "mono_8k": ("ok", None, ""),
    "hires_96k": ("ok", None, ""),
    "good": ("ok", None, ""),
}


def test_bad_inputs_each_get_one_clear_row_and_the_job_goes_on(ray_local, tmp_path):
    files = write_bad_inputs(tmp_path / "bad")
    crash = tmp_path / "bad" / "crash-me.mp3"
    shutil.copy(files["good"], crash)
    crash.write_bytes(crash.read_bytes() + b"\0")  # distinct bytes, so not a duplicate of "good"
    out = tmp_path / "out"
    config = load_config(None, [*NO_SEPARATION, "resources.crash_retries=1"])
    summary = run_analysis([str(tmp_path / "bad")], str(out), config, show_progress=False)
    df = _rows(out)
    by_path = {row["path"]: row for _, row in df.iterrows()}
    all_paths = {str(p) for p in (tmp_path / "bad").iterdir() if p.is_file()}
    assert set(by_path) | {p for _, r in df.iterrows() for p in r["other_paths"]} == all_paths
    assert df["track_id"].is_unique
    for name, (status, stage, fragment) in EXPECTED_BAD.items():
        row = by_path[str(files[name])]
        assert row["status"] == status, (name, row["error"])
        if status == "error":
            assert row["error"]["stage"] == stage and fragment in row["error"]["message"], (name, row["error"])
        else:
            assert fragment in " ".join(row["warnings"]), (name, row["warnings"])
            assert row["duration_s"] > 5
    for name in ("truncated", "truncated_header"):
        if name in files:
            row = by_path[str(files[name])]
            assert row["status"] == "error" or row["warnings"].size or row["duration_s"] > 0
    crashed = by_path[str(crash)]
    assert crashed["status"] == "error" and crashed["error"]["stage"] == "decode"
    assert "died" in crashed["error"]["message"]
    assert summary.errors >= 5 and summary.ok >= 4


def test_rows_follow_the_contract_types(demo_run):
    out, _ = demo_run
    table = pads.dataset(out / schema.TRACKS_DIR, format="parquet").to_table()
    assert table.schema.remove_metadata() == schema.TRACKS_SCHEMA.remove_metadata()
    beats = table.column("beats").to_pylist()[0]
    positions = [b["position"] for b in beats]
    assert positions.count(1) >= 2 and max(positions) <= 4
    assert np.all(np.diff([b["time_s"] for b in beats]) > 0)


def test_tiny_demucs_separation_through_the_pipeline(ray_local, demo_corpus, tmp_path):
    from ostinato.testing.tiny_demucs import build_tiny_htdemucs, save_local_repo

    repo = tmp_path / "models"
    save_local_repo(build_tiny_htdemucs(), repo, name="tiny_htdemucs")
    inputs = tmp_path / "in"
    inputs.mkdir()
    shutil.copy(sorted(demo_corpus.glob("*.mp3"))[0], inputs / "song.mp3")
    config = load_config(None, ["separation.model=tiny_htdemucs", f"separation.repo={repo}", "separation.chunk_s=5"])
    out, stems_dir = tmp_path / "out", tmp_path / "stems"
    summary = run_analysis([str(inputs)], str(out), config, keep_stems=str(stems_dir), show_progress=False)
    assert summary.ok == 1
    row = _rows(out).iloc[0]
    assert row["separation_model"] == "tiny_htdemucs"
    assert [s["name"] for s in row["stems"]] == ["drums", "bass", "other", "vocals"]
    assert sum(s["energy_share"] for s in row["stems"]) == pytest.approx(1.0, abs=1e-3)
    assert row["stage_seconds"]["separate"] > 0
    flacs = sorted(stems_dir.rglob("*.flac"))
    assert len(flacs) == 4
    import soundfile

    assert soundfile.info(str(flacs[0])).duration == pytest.approx(row["duration_s"], abs=0.05)


def test_separator_actor_pool_queues_tracks_beyond_its_actors(ray_local, demo_corpus, tmp_path):
    """One separator actor (the 2-CPU test cluster has room for one beside the tasks), three tracks in flight:
    two wait in the ActorPool for the actor (still counted in the window); every track is separated once."""
    from ostinato.testing.tiny_demucs import build_tiny_htdemucs, save_local_repo

    repo = tmp_path / "models"
    save_local_repo(build_tiny_htdemucs(), repo, name="tiny_htdemucs")
    config = load_config(None, ["separation.model=tiny_htdemucs", f"separation.repo={repo}", "separation.chunk_s=5",
                                "separation.actors=1", "resources.max_in_flight=3", "features.music_tagger=none"])
    out = tmp_path / "out"
    summary = run_analysis([str(demo_corpus)], str(out), config, show_progress=False)
    rows = _rows(out)
    assert summary.ok == 3 and len(rows) == 3 and rows["track_id"].is_unique
    assert set(rows["separation_model"]) == {"tiny_htdemucs"}
    assert all(seconds["separate"] > 0 for seconds in rows["stage_seconds"])


def test_missing_weights_stop_the_job_naming_the_options(ray_local, demo_corpus, tmp_path):
    empty = tmp_path / "no-models"
    empty.mkdir()
    config = load_config(None, ["separation.model=htdemucs", f"separation.repo={empty}"])
    with pytest.raises(OstinatoError) as info:
        run_analysis([str(demo_corpus)], str(tmp_path / "out"), config, show_progress=False)
    message = str(info.value)
    assert "htdemucs" in message and "separation.repo" in message and "separation.enabled=false" in message
