"""Score file formats: the one table of the extensions read as scores (MIDI, MusicXML, ABC)."""

from __future__ import annotations

#: File extension -> format name (the row's ``container``; music21's reader picks the format from the file).
SCORE_FORMATS: dict[str, str] = {
    ".mid": "midi", ".midi": "midi", ".musicxml": "musicxml", ".xml": "musicxml", ".mxl": "musicxml", ".abc": "abc",
}

#: music21's writer names where they differ from the reader's: a ``.mxl`` is compressed MusicXML.
WRITE_FORMATS: dict[str, str] = {**SCORE_FORMATS, ".mxl": "mxl"}
