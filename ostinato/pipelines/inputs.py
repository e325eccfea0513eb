"""Turn the INPUT arguments of `ostinato analyze` into a sorted, de-duplicated list of audio and score files.

An INPUT is a directory (searched recursively), a glob, a text file listing one path or URI per line
(``.txt``/``.lst``/``.list``), a single audio or score file, or any of these as an object-store URI.
Scores are MIDI, MusicXML and ABC files (``theory.score_formats.SCORE_FORMATS``).
"""

from __future__ import annotations

import fnmatch
import glob
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow.fs as pafs

from ostinato.errors import OstinatoError
from ostinato.storage import display, is_uri, resolve
from ostinato.theory.score_formats import SCORE_FORMATS

AUDIO_EXTENSIONS = frozenset(
    {".mp3", ".wav", ".flac", ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".aif", ".aiff", ".wma"}
)
LIST_EXTENSIONS = frozenset({".txt", ".lst", ".list"})
_GLOB_CHARS = set("*?[")


@dataclass(frozen=True)
class InputFile:
    """One file to analyse: its URI (absolute path when local) and size in bytes."""

    uri: str
    size: int


class InputError(OstinatoError):
    """An INPUT argument names nothing that can be listed."""


def is_analysable(name: str) -> bool:
    """True for the extensions analysed: audio and scores."""
    extension = os.path.splitext(name)[1].lower()
    return extension in AUDIO_EXTENSIONS or extension in SCORE_FORMATS


def _walk(fs: pafs.FileSystem, base: str) -> Iterable[pafs.FileInfo]:
    selector = pafs.FileSelector(base, recursive=True, allow_not_found=True)
    return (info for info in fs.get_file_info(selector) if info.type == pafs.FileType.File)


def _expand_glob(spec: str) -> list[InputFile]:
    if not is_uri(spec):
        paths = sorted(glob.glob(os.path.expanduser(spec), recursive=True))
        return [InputFile(os.path.abspath(p), os.path.getsize(p)) for p in paths if os.path.isfile(p)]
    fs, pattern = resolve(spec)
    prefix = pattern[: min(pattern.index(c) for c in _GLOB_CHARS if c in pattern)].rsplit("/", 1)[0]
    return [
        InputFile(display(fs, info.path), info.size)
        for info in _walk(fs, prefix)
        if fnmatch.fnmatch(info.path, pattern)
    ]


def _expand_one(spec: str, depth: int) -> list[InputFile]:
    if _GLOB_CHARS & set(spec.split("://", 1)[-1]):
        return [f for f in _expand_glob(spec) if is_analysable(f.uri)]
    fs, path = resolve(spec)
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.Directory:
        return [InputFile(display(fs, i.path), i.size) for i in _walk(fs, path) if is_analysable(i.base_name)]
    if info.type != pafs.FileType.File:
        raise InputError(f"input {spec} does not exist")
    if os.path.splitext(path)[1].lower() in LIST_EXTENSIONS and depth == 0:
        with fs.open_input_stream(path) as handle:
            lines = handle.read().decode("utf-8", errors="replace").splitlines()
        entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
        return [f for entry in entries for f in _expand_one(entry, depth + 1)]
    # A file named explicitly is analysed whatever its extension: a bad one becomes an error row.
    return [InputFile(display(fs, path), info.size)]


def list_inputs(specs: Sequence[str]) -> list[InputFile]:
    """Expand INPUT arguments into files sorted by URI, each listed once.

    Raises InputError when an argument names nothing (a missing path, a glob matching no audio file).
    """
    found: dict[str, InputFile] = {}
    for spec in specs:
        files = _expand_one(spec, 0)
        if not files and _GLOB_CHARS & set(spec):
            raise InputError(f"input {spec} matches no audio file")
        for f in files:
            found.setdefault(f.uri, f)
    return [found[uri] for uri in sorted(found)]
