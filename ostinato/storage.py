"""Local paths and object-store URIs (s3://, gs://, ...) behind one pyarrow filesystem interface."""

from __future__ import annotations

import os
from pathlib import Path

import pyarrow.fs as pafs

from ostinato.errors import OstinatoError


def is_uri(location: str) -> bool:
    """True for ``scheme://...`` locations other than ``file://``."""
    return "://" in location and not location.startswith("file://")


def resolve(location: str) -> tuple[pafs.FileSystem, str]:
    """The filesystem and in-filesystem path for a local path or URI.

    pyarrow's native S3/GCS/HDFS clients are used where they exist; other schemes go through fsspec.
    S3-compatible servers are reached by setting ``AWS_ENDPOINT_URL``.
    """
    if not is_uri(location):
        path = location[len("file://"):] if location.startswith("file://") else location
        return pafs.LocalFileSystem(), str(Path(path).expanduser().absolute())
    try:
        return pafs.FileSystem.from_uri(location)
    except (ValueError, OSError):  # pyarrow has no client for this scheme: try fsspec
        pass
    try:
        import fsspec
        from pyarrow.fs import FSSpecHandler, PyFileSystem

        fs, path = fsspec.core.url_to_fs(location)
    except (ImportError, ValueError) as exc:
        raise OstinatoError(f"cannot open {location}: {exc}") from None
    return PyFileSystem(FSSpecHandler(fs)), path


def display(fs: pafs.FileSystem, path: str) -> str:
    """The URI a user would type for ``path`` on ``fs`` (local paths stay plain)."""
    if isinstance(fs, pafs.LocalFileSystem):
        return path
    return f"{fs.type_name}://{path}"


def write_atomically(fs: pafs.FileSystem, path: str, data: bytes) -> None:
    """Write ``data`` so readers see either nothing or the whole file.

    Locally the bytes go to a hidden temporary name in the same folder and are renamed into place; object
    stores make an upload visible only when it completes, so they are written directly.
    """
    if isinstance(fs, pafs.LocalFileSystem):
        folder, name = os.path.split(path)
        os.makedirs(folder, exist_ok=True)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}.inprogress")
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        return
    with fs.open_output_stream(path) as handle:
        handle.write(data)
