"""`ostinato generate`: conditions from the command line (or a batch file, or an analysed track) -> WAV + PNG.

A request is turned into an analysis-like row (beats from BPM and meter, chord spans from the progression,
one section) and goes through the same ``ostinato.datasets.conditions`` functions and ``loader.to_tensors`` as
training segments, so generation conditions mean exactly what training conditions meant.

Progressions are Roman numerals in the key (``"I V vi IV"``, ``"ii7 V7 I"``) or chord names (``"G D Em C"``,
``"F#:min Bb7"``); ``NAME*BARS`` sets a chord's length in bars (default 1, e.g. ``"I*2 IV V*0.5 V7*0.5"``). The
progression repeats until the requested seconds are filled.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ostinato.errors import OstinatoError
from ostinato.theory.meter import COMMON_METERS, METERS
from ostinato.theory.roman_grammar import FIGURE_RE


class GenerationRequest(BaseModel):
    """One clip to generate. Unset conditions are "unknown" to the model (id 0), as in training."""

    model_config = ConfigDict(extra="forbid")

    key: str | None = Field(None, description="e.g. 'G major', 'e minor'")
    bpm: float | None = Field(None, gt=0)
    time_signature: str = "4/4"
    progression: str | None = Field(None, description="Roman numerals or chord names, NAME*BARS for lengths")
    genre: str | None = None
    section: str = "A"
    seconds: float = Field(10.0, gt=0)
    seed: int = 0
    out: str | None = Field(None, description="WAV path (batch files); the PNG goes beside it")
    like: str | None = Field(None, description="copy the conditions of this analysed track_id")
    start_s: float = Field(0.0, ge=0, description="with like: where in the track the copied conditions start")


@dataclass(frozen=True)
class GeneratedClip:
    """One generated clip: its log-mel (n_mels, n_frames) and audio (n,) at ``sample_rate`` Hz."""

    request: GenerationRequest
    log_mel: np.ndarray
    audio: np.ndarray
    sample_rate: int


def read_batch_file(path: str | Path) -> list[GenerationRequest]:
    """Requests from a YAML file holding a list of mappings (the command-line options by name, plus ``out``)."""
    try:
        items = yaml.safe_load(Path(path).read_text())
    except FileNotFoundError:
        raise OstinatoError(f"batch file {path} does not exist") from None
    if not isinstance(items, list) or not items:
        raise OstinatoError(f"batch file {path} must hold a non-empty list of condition sets")
    try:
        return [GenerationRequest.model_validate(item) for item in items]
    except ValidationError as exc:
        raise OstinatoError(f"batch file {path}: {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}") from None


def _chord_spans(progression: str, *, key, bar_s: float, seconds: float) -> tuple[list[dict], list[dict]]:
    """Chord and Roman-numeral spans (analysis-row dicts) filling ``seconds`` with the repeated progression."""
    from ostinato.datasets.vocab import parse_chord, parse_roman_progression
    from ostinato.theory.roman import roman_numerals

    names, bars = [], []
    for token in progression.split():
        name, _, length = token.partition("*")
        try:
            bars.append(float(length) if length else 1.0)
        except ValueError:
            raise OstinatoError(f"chord length in {token!r} must be a number of bars, e.g. I*2") from None
        if bars[-1] <= 0:
            raise OstinatoError(f"chord length in {token!r} must be positive")
        names.append(name)
    if not names:
        raise OstinatoError("the progression is empty; write numerals such as 'I V vi IV' or chords 'G D Em C'")
    if all(FIGURE_RE.match(n) for n in names):
        if key is None:
            raise OstinatoError("a Roman-numeral progression needs --key (e.g. --key 'G major')")
        parsed = parse_roman_progression(" ".join(names), key)
        figures = [(p.figure, p.function) for p in parsed]
    else:
        parsed = [parse_chord(n) for n in names]
        figures = [(None, None)] * len(parsed)
        if key is not None:
            read = roman_numerals(
                [_Span(0.0, 1.0, -1 if p.root_pc is None else p.root_pc, p.quality or "N") for p in parsed],
                tonic_pc=key.tonic_pc, mode=key.mode,
            )
            figures = [(r.figure or None, r.function) for r in read]
    chords, roman, t, i = [], [], 0.0, 0
    while t < seconds:
        k = i % len(parsed)
        end = t + bars[k] * bar_s
        chord = parsed[k]
        chords.append({"start_s": t, "end_s": end, "root_pc": chord.root_pc, "quality": chord.quality})
        roman.append({"start_s": t, "end_s": end, "figure": figures[k][0], "function": figures[k][1]})
        t, i = end, i + 1
    return chords, roman


@dataclass(frozen=True)
class _Span:
    start_s: float
    end_s: float
    root_pc: int
    quality: str


def request_row(request: GenerationRequest, *, seconds: float) -> dict[str, Any]:
    """An analysis-like row (the ``tracks`` fields ``frame_conditions``/``global_conditions`` read) for a
    request, covering ``seconds``."""
    from ostinato.datasets.vocab import parse_key

    key = parse_key(request.key) if request.key else None
    if request.time_signature not in COMMON_METERS:
        raise OstinatoError(f"time signature {request.time_signature!r} is not one of {list(COMMON_METERS)}")
    per_bar = METERS[request.time_signature].beats_per_bar
    row: dict[str, Any] = {
        "key": None if key is None else key.name.split()[0], "mode": None if key is None else key.mode,
        "meter": request.time_signature, "tempo_bpm": request.bpm, "genre": request.genre,
        "loudness_lufs": None, "harmonic_complexity": None, "rhythmic_complexity": None,
        "sections": [{"start_s": 0.0, "end_s": seconds, "label": request.section}],
        "beats_per_bar": per_bar, "beats": [], "chords": [], "roman": [],
    }
    if request.bpm is not None:
        beat_s = 60.0 / request.bpm
        if METERS[request.time_signature].compound:
            beat_s *= 1.5  # a compound meter's beat is a dotted quarter; BPM counts eighths x 3 / 2
        n_beats = int(math.ceil(seconds / beat_s)) + 1
        row["beats"] = [{"time_s": i * beat_s, "bar": i // per_bar, "position": i % per_bar + 1}
                        for i in range(n_beats)]
    if request.progression:
        bar_s = (60.0 / request.bpm if request.bpm else 0.5) * per_bar
        row["chords"], row["roman"] = _chord_spans(request.progression, key=key, bar_s=bar_s, seconds=seconds)
    return row


def features_row(features: str | Path, track_id: str) -> dict[str, Any]:
    """The analysis row of ``track_id`` in an ``ostinato analyze`` output folder (local path or URI)."""
    import pyarrow.dataset as pads

    from ostinato import schema
    from ostinato.schema import tracks_dataset

    dataset = tracks_dataset(str(features))
    rows = dataset.to_table(
        filter=(pads.field("track_id") == track_id) & (pads.field("status") == schema.STATUS_OK)
    ).to_pylist()
    if not rows:
        raise OstinatoError(f"track {track_id!r} is not among the analysed (ok) tracks of {features}")
    return rows[0]


def row_conditions(
    rows: Sequence[dict[str, Any]], *, start_s: Sequence[float], n_frames: int, frame_rate: float, n_mels: int
) -> dict[str, torch.Tensor]:
    """Conditioner tensors (batch of ``len(rows)``) for ``n_frames`` frames from each row's ``start_s``."""
    from ostinato.datasets.conditions import frame_conditions, global_conditions
    from ostinato.datasets.loader import to_tensors

    columns: dict[str, list] = {}
    for row, start in zip(rows, start_s, strict=True):
        values = {**frame_conditions(row, start_s=start, n_frames=n_frames, frame_rate=frame_rate),
                  **global_conditions(row)}
        for name, value in values.items():
            columns.setdefault(name, []).append(value)
    batch = {name: np.stack([np.asarray(v) for v in values]) for name, values in columns.items()}
    batch["mel"] = np.zeros((len(rows), n_mels * n_frames), dtype=np.float32)  # to_tensors wants one
    tensors = to_tensors(batch)
    tensors.pop("mel")
    return tensors


def generate(
    pipeline,
    requests: Sequence[GenerationRequest],
    *,
    features: str | Path | None = None,
    vocoder=None,
    steps: int = 50,
    guidance_scale: float = 3.0,
    sampler: str = "ddim",
) -> list[GeneratedClip]:
    """Sample one clip per request with ``pipeline`` (a ``TheoryDiffusionPipeline``); requests of equal length
    share a batch. Each clip's audio is trimmed to exactly ``request.seconds``."""
    from ostinato.diffusion.vocoder import load_vocoder

    mel = pipeline.mel
    frame_rate = mel["sample_rate"] / mel["hop_length"]
    vocoder = vocoder or load_vocoder(None, mel=mel)
    clips: list[GeneratedClip | None] = [None] * len(requests)
    by_frames: dict[int, list[int]] = {}
    for i, request in enumerate(requests):
        by_frames.setdefault(pipeline.frames_for(request.seconds), []).append(i)
    for n_frames, members in by_frames.items():
        rows, starts = [], []
        for i in members:
            request = requests[i]
            if request.like:
                if features is None:
                    raise OstinatoError("--like needs --features: the ostinato analyze output holding the track")
                rows.append(features_row(features, request.like))
                starts.append(request.start_s)
            else:
                rows.append(request_row(request, seconds=n_frames / frame_rate))
                starts.append(0.0)
        conditions = row_conditions(rows, start_s=starts, n_frames=n_frames, frame_rate=frame_rate,
                                    n_mels=mel["n_mels"])
        generator = [torch.Generator(device="cpu").manual_seed(requests[i].seed) for i in members]
        log_mels = pipeline(conditions, num_inference_steps=steps, guidance_scale=guidance_scale, sampler=sampler,
                            generator=generator).mels.float().cpu().numpy()
        for i, log_mel in zip(members, log_mels, strict=True):
            log_mel = log_mel[:, : math.ceil(requests[i].seconds * frame_rate)]  # frames past the end: padding
            wanted = int(round(requests[i].seconds * mel["sample_rate"]))
            audio = vocoder(log_mel)
            audio = np.pad(audio, (0, max(0, wanted - len(audio))))[:wanted]
            clips[i] = GeneratedClip(requests[i], log_mel, audio.astype(np.float32), mel["sample_rate"])
    return [c for c in clips if c is not None]


def write_clip(clip: GeneratedClip, path: str | Path) -> tuple[Path, Path]:
    """Write ``path`` (WAV, 16-bit) and a PNG of the mel beside it (same name, ``.png``); returns both paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import soundfile as sf

    wav = Path(path)
    wav.parent.mkdir(parents=True, exist_ok=True)
    sf.write(wav, clip.audio, clip.sample_rate, subtype="PCM_16")
    png = wav.with_suffix(".png")
    fig, ax = plt.subplots(figsize=(8, 3))
    frames = clip.log_mel.shape[1]
    hop_s = len(clip.audio) / clip.sample_rate / max(frames, 1)
    ax.imshow(clip.log_mel, origin="lower", aspect="auto", cmap="magma",
              extent=(0, frames * hop_s, 0, clip.log_mel.shape[0]))
    ax.set_xlabel("seconds")
    ax.set_ylabel("mel bin")
    asked = clip.request.model_dump(exclude_none=True, exclude_defaults=True, exclude={"out"})
    title = ", ".join(f"{k}={v}" for k, v in asked.items())
    ax.set_title(title, fontsize=8)
    fig.tight_layout()
    fig.savefig(png, dpi=100)
    plt.close(fig)
    return wav, png


def run_generate(
    checkpoint: str | Path,
    requests: Sequence[GenerationRequest],
    *,
    out: str | Path | None,
    features: str | Path | None = None,
    vocoder: str | Path | None = None,
    steps: int | None = None,
    guidance_scale: float | None = None,
    sampler: str | None = None,
    device: str = "cpu",
) -> list[tuple[Path, Path]]:
    """Load the model, generate every request, write WAV + PNG for each. A single request is written to
    ``out``; batch requests to their own ``out`` or ``OUT_DIR/clip-NNN.wav``. Sampling defaults come from the
    checkpoint's training config (``sampling`` section). The pipeline's progress bar shows each batch's steps."""
    from ostinato.diffusion.checkpoints import resolve_checkpoint
    from ostinato.diffusion.config import TrainConfig
    from ostinato.diffusion.pipeline import TheoryDiffusionPipeline
    from ostinato.diffusion.vocoder import load_vocoder

    info = resolve_checkpoint(checkpoint, stage="diffusion")
    pipeline = TheoryDiffusionPipeline.from_checkpoint(info.path, device=device)
    pipeline.set_progress_bar_config(desc="sampling", leave=False, disable=None)  # a bar on terminals only
    defaults = TrainConfig.model_validate(info.metadata.get("config", {})).sampling
    voc = load_vocoder(vocoder, mel=pipeline.mel)
    clips = generate(
        pipeline, requests, features=features, vocoder=voc, steps=steps or defaults.steps,
        guidance_scale=defaults.guidance_scale if guidance_scale is None else guidance_scale,
        sampler=sampler or defaults.scheduler,
    )
    written = []
    for i, clip in enumerate(clips):
        if clip.request.out:
            path = Path(clip.request.out)
        elif len(clips) == 1 and out is not None and str(out).endswith(".wav"):
            path = Path(out)
        elif out is not None:
            path = Path(out) / f"clip-{i:03d}.wav"
        else:
            raise OstinatoError("say where to write: --out clip.wav (or a folder for --batch)")
        written.append(write_clip(clip, path))
    return written
