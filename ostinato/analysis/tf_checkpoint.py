"""Read TensorFlow checkpoints (the "tensor bundle" format of ``tf.train.Saver``) without TensorFlow.

A checkpoint ``<prefix>`` is two files. ``<prefix>.index`` is an SSTable (LevelDB's table format): data blocks
of key/value entries sorted by key, an index block pointing at them, and a 48-byte footer pointing at the
index block. Each key is a variable's name; each value is a serialized ``BundleEntryProto`` that gives the
tensor's dtype, shape and the byte range of its values in ``<prefix>.data-00000-of-00001``. The entry with
the empty key is the bundle's header. Only the few protobuf fields needed are parsed, by hand.

Supported: uncompressed blocks, one data shard, little-endian numeric tensors (no strings, no slices).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: The last 8 bytes of every SSTable written by LevelDB or TensorFlow.
TABLE_MAGIC = 0xDB4775248B80FB57
FOOTER_SIZE = 48
BLOCK_TRAILER_SIZE = 5  # 1 byte compression type + 4 bytes masked crc32c

#: TensorFlow's ``DataType`` enum values (types.proto) and the numpy types of their stored bytes.
DTYPES: dict[int, np.dtype] = {
    1: np.dtype("<f4"),  # DT_FLOAT
    2: np.dtype("<f8"),  # DT_DOUBLE
    3: np.dtype("<i4"),  # DT_INT32
    4: np.dtype("u1"),  # DT_UINT8
    5: np.dtype("<i2"),  # DT_INT16
    6: np.dtype("i1"),  # DT_INT8
    9: np.dtype("<i8"),  # DT_INT64
    10: np.dtype("?"),  # DT_BOOL
    17: np.dtype("<u2"),  # DT_UINT16
    19: np.dtype("<f2"),  # DT_HALF
    22: np.dtype("<u4"),  # DT_UINT32
    23: np.dtype("<u8"),  # DT_UINT64
}


class CheckpointError(ValueError):
    """A checkpoint file is missing, malformed, or uses a feature this reader does not support."""


@dataclass(frozen=True)
class TensorEntry:
    """Where one tensor lives: ``dtype`` (numpy), ``shape``, and ``size`` bytes at ``offset`` of shard ``shard``."""

    dtype: np.dtype
    shape: tuple[int, ...]
    shard: int
    offset: int
    size: int


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    """Decode a base-128 varint at ``pos``; return (value, position after it)."""
    value = shift = 0
    while True:
        if pos >= len(buf):
            raise CheckpointError("truncated varint")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """Split a protobuf message into (field number, value): ints for varint/fixed fields, bytes for lengths."""
    out: list[tuple[int, int | bytes]] = []
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, pos = _varint(buf, pos)
        elif wire == 1:
            value, pos = struct.unpack_from("<Q", buf, pos)[0], pos + 8
        elif wire == 2:
            length, pos = _varint(buf, pos)
            value, pos = buf[pos : pos + length], pos + length
        elif wire == 5:
            value, pos = struct.unpack_from("<I", buf, pos)[0], pos + 4
        else:
            raise CheckpointError(f"unsupported protobuf wire type {wire}")
        out.append((number, value))
    return out


def _shape(buf: bytes) -> tuple[int, ...]:
    """Dimensions of a ``TensorShapeProto`` (field 2: repeated Dim, whose field 1 is the size)."""
    dims = []
    for number, dim in _fields(buf):
        if number == 2:
            dims.append(next((int(v) for n, v in _fields(dim) if n == 1), 0))
        elif number == 3 and dim:
            raise CheckpointError("a tensor of unknown rank cannot be read")
    return tuple(dims)


def _entry(name: str, buf: bytes) -> TensorEntry:
    """Decode a ``BundleEntryProto``: dtype (1), shape (2), shard_id (3), offset (4), size (5), slices (7)."""
    fields = dict(_fields(buf))
    if 7 in fields:
        raise CheckpointError(f"{name!r} is stored in slices, which this reader does not support")
    code = int(fields.get(1, 0))
    if code not in DTYPES:
        raise CheckpointError(f"{name!r} has TensorFlow dtype {code}, which this reader does not support")
    return TensorEntry(DTYPES[code], _shape(fields.get(2, b"")), int(fields.get(3, 0)),
                       int(fields.get(4, 0)), int(fields.get(5, 0)))


def _block(table: bytes, handle: bytes) -> list[tuple[bytes, bytes]]:
    """The (key, value) entries of the block that ``handle`` (varint offset, varint size) points at."""
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if offset + size + BLOCK_TRAILER_SIZE > len(table):
        raise CheckpointError("a block handle points past the end of the index file")
    kind = table[offset + size]
    if kind == 1:
        raise CheckpointError("the index file uses snappy-compressed blocks, which this reader does not support")
    if kind != 0:
        raise CheckpointError(f"unknown block compression type {kind}")
    block = table[offset : offset + size]
    (num_restarts,) = struct.unpack_from("<I", block, size - 4)
    end = size - 4 * (num_restarts + 1)  # entries stop where the restart-point array begins
    entries: list[tuple[bytes, bytes]] = []
    key = b""
    pos = 0
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        length, pos = _varint(block, pos)
        key = key[:shared] + block[pos : pos + unshared]  # keys are stored as a suffix after a shared prefix
        pos += unshared
        entries.append((key, block[pos : pos + length]))
        pos += length
    return entries


def read_index(prefix: str | Path) -> dict[str, TensorEntry]:
    """Every tensor's entry in ``<prefix>.index``, by variable name, in the file's (sorted) order."""
    path = Path(f"{prefix}.index")
    try:
        table = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint index {path}: {exc.strerror}") from None
    if len(table) < FOOTER_SIZE or struct.unpack_from("<Q", table, len(table) - 8)[0] != TABLE_MAGIC:
        raise CheckpointError(f"{path} is not an SSTable (bad footer magic number)")
    footer = table[-FOOTER_SIZE:]
    _, pos = _varint(footer, _varint(footer, 0)[1])  # skip the metaindex handle (offset, size)
    index_handle = footer[pos:]
    entries: dict[str, TensorEntry] = {}
    for _, data_handle in _block(table, index_handle):
        for key, value in _block(table, data_handle):
            if key:  # the empty key holds the BundleHeaderProto
                entries[key.decode()] = _entry(key.decode(), value)
            elif dict(_fields(value)).get(2, 0) == 1:
                raise CheckpointError(f"{path} was written big-endian, which this reader does not support")
    return entries


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """Every tensor of the checkpoint ``prefix`` (the path before ``.index``) as a numpy array, by variable name.

    For a checkpoint saved into a folder with an empty file name, as musicnn's are, pass ``"<folder>/"``.
    """
    entries = read_index(prefix)
    shards = sorted({e.shard for e in entries.values()})
    if shards and shards != [0]:
        raise CheckpointError(f"{prefix} has {len(shards)} data shards; this reader supports one")
    path = Path(f"{prefix}.data-00000-of-00001")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CheckpointError(f"cannot read checkpoint data {path}: {exc.strerror}") from None
    tensors: dict[str, np.ndarray] = {}
    for name, e in entries.items():
        count = int(np.prod(e.shape, dtype=np.int64))
        if e.size != count * e.dtype.itemsize or e.offset + e.size > len(data):
            raise CheckpointError(f"{name!r}: {e.size} bytes at {e.offset} do not hold a {e.dtype} {e.shape} tensor")
        raw = np.frombuffer(data, dtype=e.dtype, count=count, offset=e.offset)
        tensors[name] = raw.astype(e.dtype.newbyteorder("="), copy=True).reshape(e.shape)
    return tensors
