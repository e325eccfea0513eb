"""The describe stage for score inputs (MIDI, MusicXML, ABC): parse, describe, harmony, one ``tracks`` row.

Scores skip decoding and separation; parsing is timed as their ``decode`` stage and a file music21
cannot read becomes an error row at that stage, as undecodable audio does.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ostinato.config import AnalyzeConfig
from ostinato.errors import AnalysisError
from ostinato.pipelines import rows
from ostinato.storage import is_uri, resolve
from ostinato.theory.genre_model import genre_of_row
from ostinato.theory.harmony import analyze_harmony
from ostinato.theory.rhythm import Onsets, RhythmProfile, describe_rhythm
from ostinato.theory.symbolic import ScoreDescription, describe_score, parse_score

if TYPE_CHECKING:
    from ostinato.pipelines.records import Prepared


@contextlib.contextmanager
def _local_path(uri: str) -> Iterator[str]:
    """A local path holding the input's bytes (object-store inputs are copied to a temporary file)."""
    if not is_uri(uri):
        yield uri
        return
    fs, path = resolve(uri)
    suffix = os.path.splitext(path)[1]
    with tempfile.NamedTemporaryFile(suffix=suffix) as tmp:
        with fs.open_input_stream(path) as handle:
            shutil.copyfileobj(handle, tmp)
        tmp.flush()
        yield tmp.name


def describe_score_input(prepared: Prepared, *, config: AnalyzeConfig) -> dict:
    """The ``tracks`` row (ok or error) of a score input already identified by ``stages.prepare``."""
    context = rows.RowContext(config_hash=config.results_hash())
    seconds = dict(prepared.seconds)
    start = time.perf_counter()
    try:
        with _local_path(prepared.uri) as path:
            score = parse_score(path)
    except (AnalysisError, OSError) as exc:
        seconds["decode"] = time.perf_counter() - start
        return rows.error_row(prepared, ("decode", str(exc)), seconds=seconds, context=context)
    seconds["decode"] = time.perf_counter() - start
    start = time.perf_counter()
    try:
        description = describe_score(score)
    except AnalysisError as exc:
        seconds["describe"] = time.perf_counter() - start
        return rows.error_row(prepared, ("describe", str(exc)), seconds=seconds, context=context)
    seconds["describe"] = time.perf_counter() - start
    start = time.perf_counter()
    harmony = analyze_harmony(
        description.chords,
        tonic_pc=description.key.tonic_pc,
        mode=description.key.mode,
        downbeat_times=description.downbeat_times,
        phrase_ends=description.phrase_ends,
        end_s=description.duration_s,
    )
    rhythm = score_rhythm(description)
    row = rows.score_row(prepared, description, harmony, seconds=seconds, context=context)
    if rhythm is not None:
        row.update(rows.rhythm_columns(rhythm))

    row.update(genre_of_row(row, genre_model=config.theory.genre_model).columns())
    row["stage_seconds"]["theory"] = time.perf_counter() - start
    return row


def score_rhythm(description: ScoreDescription) -> RhythmProfile | None:
    """Rhythm theory of a score: each part's exact note onsets are a voice (equal strengths), on the
    score's own beat grid and meter."""
    voices = {name: Onsets(times, np.ones_like(times)) for name, times in description.part_onsets.items()
              if len(times)}
    if not voices:
        return None
    return describe_rhythm(
        beat_times=np.array([b.time_s for b in description.beats]),
        downbeat_times=description.downbeat_times,
        beats_per_bar=description.beats_per_bar,
        meter=description.meter,
        meter_confidence=1.0,
        voices=voices,
        duration_s=description.duration_s,
    )
