"""What an output folder already holds, so a re-run analyses only what is missing."""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow.dataset as pads
import pyarrow.fs as pafs

from ostinato import schema
from ostinato.storage import display, resolve


@dataclass
class Finished:
    """Paths (URIs) already recorded in an output, and the track ids they map to."""

    paths: set[str] = field(default_factory=set)
    track_ids: set[str] = field(default_factory=set)
    rows: int = 0


def _dataset(fs: pafs.FileSystem, folder: str) -> pads.Dataset | None:
    if fs.get_file_info(folder).type != pafs.FileType.Directory:
        return None
    # Hidden names (".part-*.inprogress") are half-written shards and are ignored by default.
    return pads.dataset(folder, filesystem=fs, format="parquet")


def read_finished(out: str) -> Finished:
    """Scan only the identity columns of existing shards (never the heavy feature columns)."""
    fs, root = resolve(out)
    done = Finished()
    tracks = _dataset(fs, f"{root}/{schema.TRACKS_DIR}")
    if tracks is not None:
        schema.check_readable(tracks.schema)
        table = tracks.to_table(columns=["track_id", "path", "other_paths"])
        done.rows = table.num_rows
        done.track_ids.update(table.column("track_id").to_pylist())
        done.paths.update(table.column("path").to_pylist())
        for others in table.column("other_paths").to_pylist():
            done.paths.update(others or ())
    aliases = _dataset(fs, f"{root}/{schema.ALIASES_DIR}")
    if aliases is not None:
        done.paths.update(aliases.to_table(columns=["path"]).column("path").to_pylist())
    return done


def output_uri(out: str) -> str:
    """The canonical spelling of an output location (absolute path when local)."""
    fs, root = resolve(out)
    return display(fs, root)
