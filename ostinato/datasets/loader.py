"""Reading a training set: its card, a Ray Dataset of a split, a plain torch Dataset, and batch -> tensors.

``to_tensors`` is the one conversion from stored columns to model inputs, shared by both readers:

- ``mel``: (B, 1, n_mels, n_frames) float32 log-mel, unnormalised (``card.mel_mean``/``card.mel_std``)
- frame ids ``chord_root`` .. ``section``: (B, n_frames) int64
- ``beat_phase``, ``bar_phase``, ``downbeat``: (B, n_frames) float32
- global ids ``key``, ``mode``, ``time_signature``, ``genre``: (B,) int64
- global values ``bpm``, ``loudness_lufs``, ``harmonic_complexity``, ``rhythmic_complexity``: (B,) float32 with
  NaN replaced by 0, plus ``<name>_known`` (B,) float32 masks (1 where the value was known)

String columns (``segment_id``, ``track_id``, ``split``) are left out; ``start_s`` and ``duration_s`` pass
through as float32.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import torch
from ray.data.collate_fn import ArrowBatchCollateFn

from ostinato.datasets.shards import (
    FRAME_ID_COLUMNS,
    FRAME_PHASE_COLUMNS,
    GLOBAL_ID_COLUMNS,
    GLOBAL_VALUE_COLUMNS,
    SPLITS,
    TrainsetCard,
    TrainsetError,
    column_array,
    read_card,
)
from ostinato.datasets.stats import split_dataset
from ostinato.storage import resolve

__all__ = ["SegmentDataset", "TensorCollate", "TrainsetCard", "ray_dataset", "read_card", "to_tensors"]


def _dense(values: Any) -> np.ndarray:
    """A batch column as a dense numpy array: Ray may hand fixed-size lists over as an object array of rows."""
    if isinstance(values, torch.Tensor):
        return values.numpy()
    if isinstance(values, pa.ChunkedArray | pa.Array):
        return column_array(pa.table({"c": values}), "c")
    array = np.asarray(values)
    if array.dtype == object:
        array = np.stack([np.asarray(v) for v in array])
    return array


def arrow_columns(table: pa.Table | pa.RecordBatch) -> dict[str, np.ndarray]:
    """Numeric columns of stored rows as numpy arrays, fixed-size lists as dense ``(rows, size)`` (no per-row
    objects); string columns are left out."""
    out = {}
    for f in table.schema:
        if pa.types.is_fixed_size_list(f.type):
            out[f.name] = column_array(table, f.name)
        elif not pa.types.is_string(f.type):
            out[f.name] = table.column(f.name).to_numpy()
    return out


def to_tensors(batch: Mapping[str, Any] | pa.Table | pa.RecordBatch) -> dict[str, torch.Tensor]:
    """Model inputs from a batch of stored columns (numpy arrays, as from ``iter_batches``, or an Arrow table);
    see the module docstring for names, shapes and dtypes. The mel's ``n_mels`` is its width over the frame
    columns' width."""
    if isinstance(batch, pa.Table | pa.RecordBatch):
        batch = arrow_columns(batch)
    frames = _dense(batch["chord_root"])
    b, n_frames = frames.shape
    mel = _dense(batch["mel"]).astype(np.float32, copy=False)
    if mel.ndim == 2:
        if mel.shape[1] % n_frames:
            raise TrainsetError(f"mel width {mel.shape[1]} is not a multiple of n_frames {n_frames}")
        mel = mel.reshape(b, mel.shape[1] // n_frames, n_frames)
    if not mel.flags.writeable:  # torch warns on read-only buffers (zero-copy Arrow memory)
        mel = mel.copy()
    out = {"mel": torch.from_numpy(np.ascontiguousarray(mel)).reshape(b, 1, mel.shape[-2], n_frames)}
    for name in FRAME_ID_COLUMNS:
        out[name] = torch.from_numpy(_dense(batch[name]).astype(np.int64))
    for name in (*FRAME_PHASE_COLUMNS, "downbeat"):
        out[name] = torch.from_numpy(_dense(batch[name]).astype(np.float32))
    for name in GLOBAL_ID_COLUMNS:
        out[name] = torch.from_numpy(np.asarray(batch[name]).astype(np.int64).reshape(b))
    for name in GLOBAL_VALUE_COLUMNS:
        values = np.asarray(batch[name], dtype=np.float32).reshape(b)
        known = np.isfinite(values)
        out[name] = torch.from_numpy(np.where(known, values, 0.0).astype(np.float32))
        out[f"{name}_known"] = torch.from_numpy(known.astype(np.float32))
    for name in ("start_s", "duration_s"):
        if name in batch:
            out[name] = torch.from_numpy(np.array(batch[name], dtype=np.float32).reshape(b))
    return out


class TensorCollate(ArrowBatchCollateFn):
    """``to_tensors`` as the collate object Ray Data wants (plain functions are deprecated since Ray 2.47):
    ``ds.iter_torch_batches(batch_size=32, collate_fn=TensorCollate())``. It takes Arrow batches, so the
    fixed-size lists become dense arrays without Ray's per-row numpy objects."""

    def __call__(self, batch: pa.Table) -> dict[str, torch.Tensor]:
        return to_tensors(batch)


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise TrainsetError(f"unknown split {split!r}; a training set has {SPLITS}")


def ray_dataset(path: str, split: str = "train", **read_args: Any):
    """A ``ray.data.Dataset`` over the Parquet shards of ``split`` (local path or URI).

    Use ``ds.iter_torch_batches(batch_size=..., collate_fn=TensorCollate())`` for tensors, or ``iter_batches``
    and ``to_tensors``. Extra keyword arguments go to ``ray.data.read_parquet`` (e.g. ``columns``).
    """
    import ray.data

    _check_split(split)
    fs, root = resolve(path)
    if split_dataset(path, split) is None:
        raise TrainsetError(f"{path} has no {split} split (no {split}/ folder of shards)")
    return ray.data.read_parquet(f"{root}/{split}", filesystem=fs, file_extensions=["parquet"], **read_args)


class SegmentDataset(torch.utils.data.Dataset):
    """The segments of one split as a map-style torch Dataset, for single-process training and baselines.

    Shards are read once into Arrow memory (about ``2 * n_mels * n_frames`` bytes per segment); an item is
    ``to_tensors`` of one row with the batch dimension removed (``mel`` (1, n_mels, n_frames)), so the default
    ``DataLoader`` collate gives the same batches as ``to_tensors`` on a batch.
    """

    def __init__(self, path: str, split: str = "train") -> None:
        _check_split(split)
        ds = split_dataset(path, split)
        if ds is None:
            raise TrainsetError(f"{path} has no {split} split (no {split}/ folder of shards)")
        self.card = read_card(path)
        columns = [n for n in ds.schema.names if n not in ("segment_id", "track_id", "split")]
        self._table = ds.to_table(columns=columns).combine_chunks()
        self._ids = ds.to_table(columns=["segment_id"]).column("segment_id").to_pylist()

    def __len__(self) -> int:
        return self._table.num_rows

    def segment_id(self, index: int) -> str:
        return self._ids[index]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not -len(self) <= index < len(self):
            raise IndexError(f"segment {index} out of range for {len(self)} segments")
        row = self._table.slice(index % len(self), 1)
        return {name: tensor[0] for name, tensor in to_tensors(row).items()}
