"""Pieces of build-dataset on known answers: frame-aligned conditions, log-mel, segment cutting, paths, config."""

from __future__ import annotations

import math

import numpy as np
import pytest

from ostinato.datasets import vocab
from ostinato.datasets.build import common_folder, relocate
from ostinato.datasets.conditions import frame_conditions, global_conditions
from ostinato.datasets.config import load_dataset_config
from ostinato.datasets.mel import log_mel
from ostinato.datasets.segments import segment_starts
from ostinato.errors import ConfigError

FRAME_RATE = 10.0  # frames per second: frame t is at t / 10 s

ROW = {
    "track_id": "t",
    # 120 BPM in 4/4 from 0 s: beats every 0.5 s, downbeats at 0, 2, 4 s
    "beats": [{"time_s": 0.5 * i, "bar": i // 4, "position": i % 4 + 1} for i in range(12)],
    "beats_per_bar": 4,
    "chords": [{"start_s": 0.0, "end_s": 2.0, "root_pc": 7, "quality": "maj"},
               {"start_s": 2.0, "end_s": 4.0, "root_pc": 2, "quality": "7"},
               {"start_s": 4.0, "end_s": 6.0, "root_pc": -1, "quality": "N"}],
    "roman": [{"start_s": 0.0, "end_s": 2.0, "figure": "I", "function": "tonic"},
              {"start_s": 2.0, "end_s": 4.0, "figure": "V65", "function": "dominant"}],
    "sections": [{"start_s": 0.0, "end_s": 3.0, "label": "A"}, {"start_s": 3.0, "end_s": 6.0, "label": "B"}],
    "key": "G", "mode": "major", "meter": "4/4", "tempo_bpm": 120.0, "genre": "Pop", "loudness_lufs": -14.0,
    "harmonic_complexity": None, "rhythmic_complexity": float("nan"),
}


def test_frames_take_the_span_holding_their_time():
    f = frame_conditions(ROW, start_s=1.0, n_frames=32, frame_rate=FRAME_RATE)  # 1.0 .. 4.1 s
    t = 1.0 + np.arange(32) / FRAME_RATE
    assert (f["chord_root"][t < 2.0] == 8).all() and (f["chord_root"][(t >= 2.0) & (t < 4.0)] == 3).all()
    assert (f["chord_quality"][(t >= 2.0) & (t < 4.0)] == vocab.encode_chord_quality("7")).all()
    assert (f["chord_root"][t >= 4.0] == 0).all()  # "N": no chord
    assert vocab.decode_roman(int(f["roman"][15])) == "V7"  # V65 folded to root position
    assert (f["roman"][t >= 4.0] == 0).all() and (f["function"][t < 2.0] == vocab.encode_function("tonic")).all()
    assert (f["section"][t < 3.0] == 1).all() and (f["section"][t >= 3.0] == 2).all()


def test_downbeats_and_phases():
    f = frame_conditions(ROW, start_s=1.0, n_frames=32, frame_rate=FRAME_RATE)
    assert np.nonzero(f["downbeat"])[0].tolist() == [10, 30]  # downbeats at 2.0 and 4.0 s
    assert f["beat_phase"][:6] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8, 0.0], abs=1e-6)  # 1.0 s is a beat
    assert f["bar_phase"][0] == pytest.approx(0.5)  # 1.0 s is beat 3 of the bar starting at 0
    assert f["bar_phase"][10] == 0.0 and f["bar_phase"][9] == pytest.approx(0.95)
    assert (f["beat_phase"] < 1).all() and (f["bar_phase"] < 1).all()


def test_rows_without_theory_columns_give_zeros_and_nans():
    bare = {"track_id": "t", "beats": None, "chords": None, "roman": None, "sections": None}
    f = frame_conditions(bare, start_s=0.0, n_frames=16, frame_rate=FRAME_RATE)
    assert all(not v.any() for v in f.values())
    g = global_conditions(bare)
    assert g["key"] == g["mode"] == g["time_signature"] == g["genre"] == 0 and math.isnan(g["bpm"])
    g = global_conditions(ROW)
    assert (g["key"], g["mode"], g["genre"]) == (8, 1, vocab.encode_genre("pop")) and g["bpm"] == 120.0
    assert math.isnan(g["harmonic_complexity"]) and math.isnan(g["rhythmic_complexity"])


def test_log_mel_of_a_sine_peaks_at_its_frequency():
    sr, hop = 22050, 256
    y = 0.5 * np.sin(2 * np.pi * 440.0 * np.arange(sr) / sr)
    mel = log_mel(y, sr=sr, n_fft=2048, hop_length=hop, n_mels=128, fmin=0.0, fmax=sr / 2)
    assert mel.shape == (128, 1 + sr // hop) and mel.dtype == np.float32
    from ostinato.analysis.librosa_import import librosa

    centres = librosa.mel_frequencies(n_mels=128, fmin=0.0, fmax=sr / 2)
    peak = centres[int(np.argmax(mel[:, mel.shape[1] // 2]))]
    assert abs(peak - 440.0) < 40.0
    silence = log_mel(np.zeros(4096), sr=sr, hop_length=hop, n_mels=16)
    assert np.allclose(silence, np.log(1e-5))


def test_segment_starts():
    assert segment_starts(1034, n_frames=128, hop_frames=128).tolist() == [128 * k for k in range(8)]
    assert segment_starts(256, n_frames=128, hop_frames=64).tolist() == [0, 64, 128]
    assert segment_starts(100, n_frames=128, hop_frames=128).tolist() == []


def test_audio_root_relocates_relative_and_moved_absolute_paths():
    paths = ["/old/mount/music/a/x.mp3", "/old/mount/music/b/y.mp3"]
    assert common_folder(paths) == "/old/mount/music"
    assert relocate(paths[0], audio_root="/new", old_root="/old/mount/music") == "/new/a/x.mp3"
    assert relocate("a/x.mp3", audio_root="/new/", old_root=None) == "/new/a/x.mp3"
    assert relocate(paths[0], audio_root=None, old_root="/old/mount/music") == paths[0]
    assert common_folder(["s3://bucket/corpus/a/x.mp3", "s3://bucket/corpus/y.mp3"]) == "s3://bucket/corpus"
    assert relocate("s3://bucket/corpus/a/x.mp3", audio_root="/local", old_root="s3://bucket/corpus") == \
        "/local/a/x.mp3"


def test_dataset_config_segments_and_errors():
    cfg = load_dataset_config("configs/dataset.yaml")
    assert cfg.segment.frames(cfg.mel) == 512 and cfg.segment.hop_frames(cfg.mel) == 512
    cfg = load_dataset_config(None, ["segment.seconds=3", "segment.hop_s=1.5"])
    assert cfg.segment.frames(cfg.mel) == 256  # 3 s = 258.4 frames -> nearest multiple of 16
    assert cfg.segment.hop_frames(cfg.mel) == 129
    assert cfg.results_hash() != load_dataset_config(None, ["segment.seconds=3"]).results_hash()
    with pytest.raises(ConfigError, match="multiple of 16"):
        load_dataset_config(None, ["segment.n_frames=100"])
    with pytest.raises(ConfigError, match="exactly one"):
        load_dataset_config("configs/dataset.yaml", ["segment.seconds=3"])
    with pytest.raises(ConfigError, match="mel.bogus: unknown key"):
        load_dataset_config(None, ["mel.bogus=1"])


def test_pandas_rows_read_like_pyarrow_rows():
    """pandas gives list columns as numpy arrays and nulls as NaN; conditions must not care."""
    as_pandas = {**ROW, "chords": np.array(ROW["chords"], dtype=object), "beats": np.array(ROW["beats"]),
                 "beats_per_bar": 4.0, "genre": float("nan"), "sections": None}
    a = frame_conditions(ROW, start_s=0.0, n_frames=40, frame_rate=FRAME_RATE)
    b = frame_conditions(as_pandas, start_s=0.0, n_frames=40, frame_rate=FRAME_RATE)
    for name in ("chord_root", "chord_quality", "downbeat", "beat_phase", "bar_phase"):
        assert np.array_equal(a[name], b[name])
    assert not b["section"].any() and global_conditions(as_pandas)["genre"] == 0
