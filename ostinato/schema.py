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

from ostinato.errors import OstinatoError

#: Bumped when columns are added, removed or change meaning.
SCHEMA_VERSION = 2

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
                   ("root_pc", pa.int8()), ("quality", pa.string()),
                   ("bass_pc", pa.int8())])  # lowest sounding pitch class; null when unknown
SECTION = pa.struct([("start_s", _f64), ("end_s", _f64), ("label", pa.string())])
ROMAN = pa.struct([("start_s", _f64), ("end_s", _f64), ("chord", pa.string()), ("figure", pa.string()),
                   ("function", pa.string()), ("degree", pa.int8()),
                   ("local_key", pa.string()),  # key the figure is read in, e.g. "G major"
                   ("inversion", pa.int8()),  # 0 root position, 1 first, 2 second, 3 third
                   ("kind", pa.string())])  # "diatonic" | "secondary" | "borrowed" | "chromatic" | "none"
LOCAL_KEY = pa.struct([("start_s", _f64), ("end_s", _f64), ("key", pa.string()), ("mode", pa.string()),
                       ("strength", _f32)])
PROGRESSION = pa.struct([("name", pa.string()), ("start_s", _f64), ("end_s", _f64),
                         ("figures", pa.string())])  # e.g. "I-V-vi-IV"
# type: "perfect_authentic" | "imperfect_authentic" | "plagal" | "half" | "deceptive"
CADENCE = pa.struct([("type", pa.string()),
                     ("time_s", _f64),  # onset of the cadence's goal chord
                     ("figures", pa.string()),  # e.g. "V7-I"
                     ("phrase_end", pa.bool_())])  # on a downbeat before a section boundary or the end
STEM = pa.struct([("name", pa.string()), ("rms_mean_db", _f32), ("rms_std_db", _f32), ("rms_max_db", _f32),
                  ("energy_share", _f32), ("onset_density", _f32), ("present", pa.bool_())])
TAGS = pa.struct([("artist", pa.string()), ("title", pa.string()), ("album", pa.string()),
                  ("genre", pa.string()), ("year", pa.string())])
ERROR = pa.struct([("stage", pa.string()), ("message", pa.string())])
MUSIC_TAG = pa.struct([("tagger", pa.string()), ("tag", pa.string()), ("probability", _f32)])
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
        pa.field("source_kind", pa.string()),  # "audio" | "symbolic" (MIDI, MusicXML, ABC)
        # rhythm
        pa.field("tempo_bpm", _f32),
        pa.field("tempo_confidence", _f32),
        pa.field("meter", pa.string()),  # e.g. "4/4"
        pa.field("beats_per_bar", pa.int8()),
        pa.field("meter_confidence", _f32),
        pa.field("beats", pa.list_(BEAT)),  # position 1 = downbeat
        pa.field("onset_rate", _f32),  # onsets per second
        pa.field("metric_hierarchy", pa.list_(_f32)),  # mean accent per beat position in the bar, max 1
        pa.field("syncopation", _f32),  # Longuet-Higgins & Lee index per bar (see theory/rhythm.py)
        pa.field("note_density", _f32),  # note onsets per second over all stems
        pa.field("polyrhythm", pa.string()),  # e.g. "3:2"; null when none is found
        pa.field("polyrhythm_confidence", _f32),
        pa.field("swing_ratio", _f32),  # long:short ratio of off-beat eighths; 1.0 is straight, 2.0 triplet swing
        pa.field("rhythmic_complexity", _f32),  # [0, 1]
        # tonality and harmony
        pa.field("key", pa.string()),  # tonic pitch class name, e.g. "Eb"
        pa.field("mode", pa.string()),  # "major" | "minor"
        pa.field("key_strength", _f32),
        pa.field("tuning_cents", _f32),  # deviation from A440 in cents
        pa.field("chords", pa.list_(CHORD)),  # Harte labels, e.g. "G:maj"
        pa.field("roman", pa.list_(ROMAN)),
        pa.field("local_keys", pa.list_(LOCAL_KEY)),  # key regions over time
        pa.field("modulations", pa.int16()),  # changes of local key
        pa.field("progressions", pa.list_(PROGRESSION)),  # named patterns found, key-independent
        pa.field("cadences", pa.list_(CADENCE)),
        pa.field("voice_leading_cost", _f32),  # mean semitones moved per chord change, best voice assignment
        pa.field("voice_leading_label", pa.string()),  # "smooth" | "moderate" | "disjunct"
        pa.field("harmonic_rhythm", _f32),  # chord changes per bar
        pa.field("harmonic_complexity", _f32),  # [0, 1]; formula in theory/complexity.py
        # genre
        pa.field("genre", pa.string()),
        pa.field("genre_confidence", _f32),
        pa.field("genre_secondary", pa.string()),
        pa.field("genre_secondary_confidence", _f32),
        pa.field("genre_reasons", pa.list_(pa.string())),
        pa.field("genre_source", pa.string()),  # "tags" | "rules" | "model"
        pa.field("music_tags", pa.list_(MUSIC_TAG)),  # every tag of each tagger (theory/tags.py); null if not run
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


class SchemaError(OstinatoError, ValueError):
    """A row does not fit the tracks contract, or shards were written by a newer schema."""


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


def tracks_dataset(location: str):
    """The ``tracks`` shards of an analysis output (local folder or URI) as a ``pyarrow.dataset.Dataset``,
    checked for a readable schema version; OstinatoError when ``location`` holds no such shards."""
    import pyarrow.dataset as pads
    import pyarrow.fs as pafs

    from ostinato.storage import resolve

    fs, root = resolve(location)
    folder = f"{root}/{TRACKS_DIR}"
    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        raise OstinatoError(f"{location} is not an ostinato analyze output: it has no {TRACKS_DIR}/ folder")
    dataset = pads.dataset(folder, filesystem=fs, format="parquet")
    check_readable(dataset.schema)
    return dataset
