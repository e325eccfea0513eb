"""The Parquet contract: the one place that defines what a ``tracks`` row holds.

Layout of an analysis output folder::

    OUT/_ostinato.json             dataset card: schema version, config, package versions, runs
    OUT/tracks/part-*.parquet      one row per distinct input content (see ``track_id``)
    OUT/aliases/part-*.parquet     paths whose content equals a track analysed under another path

Nested columns are ``list<struct>`` so pandas, pyarrow and DuckDB read them as is
(``SELECT unnest(chords) FROM 'OUT/tracks/*.parquet'``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pyarrow as pa

#: Bumped when columns are added, removed or change meaning.
SCHEMA_VERSION = 1

TRACKS_DIR = "tracks"
ALIASES_DIR = "aliases"
CARD_NAME = "_ostinato.json"

#: Stages whose wall-clock seconds every row records, in pipeline order.
STAGES = ("identify", "decode", "separate", "describe", "theory")

STATUS_OK = "ok"
STATUS_ERROR = "error"

_f32 = pa.float32()
_f64 = pa.float64()

BEAT = pa.struct([("time_s", _f64), ("bar", pa.int32()), ("position", pa.int8())])
CHORD = pa.struct([("start_s", _f64), ("end_s", _f64), ("label", pa.string()),
                   ("root_pc", pa.int8()), ("quality", pa.string())])
SECTION = pa.struct([("start_s", _f64), ("end_s", _f64), ("label", pa.string())])
ROMAN = pa.struct([("start_s", _f64), ("end_s", _f64), ("chord", pa.string()), ("figure", pa.string()),
                   ("function", pa.string()), ("degree", pa.int8())])
STEM = pa.struct([("name", pa.string()), ("rms_mean_db", _f32), ("rms_std_db", _f32), ("rms_max_db", _f32),
                  ("energy_share", _f32), ("onset_density", _f32), ("present", pa.bool_())])
TAGS = pa.struct([("artist", pa.string()), ("title", pa.string()), ("album", pa.string()),
                  ("genre", pa.string()), ("year", pa.string())])
ERROR = pa.struct([("stage", pa.string()), ("message", pa.string())])
STAGE_SECONDS = pa.struct([(stage, _f32) for stage in STAGES])

TRACKS_SCHEMA = pa.schema(
    [
        # identity and provenance
        pa.field("track_id", pa.string(), nullable=False),  # BLAKE2b-128 of the file's bytes
        pa.field("path", pa.string(), nullable=False),  # first path (URI) seen with this content
        pa.field("other_paths", pa.list_(pa.string())),  # other inputs with identical bytes
        pa.field("status", pa.string(), nullable=False),  # "ok" | "error"
        pa.field("error", ERROR),  # stage and message when status == "error"
        pa.field("warnings", pa.list_(pa.string())),
        # file facts
        pa.field("file_size_bytes", pa.int64()),
        pa.field("container", pa.string()),
        pa.field("codec", pa.string()),
        pa.field("bitrate_kbps", _f32),
        pa.field("sample_rate", pa.int32()),  # Hz, of the file
        pa.field("channels", pa.int16()),
        pa.field("duration_s", _f64),  # decoded duration
        pa.field("tags", TAGS),
        # rhythm
        pa.field("tempo_bpm", _f32),
        pa.field("tempo_confidence", _f32),
        pa.field("meter", pa.string()),  # e.g. "4/4"
        pa.field("beats_per_bar", pa.int8()),
        pa.field("meter_confidence", _f32),
        pa.field("beats", pa.list_(BEAT)),  # position 1 = downbeat
        pa.field("onset_rate", _f32),  # onsets per second
        # tonality and harmony
        pa.field("key", pa.string()),  # tonic pitch class name, e.g. "Eb"
        pa.field("mode", pa.string()),  # "major" | "minor"
        pa.field("key_strength", _f32),
        pa.field("tuning_cents", _f32),  # deviation from A440 in cents
        pa.field("chords", pa.list_(CHORD)),  # Harte labels, e.g. "G:maj"
        pa.field("roman", pa.list_(ROMAN)),
        # structure
        pa.field("sections", pa.list_(SECTION)),
        # loudness and timbre
        pa.field("loudness_lufs", _f32),  # integrated, ITU-R BS.1770-4
        pa.field("loudness_range_lu", _f32),  # EBU Tech 3342
        pa.field("peak_dbfs", _f32),
        pa.field("spectral_centroid_mean_hz", _f32),
        pa.field("spectral_centroid_std_hz", _f32),
        pa.field("spectral_rolloff_mean_hz", _f32),
        pa.field("spectral_flatness_mean", _f32),
        pa.field("mfcc_mean", pa.list_(_f32)),
        pa.field("mfcc_std", pa.list_(_f32)),
        # separation
        pa.field("separation_model", pa.string()),  # null when separation did not run
        pa.field("stems", pa.list_(STEM)),
        # bookkeeping
        pa.field("stage_seconds", STAGE_SECONDS),
        pa.field("worker_node", pa.string()),
        pa.field("schema_version", pa.int16(), nullable=False),
        pa.field("analysis_version", pa.string(), nullable=False),
        pa.field("config_hash", pa.string(), nullable=False),
        pa.field("analyzed_at", pa.timestamp("ms", tz="UTC"), nullable=False),
    ],
    metadata={b"ostinato.schema_version": str(SCHEMA_VERSION).encode()},
)

ALIASES_SCHEMA = pa.schema(
    [
        pa.field("path", pa.string(), nullable=False),
        pa.field("track_id", pa.string(), nullable=False),
        pa.field("schema_version", pa.int16(), nullable=False),
    ],
    metadata={b"ostinato.schema_version": str(SCHEMA_VERSION).encode()},
)


class SchemaError(ValueError):
    """A row does not fit the tracks contract."""


def tracks_table(rows: Iterable[Mapping[str, Any]]) -> pa.Table:
    """Validate rows (dicts keyed by column name; missing columns become null) into a table of TRACKS_SCHEMA."""
    rows = list(rows)
    names = set(TRACKS_SCHEMA.names)
    for row in rows:
        extra = set(row) - names
        if extra:
            raise SchemaError(f"row has columns the tracks schema does not define: {sorted(extra)}")
    try:
        return pa.Table.from_pylist(rows, schema=TRACKS_SCHEMA)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise SchemaError(f"row does not fit the tracks schema: {exc}") from None


def aliases_table(pairs: Iterable[tuple[str, str]]) -> pa.Table:
    """Table of ``(path, track_id)`` pairs in ALIASES_SCHEMA."""
    rows = [{"path": p, "track_id": t, "schema_version": SCHEMA_VERSION} for p, t in pairs]
    return pa.Table.from_pylist(rows, schema=ALIASES_SCHEMA)


def check_readable(schema: pa.Schema) -> None:
    """Raise SchemaError with a clear message when shards were written by an incompatible schema version."""
    found = int((schema.metadata or {}).get(b"ostinato.schema_version", b"0"))
    if found > SCHEMA_VERSION:
        raise SchemaError(
            f"shards use schema version {found}, newer than this ostinato's {SCHEMA_VERSION}; upgrade ostinato"
        )
