"""musicnn's taggers without TensorFlow: the checkpoint reader, and the PyTorch port on audio with known answers.

The tests that need musicnn's checkpoints skip when neither the ``musicnn`` package nor
``OSTINATO_MUSICNN_DIR`` provides them; the reader's own round trip always runs.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import soxr

from ostinato.analysis import musicnn_tagger as mt
from ostinato.analysis.tf_checkpoint import TABLE_MAGIC, CheckpointError, read_checkpoint, read_index
from ostinato.demo import synth
from ostinato.errors import AnalysisError, WeightsMissingError

SR = 22050
#: numpy dtype -> TensorFlow DataType enum value, for the writer below.
TF_DTYPES = {np.dtype("<f4"): 1, np.dtype("<f8"): 2, np.dtype("<i4"): 3, np.dtype("<i8"): 9}


# --- a minimal tensor-bundle writer, independent of the reader --------------------------------------------


def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out) + bytes([n])


def _field(number: int, payload: bytes | int) -> bytes:
    """A protobuf field: varint when ``payload`` is an int, length-delimited when bytes."""
    if isinstance(payload, int):
        return _varint(number << 3) + _varint(payload)
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _block(entries: list[tuple[bytes, bytes]], compression: int) -> bytes:
    """An SSTable block: prefix-compressed entries, one restart point at 0, then the 5-byte trailer."""
    body, previous = bytearray(), b""
    for key, value in entries:
        shared = 0
        while shared < min(len(key), len(previous)) and key[shared] == previous[shared]:
            shared += 1
        body += _varint(shared) + _varint(len(key) - shared) + _varint(len(value)) + key[shared:] + value
        previous = key
    body += struct.pack("<II", 0, 1)
    return bytes(body) + bytes([compression]) + b"\0\0\0\0"  # the crc is not checked by the reader


def write_bundle(prefix: Path, tensors: dict[str, np.ndarray], *, per_block: int = 2, compression: int = 0) -> None:
    """Write ``tensors`` as a one-shard TF checkpoint at ``prefix``, ``per_block`` index entries per data block."""
    data = bytearray()
    entries = [(b"", _field(1, 1))]  # BundleHeaderProto: num_shards = 1, little-endian
    for name in sorted(tensors):
        array = np.asarray(tensors[name])  # tobytes() writes C order; ascontiguousarray would make 0-d 1-d
        dims = b"".join(_field(2, _field(1, d)) for d in array.shape)
        proto = _field(1, TF_DTYPES[array.dtype]) + _field(2, dims) + _field(4, len(data)) + _field(5, array.nbytes)
        entries.append((name.encode(), proto))
        data += array.tobytes()
    table, index = bytearray(), []
    for i in range(0, len(entries), per_block):
        chunk = entries[i : i + per_block]
        block = _block(chunk, compression)
        index.append((chunk[-1][0], _varint(len(table)) + _varint(len(block) - 5)))
        table += block
    meta_handle = _varint(len(table)) + _varint(8)
    table += _block([], 0)
    index_block = _block(index, 0)
    index_handle = _varint(len(table)) + _varint(len(index_block) - 5)
    table += index_block
    table += (meta_handle + index_handle).ljust(40, b"\0") + struct.pack("<Q", TABLE_MAGIC)
    Path(f"{prefix}.index").write_bytes(bytes(table))
    Path(f"{prefix}.data-00000-of-00001").write_bytes(bytes(data))


def test_reader_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    tensors = {
        "conv2d/kernel": rng.standard_normal((7, 3, 1, 4)).astype(np.float32),
        "conv2d/bias": rng.standard_normal(4).astype(np.float32),
        "conv2d_1/kernel": rng.standard_normal((2, 5)).astype(np.float64),
        "global_step": np.array(12345678901, dtype=np.int64),
        "table/ids": np.arange(-3, 300, dtype=np.int32),
    }
    write_bundle(tmp_path / "model", tensors)
    got = read_checkpoint(tmp_path / "model")
    assert list(got) == sorted(tensors)
    for name, value in tensors.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape
        np.testing.assert_array_equal(got[name], value)


def test_reader_rejects_what_it_cannot_read(tmp_path):
    write_bundle(tmp_path / "snappy", {"x": np.zeros(3, np.float32)}, compression=1)
    with pytest.raises(CheckpointError, match="snappy"):
        read_index(tmp_path / "snappy")
    (tmp_path / "junk.index").write_bytes(b"\0" * 64)
    with pytest.raises(CheckpointError, match="magic"):
        read_index(tmp_path / "junk")


# --- musicnn's checkpoints ------------------------------------------------------------------------------


def _tagger(model: str) -> mt.Tagger:
    try:
        return mt.load_musicnn(model)
    except WeightsMissingError as exc:
        pytest.skip(f"musicnn's checkpoints are not available: {exc}")


@pytest.mark.parametrize("model", ["MSD_musicnn", "MTT_musicnn"])
def test_checkpoint_variables(model):
    _tagger(model)  # skips without the checkpoints; loading checks every network variable's shape
    prefix = f"{mt.checkpoint_dir(model)}/"
    index = read_index(prefix)
    tensors = read_checkpoint(prefix)
    assert len(tensors) == len(index) == 150  # 66 network variables, 2 Adam slots each, 2 Adam powers
    for name, entry in index.items():
        assert tensors[name].shape == entry.shape and tensors[name].dtype == np.float32
        assert np.isfinite(tensors[name]).all(), name
    assert tensors["conv2d/kernel"].shape == (7, 38, 1, 204)
    assert tensors["conv2d_5/kernel"].shape == (7, 561, 1, 64)
    assert tensors["dense/kernel"].shape == (1506, 200)
    assert all((tensors[k] > 0).all() for k in tensors if k.endswith("moving_variance"))


def test_patches_and_shapes():
    tagger = _tagger("MTT_musicnn")
    y = synth.drum_groove(120, 6, sr=SR)  # 12 s: four whole 2.992 s patches
    labels, probs = mt.tag_probabilities(y, SR, model="MTT_musicnn")
    assert labels == list(tagger.labels) and len(labels) == 50
    assert probs.shape == (4, 50) and probs.dtype == np.float32
    assert ((probs > 0) & (probs < 1)).all()
    _, two = mt.tag_probabilities(y, SR, model="MTT_musicnn", max_patches=2)
    np.testing.assert_allclose(two, probs[[0, 3]], atol=1e-6)  # the first and the last


def test_short_audio_and_missing_weights(tmp_path, monkeypatch):
    with pytest.raises(AnalysisError, match="shorter than one"):
        mt.patches(np.zeros((mt.PATCH_FRAMES - 1, mt.N_MELS), np.float32))
    monkeypatch.setattr(mt.importlib.util, "find_spec", lambda name: None)
    monkeypatch.setattr(mt, "SETUP_TARGET", tmp_path / "not-installed")
    monkeypatch.setenv(mt.ENV_DIR, str(tmp_path))
    with pytest.raises(WeightsMissingError, match="pip install --no-deps 'musicnn==0.1.0'.*features.music_tagger=none"):
        mt.checkpoint_dir("MSD_musicnn")


def _mean_tags(y: np.ndarray, model: str) -> dict[str, float]:
    labels, probs = mt.tag_probabilities(y, SR, model=model)
    return dict(zip(labels, probs.mean(axis=0).tolist(), strict=True))


def test_piano_and_drums_get_their_tags():
    _tagger("MTT_musicnn")
    melody = [60, 64, 67, 72, 71, 67, 64, 62, 60, 65, 69, 72, 70, 67, 64, 60]
    notes = [synth.NoteEvent(0.5 * i, 0.9, m, 0.8) for i, m in enumerate(melody * 2)]
    notes += [synth.NoteEvent(2.0 * i, 2.0, m, 0.5) for i, m in enumerate([36, 41, 43, 36] * 2)]
    piano = _mean_tags(synth.render_notes(notes, sr=SR, decay_per_s=3.0), "MTT_musicnn")
    drums = _mean_tags(synth.drum_groove(120, 8, sr=SR), "MTT_musicnn")
    # Measured (mean of 5 patches): the decaying harmonic tones get piano 0.68 (its top tag), classical 0.07,
    # and drums, techno, beat under 0.01; the groove gets beat 0.44 (top), drums 0.26, techno 0.22, piano 0.02.
    # The asserts keep a factor 5 (ratios measured: 12 and 11) and half the measured top probabilities.
    assert max(piano, key=piano.get) == "piano" and piano["piano"] > 0.3
    assert min(piano["piano"], piano["classical"]) > 5 * max(piano["drums"], piano["techno"], piano["beat"])
    assert max(drums, key=drums.get) in {"beat", "beats", "drums", "techno"} and drums["beat"] > 0.2
    assert min(drums["beat"], drums["drums"], drums["techno"]) > 5 * drums["piano"]


@pytest.mark.parametrize("max_patches", [None, 1, 2, 3])
def test_patch_inputs_equal_the_whole_track_spectrogram(max_patches):
    # 10.5 s of a chord and noise at 22 050 Hz: three whole patches; the excerpts' spectrograms are the whole
    # track's frames, at the track's edges too.
    rng = np.random.default_rng(0)
    chord = synth.render_chords([(0.0, 10.5, [60, 64, 67])], sr=22050, total_s=10.5)
    y = (0.3 * chord + 0.05 * rng.standard_normal(len(chord))).astype(np.float32)
    whole = mt.patches(mt.log_mel(soxr.resample(y, 22050, mt.SR).astype(np.float32)), max_patches=max_patches)
    np.testing.assert_allclose(mt.patch_inputs(y, 22050, max_patches=max_patches), whole, atol=1e-4)
