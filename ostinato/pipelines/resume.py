"""What an output folder already holds, so a re-run analyses only what is missing (or what failed, on request)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ostinato import schema
from ostinato.outputs import OutputScan
from ostinato.storage import display, resolve


@dataclass
class Finished:
    """Paths (URIs) already recorded in an output, the track ids they map to, and the error rows to retry."""

    paths: set[str] = field(default_factory=set)
    track_ids: set[str] = field(default_factory=set)
    rows: int = 0
    retry: set[str] = field(default_factory=set)  # paths whose error rows a --retry-errors run analyses again


def read_finished(scan: OutputScan, *, retry_errors: bool = False) -> Finished:
    """Every path any row or alias of ``scan`` records is finished, superseded rows included (their input was
    analysed); with ``retry_errors`` the paths whose visible row is an error are not, and their ids are free."""
    done = Finished(rows=scan.rows)
    if scan.identity is not None:
        done.track_ids.update(scan.identity.column("track_id").to_pylist())
        done.paths.update(scan.identity.column("path").to_pylist())
        for others in scan.identity.column("other_paths").to_pylist():
            done.paths.update(others or ())
    done.paths.update(scan.aliases.column("path").to_pylist())
    if retry_errors:
        visible = scan.kept_identity()
        ok_ids = {t for t, s in zip(visible.column("track_id").to_pylist(), visible.column("status").to_pylist(),
                                    strict=True) if s == schema.STATUS_OK}
        for track_id, path, status in zip(visible.column("track_id").to_pylist(), visible.column("path").to_pylist(),
                                          visible.column("status").to_pylist(), strict=True):
            if status != schema.STATUS_OK:
                done.retry.add(path)
                done.paths.discard(path)
                if track_id not in ok_ids:
                    done.track_ids.discard(track_id)
    return done


def output_uri(out: str) -> str:
    """The canonical spelling of an output location (absolute path when local)."""
    fs, root = resolve(out)
    return display(fs, root)
