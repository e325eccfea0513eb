"""The training-set contract: the one place that defines a segment row, the folder layout and the card.

Layout written by ``ostinato build-dataset``::

    TRAINSET/_trainset.json          dataset card (``TrainsetCard``)
    TRAINSET/train/part-*.parquet    one row per segment
    TRAINSET/val/part-*.parquet

Every array column is a ``fixed_size_list`` so a row is a fixed number of bytes and readers get dense
``(rows, size)`` arrays without decoding audio again:

- ``mel``: float16 ``[n_mels * n_frames]``, row-major ``(n_mels, n_frames)``: natural-log mel power
  ``log(mel + 1e-5)``, unnormalised (the card holds the mean and std); ``mel_mean`` and ``mel_std`` float32 are
  that segment's own statistics (computed on write, so cards and silence filters never read the mels).
- frame conditions, one value per mel frame: ``chord_root``, ``chord_quality``, ``roman``, ``function``,
  ``section`` int16 ids (``ostinato.datasets.vocab``); ``downbeat`` int8 (1 on a downbeat's frame);
  ``beat_phase`` and ``bar_phase`` float16 in [0, 1) (0 where no beats are known).
- globals: ``key``, ``mode``, ``time_signature``, ``genre`` int16 ids; ``bpm``, ``loudness_lufs``,
  ``harmonic_complexity``, ``rhythmic_complexity`` float32, NaN when unknown.
"""

from __future__ import annotations

import dataclasses
import io
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ostinato.errors import OstinatoError
from ostinato.storage import resolve, write_atomically

#: Bumped when columns are added, removed or change meaning.
TRAINSET_VERSION = 1

CARD_NAME = "_trainset.json"
SPLITS: tuple[str, ...] = ("train", "val")

#: Floor added to mel power before the log, so silence is ``log(1e-5)`` = -11.5 rather than -inf.
LOG_MEL_FLOOR = 1e-5

FRAME_ID_COLUMNS: tuple[str, ...] = ("chord_root", "chord_quality", "roman", "function", "section")
FRAME_PHASE_COLUMNS: tuple[str, ...] = ("beat_phase", "bar_phase")
GLOBAL_ID_COLUMNS: tuple[str, ...] = ("key", "mode", "time_signature", "genre")
GLOBAL_VALUE_COLUMNS: tuple[str, ...] = ("bpm", "loudness_lufs", "harmonic_complexity", "rhythmic_complexity")
IDENTITY_COLUMNS: tuple[str, ...] = ("segment_id", "track_id", "split", "start_s", "duration_s")

#: Largest float16 below 1: phases are clipped to it so rounding to float16 never yields 1.0.
PHASE_MAX = float(np.nextafter(np.float16(1.0), np.float16(0.0)))


class TrainsetError(OstinatoError):
    """A training-set folder, card or shard does not fit the contract."""


def segment_schema(*, n_mels: int, n_frames: int) -> pa.Schema:
    """Arrow schema of a segment row for mels of ``n_mels`` bins and segments of ``n_frames`` frames."""
    frame_ids = [pa.field(name, pa.list_(pa.int16(), n_frames), nullable=False) for name in FRAME_ID_COLUMNS]
    phases = [pa.field(name, pa.list_(pa.float16(), n_frames), nullable=False) for name in FRAME_PHASE_COLUMNS]
    return pa.schema(
        [
            pa.field("segment_id", pa.string(), nullable=False),  # "{track_id}:{first_frame}"
            pa.field("track_id", pa.string(), nullable=False),
            pa.field("split", pa.string(), nullable=False),
            pa.field("start_s", pa.float64(), nullable=False),  # segment start in the track, seconds
            pa.field("duration_s", pa.float32(), nullable=False),
            pa.field("mel", pa.list_(pa.float16(), n_mels * n_frames), nullable=False),
            pa.field("mel_mean", pa.float32(), nullable=False),  # of this segment's stored (float16) mel
            pa.field("mel_std", pa.float32(), nullable=False),
            *frame_ids,
            pa.field("downbeat", pa.list_(pa.int8(), n_frames), nullable=False),
            *phases,
            *[pa.field(name, pa.int16(), nullable=False) for name in GLOBAL_ID_COLUMNS],
            *[pa.field(name, pa.float32(), nullable=False) for name in GLOBAL_VALUE_COLUMNS],
        ],
        metadata={
            b"ostinato.trainset_version": str(TRAINSET_VERSION).encode(),
            b"ostinato.n_mels": str(n_mels).encode(),
            b"ostinato.n_frames": str(n_frames).encode(),
        },
    )


def _fixed_list(values: np.ndarray, dtype: pa.DataType, size: int) -> pa.FixedSizeListArray:
    flat = pa.array(np.ascontiguousarray(values).reshape(-1), type=dtype)
    return pa.FixedSizeListArray.from_arrays(flat, size)


def segments_table(columns: Mapping[str, Any], *, n_mels: int, n_frames: int) -> pa.Table:
    """Table of segment rows from columnar arrays of ``n`` segments.

    ``columns`` holds ``mel`` (n, n_mels, n_frames) float, each frame column (n, n_frames), each global (n,),
    and ``segment_id``/``track_id``/``split``/``start_s``/``duration_s`` sequences of n; ``mel_mean`` and
    ``mel_std`` are computed here. Raises TrainsetError naming the column whose shape does not fit.
    """
    schema = segment_schema(n_mels=n_mels, n_frames=n_frames)
    columns = {**columns, **_mel_stats(columns.get("mel"))}
    missing = [name for name in schema.names if name not in columns]
    if missing:
        raise TrainsetError(f"segment columns missing: {missing}")
    n = len(columns["segment_id"])
    shapes = {"mel": (n, n_mels, n_frames), **{c: (n, n_frames) for c in (*FRAME_ID_COLUMNS, "downbeat",
                                                                          *FRAME_PHASE_COLUMNS)}}
    arrays = []
    for f in schema:
        values = columns[f.name]
        if f.name in shapes:
            values = np.asarray(values)
            if values.shape != shapes[f.name]:
                raise TrainsetError(f"column {f.name} has shape {values.shape}, expected {shapes[f.name]}")
            if f.name in FRAME_PHASE_COLUMNS:
                values = np.clip(values, 0.0, PHASE_MAX)
            item = f.type.value_type
            arrays.append(_fixed_list(values.astype(item.to_pandas_dtype()), item, f.type.list_size))
        else:
            if len(values) != n:
                raise TrainsetError(f"column {f.name} has {len(values)} values, expected {n}")
            arrays.append(pa.array(np.asarray(values) if f.name not in IDENTITY_COLUMNS[:3] else list(values),
                                   type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _mel_stats(mel: Any) -> dict[str, np.ndarray]:
    if mel is None:
        return {}
    stored = np.asarray(mel).astype(np.float16).astype(np.float64)
    axes = tuple(range(1, stored.ndim))
    return {"mel_mean": stored.mean(axis=axes), "mel_std": stored.std(axis=axes)}


def column_array(table: pa.Table | pa.RecordBatch, name: str) -> np.ndarray:
    """A fixed-size-list column as a dense ``(rows, size)`` numpy array (zero-copy where Arrow allows)."""
    column = table.column(name)
    if isinstance(column, pa.ChunkedArray):
        column = column.combine_chunks()
    size = column.type.list_size
    return column.flatten().to_numpy(zero_copy_only=False).reshape(-1, size)


class SegmentWriter:
    """Buffers segment tables per split and writes them as atomic Parquet shards under ``TRAINSET/<split>/``.

    A shard is written once at least ``rows_per_shard`` rows are buffered for its split. Callers add a whole
    track at a time, so a track's segments are never split across a shard boundary and a crash leaves every
    track either complete or absent (which is what resume relies on).
    """

    def __init__(self, out: str, *, run_id: str, rows_per_shard: int = 256, compression: str = "zstd") -> None:
        self.fs, self.root = resolve(out)
        self.run_id = run_id
        self.rows_per_shard = rows_per_shard
        self.compression = None if compression == "none" else compression
        self._buffers: dict[str, list[pa.Table]] = {split: [] for split in SPLITS}
        self._seq = 0
        self.rows_written = 0
        self.shards: list[str] = []

    def add(self, table: pa.Table, *, split: str) -> None:
        """Buffer one track's segments (all of ``split``); writes the split's shard when it is due."""
        if split not in self._buffers:
            raise TrainsetError(f"unknown split {split!r}; splits are {SPLITS}")
        self._buffers[split].append(table)
        if sum(t.num_rows for t in self._buffers[split]) >= self.rows_per_shard:
            self._write(split)

    def _write(self, split: str) -> None:
        tables = self._buffers[split]
        if not tables:
            return
        table = pa.concat_tables(tables)
        buffer = io.BytesIO()
        # Small row groups keep random access (SegmentDataset) and Ray's block sizes reasonable.
        pq.write_table(table, buffer, compression=self.compression, row_group_size=64)
        path = f"{self.root}/{split}/part-{self.run_id}-{self._seq:05d}.parquet"
        self._seq += 1
        self.fs.create_dir(f"{self.root}/{split}", recursive=True)
        write_atomically(self.fs, path, buffer.getvalue())
        self.rows_written += table.num_rows
        self.shards.append(path)
        tables.clear()

    def close(self) -> None:
        for split in SPLITS:
            self._write(split)


# --- the card -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MelParams:
    """How mels were computed: sample rate (Hz), FFT size and hop (samples), mel bins, band edges (Hz)."""

    sample_rate: int
    n_fft: int
    hop_length: int
    n_mels: int
    fmin: float
    fmax: float

    @property
    def frame_rate(self) -> float:
        """Mel frames per second."""
        return self.sample_rate / self.hop_length


@dataclass(frozen=True)
class SplitStats:
    """Size of one split: segments, distinct tracks, hours of segment audio (overlapping segments count twice)."""

    segments: int = 0
    tracks: int = 0
    hours: float = 0.0


@dataclass
class TrainsetCard:
    """What a training set holds; written as ``_trainset.json`` beside the shards.

    ``coverage`` maps each condition column to the share of its values that are known: frames with a non-zero
    id (frame id columns), frames inside the beat grid (``beat_grid``: what ``downbeat``, ``beat_phase`` and
    ``bar_phase`` are known on), segments with a non-zero id or a finite value (globals). ``mel_mean`` and
    ``mel_std`` are over every mel value of the train split.
    """

    mel: MelParams
    n_frames: int
    segment_hop_s: float
    val_share: float
    seed: int
    vocab_version: int
    vocab_sizes: dict[str, int]
    splits: dict[str, SplitStats] = field(default_factory=dict)
    coverage: dict[str, float] = field(default_factory=dict)
    mel_mean: float = 0.0
    mel_std: float = 1.0
    source: str = ""
    config_hash: str = ""
    trainset_version: int = TRAINSET_VERSION
    runs: list[dict[str, Any]] = field(default_factory=list)
    config: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.n_frames <= 0 or self.mel.n_mels <= 0:
            raise TrainsetError(f"a card needs positive n_frames and n_mels, got {self.n_frames}, {self.mel.n_mels}")

    @property
    def n_mels(self) -> int:
        return self.mel.n_mels

    @property
    def segment_s(self) -> float:
        """Length of a segment in seconds."""
        return self.n_frames / self.mel.frame_rate

    @property
    def segments(self) -> int:
        return sum(s.segments for s in self.splits.values())

    @property
    def hours(self) -> float:
        return sum(s.hours for s in self.splits.values())

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TrainsetCard:
        d = dict(d)
        found = int(d.get("trainset_version", 0))
        if found > TRAINSET_VERSION:
            raise TrainsetError(
                f"the training set has version {found}, newer than this ostinato's {TRAINSET_VERSION}; upgrade"
            )
        if "mel" not in d:
            raise TrainsetError("the training set's card is incomplete: build-dataset has not finished a run on it")
        d["mel"] = MelParams(**d["mel"])
        d["splits"] = {k: SplitStats(**v) for k, v in d.get("splits", {}).items()}
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


def read_card(path: str) -> TrainsetCard:
    """The card of a training-set folder (local path or URI); TrainsetError when there is none."""
    raw = read_card_dict(path)
    if raw is None:
        raise TrainsetError(f"{path} is not a training set: it has no {CARD_NAME} (run ostinato build-dataset)")
    return TrainsetCard.from_dict(raw)


def read_card_dict(path: str) -> dict[str, Any] | None:
    """The raw card of a training-set folder, or None when it has none yet."""
    fs, root = resolve(path)
    try:
        with fs.open_input_stream(f"{root}/{CARD_NAME}") as handle:
            return json.loads(handle.read())
    except (FileNotFoundError, OSError):
        return None


def write_card(path: str, card: TrainsetCard | Mapping[str, Any]) -> None:
    """Atomically replace the card of a training-set folder."""
    fs, root = resolve(path)
    fs.create_dir(root, recursive=True)
    data = card.to_dict() if isinstance(card, TrainsetCard) else dict(card)
    write_atomically(fs, f"{root}/{CARD_NAME}", json.dumps(data, indent=2, sort_keys=True).encode())
