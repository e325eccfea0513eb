"""End to end: the real analyze pipeline on the demo corpus, then build-dataset on Ray; the shards hold the
demo truth's chords, the analysed downbeats, disjoint splits and a card whose figures match the shards."""

from __future__ import annotations

import json
import re
import shutil

import duckdb
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from ostinato.cli import app
from ostinato.config import load_config
from ostinato.datasets import vocab
from ostinato.datasets.config import load_dataset_config
from ostinato.datasets.loader import SegmentDataset, TensorCollate, ray_dataset, read_card
from ostinato.datasets.split import split_of
from ostinato.errors import OstinatoError
from ostinato.pipelines.analyze import run_analysis
from ostinato.pipelines.build_dataset import run_build_dataset

pytestmark = pytest.mark.slow  # Ray, CLI subprocesses or training: deselect with -m "not slow"

SR, HOP, N_MELS, N_FRAMES = 22050, 256, 32, 128
DATASET = [f"mel.n_mels={N_MELS}", f"segment.n_frames={N_FRAMES}", "split.val_share=0.34", "output.rows_per_shard=8"]
DATASET_SETS = [word for override in DATASET for word in ("--set", override)]


@pytest.fixture(scope="module")
def features(ray_local, demo_corpus, tmp_path_factory):
    out = tmp_path_factory.mktemp("features")
    run_analysis([str(demo_corpus)], str(out), load_config(None, ["separation.enabled=false"]), show_progress=False)
    return out


@pytest.fixture(scope="module")
def built(features, tmp_path_factory):
    out = tmp_path_factory.mktemp("trainset")
    summary = run_build_dataset(str(features), str(out), load_dataset_config(None, DATASET), show_progress=False)
    segments = pd.concat([pd.read_parquet(out / split) for split in ("train", "val")], ignore_index=True)
    return out, summary, segments


def _truth(demo_corpus):
    return {t["file"]: t for t in json.loads((demo_corpus / "truth.json").read_text())["tracks"]}


def _rows(features):
    return pd.read_parquet(features / "tracks").set_index("track_id")


def test_segment_counts_and_shapes(built):
    out, summary, segments = built
    assert (summary.built, summary.errors, summary.too_short) == (3, 0, 0)
    # 12 s at 22050 Hz, hop 256: 1 + 264600 // 256 = 1034 frames -> full 128-frame segments start at 0..896.
    assert segments.groupby("track_id").size().tolist() == [8, 8, 8] and summary.segments == 24
    first = segments.iloc[0]
    assert len(first.mel) == N_MELS * N_FRAMES and first.mel.dtype == np.float16
    for name in ("chord_root", "chord_quality", "roman", "function", "section", "downbeat", "beat_phase"):
        assert len(first[name]) == N_FRAMES
    assert sorted(segments.start_s.round(4).unique()) == [round(k * N_FRAMES * HOP / SR, 4) for k in range(8)]
    assert np.isfinite(np.stack(segments.mel.to_numpy()).astype(np.float32)).all()


def test_no_track_in_both_splits_and_split_follows_the_hash(built):
    _, _, segments = built
    by_track = segments.groupby("track_id").split.unique()
    assert all(len(s) == 1 for s in by_track)
    for track_id, splits in by_track.items():
        assert splits[0] == split_of(track_id, val_share=0.34, seed=0)


def test_chord_ids_in_the_frames_of_each_truth_chord_equal_the_truth(built, features, demo_corpus):
    _, _, segments = built
    truth, rows = _truth(demo_corpus), _rows(features)
    agree = total = 0
    for seg in segments.itertuples():
        chords = truth[rows.loc[seg.track_id, "path"].rsplit("/", 1)[-1]]["chords"]
        times = seg.start_s + np.arange(N_FRAMES) * HOP / SR
        for chord in chords:
            # The middle half of the chord, clear of boundary frames where analysis and truth may differ by a frame.
            quarter = (chord["end_s"] - chord["start_s"]) / 4
            inside = (times > chord["start_s"] + quarter) & (times < chord["end_s"] - quarter)
            expected = (vocab.encode_chord_root(chord["root_pc"]), vocab.encode_chord_quality(chord["quality"]))
            got = np.stack([np.asarray(seg.chord_root)[inside], np.asarray(seg.chord_quality)[inside]], axis=1)
            agree += int(np.all(got == expected, axis=1).sum())
            total += int(inside.sum())
    assert total > 1000 and agree / total > 0.9, f"{agree}/{total} frames carry the truth's chord"


def test_downbeat_flags_sit_on_the_analysed_downbeats_and_near_the_true_ones(built, features, demo_corpus):
    _, _, segments = built
    truth, rows = _truth(demo_corpus), _rows(features)
    for seg in segments.itertuples():
        row = rows.loc[seg.track_id]
        analysed = [b["time_s"] for b in row.beats if b["position"] == 1]
        expected = {round((t - seg.start_s) * SR / HOP) for t in analysed}
        flagged = set(np.nonzero(np.asarray(seg.downbeat))[0].tolist())
        assert flagged == {f for f in expected if 0 <= f < N_FRAMES}
        phases = np.asarray(seg.bar_phase, dtype=np.float32)
        assert ((phases >= 0) & (phases < 1)).all()
        # A bar starts on its downbeat: the flagged (nearest) frame is just after it or, rounded, just before.
        assert all(phases[f] < 0.05 or phases[f] > 0.95 for f in flagged)
    pop = next(tid for tid, r in rows.iterrows() if r.path.endswith("00_pop_G_major.mp3"))
    true_downbeats = np.array(truth["00_pop_G_major.mp3"]["downbeat_times"])
    for seg in segments[segments.track_id == pop].itertuples():
        for f in np.nonzero(np.asarray(seg.downbeat))[0]:
            assert np.min(np.abs(true_downbeats - (seg.start_s + f * HOP / SR))) < 0.05


def test_card_counts_hours_and_coverage_match_the_shards(built):
    out, _, segments = built
    card = read_card(str(out))
    for split in ("train", "val"):
        part = segments[segments.split == split]
        assert card.splits[split].segments == len(part) and card.splits[split].tracks == part.track_id.nunique()
    assert card.segments == 24
    assert card.hours == pytest.approx(24 * N_FRAMES * HOP / SR / 3600, rel=1e-4)
    assert card.n_frames == N_FRAMES and card.n_mels == N_MELS and card.vocab_sizes == vocab.vocab_sizes()
    frames = np.stack(segments.chord_root.to_numpy())
    assert card.coverage["chord_root"] == pytest.approx(np.count_nonzero(frames) / frames.size, abs=1e-4)
    assert card.coverage["key"] == 1.0 and card.coverage["bpm"] == 1.0
    assert card.coverage["genre"] == pytest.approx((segments.genre > 0).mean(), abs=1e-4)
    train_mel = np.stack(segments[segments.split == "train"].mel.to_numpy()).astype(np.float64)
    assert card.mel_mean == pytest.approx(train_mel.mean(), abs=1e-3)
    assert card.mel_std == pytest.approx(train_mel.std(), rel=1e-3)


def test_duckdb_and_ray_read_the_shards(built):
    out, _, _ = built
    rows = duckdb.connect().execute(
        f"SELECT count(*), count(DISTINCT track_id), max(len(mel)) FROM read_parquet('{out}/*/*.parquet')"
    ).fetchone()
    assert rows == (24, 3, N_MELS * N_FRAMES)
    batch = next(iter(ray_dataset(str(out), "train").iter_torch_batches(batch_size=4, collate_fn=TensorCollate())))
    assert batch["mel"].shape == (4, 1, N_MELS, N_FRAMES) and batch["chord_root"].shape == (4, N_FRAMES)


def test_rerun_resumes_and_another_config_is_refused(built, features):
    out, _, _ = built
    again = run_build_dataset(str(features), str(out), load_dataset_config(None, DATASET), show_progress=False)
    assert (again.skipped, again.built, again.shards) == (3, 0, [])
    assert read_card(str(out)).segments == 24
    with pytest.raises(OstinatoError, match="different configuration"):
        run_build_dataset(str(features), str(out), load_dataset_config(None, [*DATASET, "mel.n_mels=16"]),
                          show_progress=False)
    with pytest.raises(OstinatoError, match="cannot share a training set"):
        run_build_dataset(str(features), str(out), load_dataset_config(None, [*DATASET, "mel.n_mels=16"]),
                          force=True, show_progress=False)
    result = CliRunner().invoke(app, ["build-dataset", str(features), str(out), "--set", "segment.n_frames=64"])
    assert result.exit_code == 1 and "different configuration" in result.output
    result = CliRunner().invoke(app, ["build-dataset", str(features), str(out), *DATASET_SETS])
    assert result.exit_code == 0 and "3 already built, skipped" in result.output
    train = read_card(str(out)).splits["train"]
    assert re.search(rf"train split\s+│ {train.segments} segments, {train.tracks} tracks", result.output)


def test_moved_audio_is_found_with_audio_root_and_a_missing_file_is_counted(features, demo_corpus, tmp_path):
    moved = tmp_path / "new-mount"
    shutil.copytree(demo_corpus, moved)
    (moved / "01_ballad_D_major.mp3").unlink()
    out = tmp_path / "trainset"
    summary = run_build_dataset(str(features), str(out), load_dataset_config(None, DATASET),
                                audio_root=str(moved), show_progress=False)
    assert (summary.built, summary.errors, summary.segments) == (2, 1, 16)
    (reason, count), = summary.error_reasons.items()
    assert count == 1 and "No such file" in reason
    assert [path.rsplit("/", 1)[-1] for path, _ in summary.failed] == ["01_ballad_D_major.mp3"]
    assert summary.failed[0][0].startswith(str(moved))  # the relocated path, not the analysed one
    assert read_card(str(out)).segments == 16

    # A failed track is listed in TRAINSET/_errors/: the next run skips it, --retry-errors builds it.
    shutil.copy(demo_corpus / "01_ballad_D_major.mp3", moved / "01_ballad_D_major.mp3")
    again = run_build_dataset(str(features), str(out), load_dataset_config(None, DATASET),
                              audio_root=str(moved), show_progress=False)
    assert (again.built, again.errors, again.earlier_errors) == (0, 0, 1)
    retried = run_build_dataset(str(features), str(out), load_dataset_config(None, DATASET),
                                audio_root=str(moved), retry_errors=True, show_progress=False)
    assert (retried.built, retried.errors, retried.retried, retried.skipped) == (1, 0, 1, 2)
    assert read_card(str(out)).segments == 24


def test_features_and_trainset_by_s3_uri(built, features, s3_bucket):
    """FEATURES read from and TRAINSET written to an S3-compatible bucket; the loaders read it back by URI.
    (The audio stays local: Ray workers started before the test server cannot reach it.)"""
    client, bucket = s3_bucket
    for path in features.rglob("*"):
        if path.is_file():
            client.upload_file(str(path), bucket, f"features/{path.relative_to(features)}")
    remote_out = f"s3://{bucket}/trainset"
    summary = run_build_dataset(f"s3://{bucket}/features", remote_out, load_dataset_config(None, DATASET),
                                show_progress=False)
    assert (summary.built, summary.errors, summary.segments) == (3, 0, 24)
    local = read_card(str(built[0]))
    remote = read_card(remote_out)
    assert {k: v.segments for k, v in remote.splits.items()} == {k: v.segments for k, v in local.splits.items()}
    assert remote.mel_mean == pytest.approx(local.mel_mean, abs=1e-6)
    assert len(SegmentDataset(remote_out, "train")) == local.splits["train"].segments
    assert ray_dataset(remote_out, "val").count() == local.splits["val"].segments
    again = run_build_dataset(f"s3://{bucket}/features", remote_out, load_dataset_config(None, DATASET),
                              show_progress=False)
    assert (again.skipped, again.built) == (3, 0)


def test_an_interrupted_build_is_finished_by_running_it_again(built, features, tmp_path):
    """A run that stopped after one track (its shard written) and left a half-written shard behind: the re-run
    builds only the other tracks, ignores the half-written file, and ends with the same set as one clean run."""
    import pyarrow.parquet as pq

    one = tmp_path / "features-one"
    shutil.copytree(features, one)
    for shard in (one / "tracks").glob("*.parquet"):
        pq.write_table(pq.read_table(shard).slice(0, 1), shard)  # keep one track per shard
    out = tmp_path / "trainset"
    first = run_build_dataset(str(one), str(out), load_dataset_config(None, DATASET), show_progress=False)
    assert first.built >= 1
    (out / "train").mkdir(exist_ok=True)
    (out / "train" / ".part-dead-00000.parquet.1234.inprogress").write_bytes(b"PAR1 half a shard")
    second = run_build_dataset(str(features), str(out), load_dataset_config(None, DATASET), show_progress=False)
    assert (second.skipped, second.built) == (first.built, 3 - first.built)
    segments = pd.concat([pd.read_parquet(out / split) for split in ("train", "val")], ignore_index=True)
    assert segments.segment_id.is_unique and len(segments) == 24
    clean = read_card(str(built[0]))
    card = read_card(str(out))
    assert {k: (v.segments, v.tracks) for k, v in card.splits.items()} == \
        {k: (v.segments, v.tracks) for k, v in clean.splits.items()}
    assert card.mel_mean == pytest.approx(clean.mel_mean, abs=1e-6) and len(card.runs) == 2
