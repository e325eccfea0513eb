"""The per-track stages as plain functions (no Ray): identify+decode, separate, describe+theory.

``pipelines.analyze`` runs them as Ray tasks and actors; ``bench/analyze.py`` runs the very same functions in
a sequential loop. Each stage catches AnalysisError-class problems and reports them as a (stage, message)
pair, so one bad file becomes one error row and never stops the job.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from ostinato.analysis.decode import DecodedAudio, decode, resample_mono
from ostinato.analysis.describe import describe_track
from ostinato.analysis.identify import content_hash
from ostinato.analysis.loudness import LoudnessMeter
from ostinato.config import AnalyzeConfig
from ostinato.errors import AnalysisError
from ostinato.pipelines import rows
from ostinato.pipelines.inputs import InputFile
from ostinato.pipelines.records import Prepared, SeparationOutcome
from ostinato.storage import is_uri, resolve
from ostinato.theory.genre_model import genre_of_row
from ostinato.theory.harmony import (
    HarmonyAnalysis,
    analyze_harmony,
    phrase_ends_from_held_chords,
    phrase_ends_from_sections,
)
from ostinato.theory.rhythm import RhythmProfile, rhythm_from_envelopes
from ostinato.theory.symbolic import is_symbolic

if TYPE_CHECKING:  # torch and Demucs load only in processes that separate
    from ostinato.analysis.separation import Separator

def _open_for_decode(uri: str):
    if not is_uri(uri):
        return uri
    fs, path = resolve(uri)
    return fs.open_input_file(path)


def identify(item: InputFile, config: AnalyzeConfig) -> Prepared:
    """Hash the file's bytes into ``track_id``; empty and oversized files become errors here."""
    start = time.perf_counter()
    prepared = Prepared(uri=item.uri)
    try:
        fs, path = resolve(item.uri)
        with fs.open_input_stream(path) as handle:
            prepared.track_id, prepared.size = content_hash(handle)
    except OSError as exc:
        prepared.error = ("identify", f"cannot read the file ({exc})")
    else:
        if prepared.size == 0:
            prepared.error = ("identify", "file is empty (0 bytes)")
        elif prepared.size > config.decode.max_file_mb * 2**20:
            prepared.error = ("identify", f"file is {prepared.size / 2**20:.0f} MB, over decode.max_file_mb")
    prepared.seconds["identify"] = time.perf_counter() - start
    return prepared


def prepare(
    item: InputFile,
    config: AnalyzeConfig,
    *,
    model_sr: int | None = None,
    claim: Callable[[str], bool] | None = None,
) -> tuple[Prepared, DecodedAudio | None, DecodedAudio | None]:
    """Identify and decode one input.

    Returns the Prepared record, the mono waveform at the analysis rate (``decode.sample_rate``; loudness is
    metered on the stereo stream as it decodes, so no stereo copy is ever held), and, when ``model_sr`` is
    given, a stereo waveform at that rate for the separator. Waveforms are None when the input failed.
    ``claim(track_id)``, when given, is asked before decoding; False marks the input a duplicate, not decoded.
    """
    prepared = identify(item, config)
    if not prepared.ok:
        return prepared, None, None
    if claim is not None and not claim(prepared.track_id):
        prepared.duplicate = True
        return prepared, None, None
    if is_symbolic(item.uri):  # a score is parsed where it is described; nothing to decode
        prepared.source_kind = "symbolic"
        return prepared, None, None
    start = time.perf_counter()
    # Decoded once: at the analysis rate (mono) without separation; at the separator's rate (stereo) with it,
    # the analysis waveform then being its mono mix resampled.
    decode_sr = model_sr or config.decode.sample_rate
    try:
        meter: LoudnessMeter | None = None

        def measure(block) -> None:
            nonlocal meter
            meter = meter or LoudnessMeter(sr=decode_sr, channels=block.shape[0])
            meter.add(block)

        audio = decode(
            _open_for_decode(item.uri), sr=decode_sr, max_duration_s=config.decode.max_duration_s,
            mono=model_sr is None, on_block=measure,
        )
        model_audio = None
        if model_sr is not None:
            model_audio, audio = audio, resample_mono(audio, sr=config.decode.sample_rate)
        prepared.info, prepared.duration_s = audio.info, audio.duration_s
        prepared.loudness = meter.result() if meter is not None else None
        prepared.warnings.extend(audio.warnings)
        if audio.duration_s < config.decode.min_duration_s:
            raise AnalysisError(
                f"audio is {audio.duration_s:.2f} s long; decode.min_duration_s is {config.decode.min_duration_s} s"
            )
    except AnalysisError as exc:
        prepared.error = ("decode", str(exc))
        return prepared, None, None
    finally:
        prepared.seconds["decode"] = time.perf_counter() - start
    return prepared, audio, model_audio


def analyse(
    item: InputFile, config: AnalyzeConfig, *, claim: Callable[[str], bool] | None = None
) -> tuple[Prepared, dict | None]:
    """Identify, decode and describe one input in this process (the path without separation, so the
    waveform never leaves the process that decoded it). The row is None for duplicates and failed inputs,
    whose Prepared says which."""
    prepared, audio, _ = prepare(item, config, claim=claim)
    if not prepared.ok or prepared.duplicate:
        return prepared, None
    return prepared, describe(prepared, audio, config=config)


def describe(
    prepared: Prepared,
    audio: DecodedAudio,
    *,
    config: AnalyzeConfig,
    stems: SeparationOutcome | None = None,
) -> dict:
    """Run MIR and theory on a decoded track (or a score) and return its ``tracks`` row (ok or error)."""
    if prepared.source_kind == "symbolic":
        from ostinato.pipelines.scores import describe_score_input

        return describe_score_input(prepared, config=config)
    context = rows.RowContext(config_hash=config.results_hash())
    seconds = dict(prepared.seconds)
    if stems is not None:
        seconds["separate"] = stems.seconds
        if stems.error is not None:
            return rows.error_row(prepared, stems.error, seconds=seconds, context=context)
    features = config.features
    analysis = stems.analysis if stems is not None else None
    start = time.perf_counter()
    try:
        description = describe_track(
            audio.y,
            sr=audio.sr,
            hop_length=features.hop_length,
            n_fft=features.n_fft,
            n_mfcc=features.n_mfcc,
            block_s=features.block_s,
            min_section_s=features.min_section_s,
            harmonic_chroma=analysis.harmonic_chroma if analysis is not None else None,
            harmonic_signal=analysis.harmonic_signal if analysis is not None else None,
            drum_signal=analysis.drum_signal if analysis is not None and analysis.is_present("drums") else None,
            loudness=prepared.loudness,
            beat_tracker=features.beat_tracker,
            key_estimator=features.key_estimator,
            chord_chroma=features.chord_chroma,
            music_tagger=features.music_tagger,
            tag_patches=features.tag_patches,
        )
    except (AnalysisError, ValueError, FloatingPointError) as exc:
        seconds["describe"] = time.perf_counter() - start
        return rows.error_row(prepared, ("describe", str(exc)), seconds=seconds, context=context)
    seconds["describe"] = time.perf_counter() - start
    start = time.perf_counter()
    harmony = harmony_of(description)
    rhythm = _rhythm(description, stems, sr=audio.sr, hop_length=features.hop_length)
    seconds["theory"] = time.perf_counter() - start
    warnings = ["audio is silent; musical features are empty"] if description.silent else []
    row = rows.ok_row(
        prepared, description, harmony.roman if harmony else [], stems=stems, seconds=seconds, context=context,
        extra_warnings=warnings, harmony=harmony,
    )
    if rhythm is not None:
        row.update(rows.rhythm_columns(rhythm))
    if not description.silent:
        start = time.perf_counter()
        row.update(genre_of_row(row, genre_model=config.theory.genre_model).columns())
        row["stage_seconds"]["theory"] += time.perf_counter() - start
    return row


def _rhythm(description, stems: SeparationOutcome | None, *, sr: int, hop_length: int) -> RhythmProfile | None:
    """Rhythm theory on the onsets of the separated stems that are present, or of the mix without them."""
    if description.beats is None or description.onset_envelope is None:
        return None
    envelopes = {"mix": description.onset_envelope}
    if stems is not None and stems.analysis is not None:
        present = {s.name for s in stems.analysis.stems if s.present}
        envelopes = {k: v for k, v in stems.analysis.onset_envelopes.items() if k in present} or envelopes
    return rhythm_from_envelopes(
        beats=description.beats, onset_envelopes=envelopes, sr=sr, hop_length=hop_length,
        duration_s=description.duration_s,
    )


def harmony_of(description) -> HarmonyAnalysis | None:
    """Harmony theory over the recognised chords, with bars from the beat tracker and phrase ends from the
    sections and from held chords."""
    if description.key is None:
        return None
    beats = description.beats
    return analyze_harmony(
        description.chords,
        tonic_pc=description.key.tonic_pc,
        mode=description.key.mode,
        downbeat_times=beats.downbeat_times if beats is not None else None,
        phrase_ends=phrase_ends_from_sections([s.start_s for s in description.sections], end_s=description.duration_s)
        + phrase_ends_from_held_chords(description.chords),
        end_s=description.duration_s,
    )



def needs_stem_signals(features) -> bool:
    """Whether the describe stage reads separated signals, not only stem features: the beat network hears the
    drums and the chord network the harmonic stems (``describe_track``)."""
    return features.beat_tracker == "rnn" or features.chord_chroma == "deep"


def separate(
    separator: Separator,
    audio: DecodedAudio,
    *,
    track_id: str,
    model: str,
    analysis_sr: int,
    hop_length: int,
    keep_stems: str | None = None,
    keep_signals: bool = True,
) -> SeparationOutcome:
    """Separate a track chunk by chunk, keeping only per-stem features, the mono drum and harmonic signals
    for the pretrained networks when ``keep_signals``, and FLAC stems when ``keep_stems``."""
    from ostinato.analysis.stems import StemAccumulator, write_stems_flac

    start = time.perf_counter()
    accumulator = StemAccumulator(
        separator.sources, model_sr=separator.samplerate, analysis_sr=analysis_sr, hop_length=hop_length,
        keep_signals=keep_signals,
    )
    writer = None
    if keep_stems:
        writer = write_stems_flac(sr=separator.samplerate, sources=separator.sources, folder=keep_stems,
                                  track_id=track_id)
    try:
        for _, stems in separator.separate_chunks(audio.y, sr=audio.sr):
            accumulator.add(stems)
            if writer is not None:
                writer.write(stems)
        analysis = accumulator.finish()
    except (AnalysisError, RuntimeError, ValueError) as exc:
        if writer is not None:
            writer.abort()  # no half-written stems under their final names
        return SeparationOutcome(model, None, time.perf_counter() - start, ("separate", str(exc)))
    if writer is not None:
        writer.close()
    return SeparationOutcome(model, analysis, time.perf_counter() - start)
