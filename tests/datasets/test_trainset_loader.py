"""The training-set contract on the tiny synthetic set: card, shards readable by pandas/DuckDB, torch loaders."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
import torch

from ostinato.datasets import vocab
from ostinato.datasets.loader import SegmentDataset, read_card, to_tensors
from ostinato.datasets.shards import TrainsetError, column_array, segments_table
from ostinato.datasets.split import split_of
from ostinato.datasets.stats import split_dataset
from ostinato.testing.trainset import write_tiny_trainset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_trainset(tmp_path_factory.mktemp("tiny"), n_tracks=4, segments_per_track=4, n_mels=32,
                               n_frames=64, seed=3)


def test_card_counts_hours_and_vocab(tiny):
    card = read_card(str(tiny))
    assert card.n_mels == 32 and card.n_frames == 64 and card.segment_s == pytest.approx(64 * 256 / 8000)
    assert (card.splits["train"].segments, card.splits["train"].tracks) == (12, 3)
    assert (card.splits["val"].segments, card.splits["val"].tracks) == (4, 1)
    assert card.hours == pytest.approx(16 * card.segment_s / 3600, rel=1e-4)
    assert card.vocab_version == vocab.VOCAB_VERSION and card.vocab_sizes == vocab.vocab_sizes()
    assert card.coverage["chord_root"] == 1.0 and card.coverage["rhythmic_complexity"] == 0.0
    assert card.coverage["bpm"] == 1.0 and card.coverage["beat_grid"] > 0.99
    # The mel floor is -8 with chord stacks of +6 on a few bins: mean a little above -8, std about 2.
    assert -8 < card.mel_mean < -6 and 1 < card.mel_std < 3.5


def test_shards_read_with_pandas_and_duckdb_and_splits_are_disjoint(tiny):
    train = pd.read_parquet(tiny / "train")
    val = pd.read_parquet(tiny / "val")
    assert len(train) == 12 and len(val) == 4
    assert not set(train.track_id) & set(val.track_id)
    assert len(train.mel.iloc[0]) == 32 * 64 and train.mel.iloc[0].dtype == np.float16
    stored = train.mel.iloc[0].astype(np.float64)  # per-segment stats describe the stored float16 values
    assert train.mel_mean.iloc[0] == pytest.approx(stored.mean(), rel=1e-6)
    assert train.mel_std.iloc[0] == pytest.approx(stored.std(), rel=1e-6)
    con = duckdb.connect()
    rows = con.execute(
        f"SELECT split, count(*), count(DISTINCT track_id), min(len(chord_root)) "
        f"FROM read_parquet('{tiny}/*/*.parquet') GROUP BY split ORDER BY split"
    ).fetchall()
    assert rows == [("train", 12, 3, 64), ("val", 4, 1, 64)]


def test_segment_dataset_batches_equal_to_tensors_of_the_stored_rows(tiny):
    ds = SegmentDataset(str(tiny), "train")
    assert len(ds) == 12
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=5)))
    assert batch["mel"].shape == (5, 1, 32, 64) and batch["mel"].dtype == torch.float32
    assert batch["chord_root"].shape == (5, 64) and batch["chord_root"].dtype == torch.int64
    assert batch["key"].shape == (5,) and batch["bpm_known"].tolist() == [1.0] * 5
    assert batch["rhythmic_complexity"].tolist() == [0.0] * 5  # NaN -> 0 with a zero mask
    assert batch["rhythmic_complexity_known"].tolist() == [0.0] * 5
    table = split_dataset(str(tiny), "train").to_table()
    stored = {n: column_array(table, n) if n in ("mel", "chord_root", "downbeat", "beat_phase") else
              table.column(n).to_numpy() for n in ("mel", "chord_root", "downbeat", "beat_phase")}
    assert np.array_equal(batch["mel"][:, 0].numpy(), stored["mel"][:5].reshape(5, 32, 64).astype(np.float32))
    assert np.array_equal(batch["chord_root"].numpy(), stored["chord_root"][:5])
    assert ((batch["beat_phase"] >= 0) & (batch["beat_phase"] < 1)).all()
    assert ((batch["bar_phase"] >= 0) & (batch["bar_phase"] < 1)).all()


def test_tiny_mels_follow_their_chord_conditions(tiny):
    ds = SegmentDataset(str(tiny), "val")
    item = ds[0]
    mel, roots = item["mel"][0].numpy(), item["chord_root"].numpy()
    for t in range(0, 64, 7):
        root = vocab.decode_chord_root(int(roots[t]))
        assert mel[root * 32 // 12, t] > -4  # the root's bin carries the +6 stack
        floor = -7 + 2 * float(item["downbeat"][t])  # downbeat frames are 2 louder on every bin
        assert mel[:, t].min() < floor  # bins off the chord stay at the floor


def test_hash_split_is_stable_and_near_the_share():
    ids = [f"track{i}" for i in range(2000)]
    splits = [split_of(t, val_share=0.1, seed=0) for t in ids]
    assert splits == [split_of(t, val_share=0.1, seed=0) for t in ids]
    assert 0.08 < splits.count("val") / len(ids) < 0.12
    assert splits != [split_of(t, val_share=0.1, seed=1) for t in ids]


def test_segments_table_rejects_a_wrong_shape():
    n, n_mels, n_frames = 2, 8, 16
    columns = {"segment_id": ["a:0", "a:16"], "track_id": ["a", "a"], "split": ["train"] * 2,
               "start_s": np.zeros(n), "duration_s": np.ones(n), "mel": np.zeros((n, n_mels, n_frames + 1))}
    for name in ("chord_root", "chord_quality", "roman", "function", "section", "downbeat", "beat_phase",
                 "bar_phase"):
        columns[name] = np.zeros((n, n_frames))
    for name in ("key", "mode", "time_signature", "genre", "bpm", "loudness_lufs", "harmonic_complexity",
                 "rhythmic_complexity"):
        columns[name] = np.zeros(n)
    with pytest.raises(TrainsetError, match="column mel has shape"):
        segments_table(columns, n_mels=n_mels, n_frames=n_frames)
    columns["mel"] = np.zeros((n, n_mels, n_frames))
    columns["beat_phase"] = np.full((n, n_frames), 0.99999)  # would round to 1.0 in float16
    table = segments_table(columns, n_mels=n_mels, n_frames=n_frames)
    assert column_array(table, "beat_phase").max() < 1.0


def test_reading_a_folder_without_a_card_says_so(tmp_path):
    with pytest.raises(TrainsetError, match="not a training set"):
        read_card(str(tmp_path))
    with pytest.raises(TrainsetError, match="no train split"):
        SegmentDataset(str(tmp_path), "train")


def test_to_tensors_accepts_object_rows_as_ray_may_give():
    batch = {"chord_root": np.array([np.arange(4, dtype=np.int16)] * 2, dtype=object),
             "mel": np.zeros((2, 3 * 4), dtype=np.float16)}
    for name in ("chord_quality", "roman", "function", "section", "downbeat", "beat_phase", "bar_phase"):
        batch[name] = np.zeros((2, 4))
    for name in ("key", "mode", "time_signature", "genre"):
        batch[name] = np.array([1, 2])
    for name in ("bpm", "loudness_lufs", "harmonic_complexity", "rhythmic_complexity"):
        batch[name] = np.array([120.0, np.nan], dtype=np.float32)
    out = to_tensors(batch)
    assert out["mel"].shape == (2, 1, 3, 4) and out["chord_root"][1].tolist() == [0, 1, 2, 3]
    assert out["bpm"].tolist() == [120.0, 0.0] and out["bpm_known"].tolist() == [1.0, 0.0]
