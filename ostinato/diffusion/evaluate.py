"""`ostinato evaluate`: does the model do what the conditions ask? Measured with the project's own analysis.

For held-out condition sets (segments of the training set's val split), audio is generated twice from the same
noise, guided by the conditions and unconditionally (guidance 0), and the real segment's mel is rendered through
the same vocoder as a reference ceiling (the analysis chain's own error on this vocoder). Each clip goes through
``describe_track`` and is scored against the requested conditions:

- chord accuracy: per mel frame, the recognised chord against the requested one (``mir_eval.chord``: root, and
  major/minor ``majmin``), over frames with a requested chord;
- key accuracy: recognised key (tonic and mode) equals the requested one;
- tempo error: |recognised BPM - requested BPM| / requested BPM;
- beat F-measure (``mir_eval.beat.f_measure``, 70 ms window) of the tracked beats against the beats implied by
  the requested beat phases.

The difference guided - unconditional is the measured effect of conditioning.
"""

from __future__ import annotations

import json
import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ostinato.diffusion.checkpoints import CheckpointInfo
from ostinato.errors import OstinatoError

RUNS = ("guided", "unconditional", "reference")
METRICS = ("chord_root_accuracy", "chord_majmin_accuracy", "key_accuracy", "tempo_error", "beat_f_measure")


@dataclass(frozen=True)
class Reference:
    """What one condition set asks for: per-frame Harte chord labels (``"G:maj"``, ``"N"``, None = unknown),
    key (tonic pitch class, mode) or None, BPM or None, beat times in seconds."""

    chords: list[str | None]
    frame_rate: float
    key: tuple[int, str] | None
    bpm: float | None
    beat_times: np.ndarray


def reference_of(conditions: dict[str, torch.Tensor], index: int, *, frame_rate: float) -> Reference:
    """The requested conditions of sample ``index`` of a conditioner batch, in analysis terms."""
    from ostinato.datasets import vocab

    roots = conditions["chord_root"][index].tolist()
    qualities = conditions["chord_quality"][index].tolist()
    chords: list[str | None] = []
    for root_id, quality_id in zip(roots, qualities, strict=True):
        root, quality = vocab.decode_chord_root(int(root_id)), vocab.decode_chord_quality(int(quality_id))
        chords.append(None if root is None or quality in (vocab.NONE, vocab.OTHER)
                      else f"{vocab.PITCH_CLASS_NAMES[root]}:{quality}")
    key_id, mode_id = int(conditions["key"][index]), int(conditions["mode"][index])
    key = None
    if key_id > 0 and mode_id > 0:
        key = (key_id - 1, vocab.decode_mode(mode_id))
    bpm = float(conditions["bpm"][index]) if float(conditions["bpm_known"][index]) > 0 else None
    phase = conditions["beat_phase"][index].numpy()
    beat_frames = [t for t in range(1, len(phase)) if phase[t] < phase[t - 1]]  # the phase wraps on a beat
    if len(phase) and phase[0] == 0 and phase.any():
        beat_frames.insert(0, 0)
    return Reference(chords, frame_rate, key, bpm, np.asarray(beat_frames, dtype=np.float64) / frame_rate)


def score_audio(audio: np.ndarray, *, sr: int, reference: Reference) -> dict[str, float]:
    """Analyse ``audio`` (n,) at ``sr`` Hz with ``describe_track`` and score it against ``reference``. A metric
    whose reference is unknown is NaN (left out of the means)."""
    import mir_eval

    from ostinato.analysis.describe import describe_track

    desc = describe_track(audio, sr=sr)
    scores = dict.fromkeys(METRICS, math.nan)
    times = np.arange(len(reference.chords)) / reference.frame_rate
    known = [i for i, c in enumerate(reference.chords) if c is not None]
    if known:
        estimated = [_chord_at(desc.chords, times[i]) for i in known]
        requested = [reference.chords[i] for i in known]
        scores["chord_root_accuracy"] = _mean_valid(mir_eval.chord.root(requested, estimated))
        scores["chord_majmin_accuracy"] = _mean_valid(mir_eval.chord.majmin(requested, estimated))
    if reference.key is not None:
        scores["key_accuracy"] = float(
            desc.key is not None and (desc.key.tonic_pc, desc.key.mode) == reference.key
        )
    if reference.bpm is not None:
        found = desc.beats.tempo_bpm if desc.beats is not None else 0.0
        scores["tempo_error"] = abs(found - reference.bpm) / reference.bpm
    if len(reference.beat_times):
        found_beats = desc.beats.beat_times if desc.beats is not None else np.zeros(0)
        with warnings.catch_warnings():  # no tracked beats is a score of 0, not something to warn about
            warnings.simplefilter("ignore", UserWarning)
            scores["beat_f_measure"] = float(mir_eval.beat.f_measure(reference.beat_times, np.asarray(found_beats)))
    return scores


def _chord_at(chords: Sequence[Any], t: float) -> str:
    for c in chords:
        if c.start_s <= t < c.end_s:
            return c.label
    return "N"


def _mean_valid(comparisons: np.ndarray) -> float:
    valid = comparisons[comparisons >= 0]
    return float(valid.mean()) if valid.size else math.nan


@dataclass
class EvaluationReport:
    """Mean scores per run (guided, unconditional, reference) and per segment; what evaluate.json holds."""

    checkpoint: str
    step: int
    data: str
    guidance_scale: float
    steps: int
    segments: list[str]
    means: dict[str, dict[str, float]]
    per_segment: list[dict[str, Any]] = field(default_factory=list)

    @property
    def conditioning_effect(self) -> dict[str, float]:
        """Guided minus unconditional mean of each metric (tempo error: lower is better)."""
        return {m: self.means["guided"][m] - self.means["unconditional"][m] for m in METRICS}

    def to_dict(self) -> dict[str, Any]:
        return {
            "checkpoint": self.checkpoint, "step": self.step, "data": self.data,
            "guidance_scale": self.guidance_scale, "steps": self.steps, "n_segments": len(self.segments),
            "segments": self.segments, "means": self.means, "conditioning_effect": self.conditioning_effect,
            "per_segment": self.per_segment,
        }

    def markdown(self) -> str:
        lines = [
            f"# Evaluation of {self.checkpoint} (step {self.step})", "",
            f"{len(self.segments)} held-out condition sets from {self.data}; {self.steps} sampling steps, guidance "
            f"{self.guidance_scale}. Reference = the real segment's mel through the same vocoder.", "",
            "| metric | guided | unconditional | guided - unconditional | reference |",
            "|---|---|---|---|---|",
        ]
        for m in METRICS:
            g, u, r = (self.means[run][m] for run in RUNS)
            lines.append(f"| {m} | {g:.3f} | {u:.3f} | {g - u:+.3f} | {r:.3f} |")
        return "\n".join(lines) + "\n"

    def summary_line(self) -> str:
        g, u = self.means["guided"], self.means["unconditional"]
        return (f"chord root accuracy {g['chord_root_accuracy']:.2f} guided vs {u['chord_root_accuracy']:.2f} "
                f"unconditional; key accuracy {g['key_accuracy']:.2f} vs {u['key_accuracy']:.2f}; "
                f"tempo error {g['tempo_error']:.2f} vs {u['tempo_error']:.2f}; beat F {g['beat_f_measure']:.2f} vs "
                f"{u['beat_f_measure']:.2f}")


def evaluate(
    pipeline, *, data: str, checkpoint: CheckpointInfo, limit: int = 16, steps: int = 50, guidance_scale: float = 3.0,
    seed: int = 0, vocoder=None, batch_size: int = 8, progress: Callable[[int, int], None] | None = None,
) -> EvaluationReport:
    """Score ``pipeline`` (a ``TheoryDiffusionPipeline`` loaded from ``checkpoint``) on up to ``limit`` val
    segments of ``data``. ``progress(done, total)`` is called as segments are scored."""
    from ostinato.datasets.loader import SegmentDataset
    from ostinato.diffusion.conditioner import condition_tensors
    from ostinato.diffusion.vocoder import load_vocoder

    dataset = SegmentDataset(str(data), "val")
    if len(dataset) == 0:
        raise OstinatoError(f"{data} has no val segments to evaluate on")
    n_frames = dataset.card.n_frames
    if n_frames % pipeline.frame_multiple:
        raise OstinatoError(f"the training set's {n_frames} frames are not a multiple of {pipeline.frame_multiple}")
    mel = pipeline.mel
    frame_rate = mel["sample_rate"] / mel["hop_length"]
    vocoder = vocoder or load_vocoder(None, mel=mel)
    indices = list(range(min(limit, len(dataset))))
    scores: dict[str, list[dict[str, float]]] = {run: [] for run in RUNS}
    per_segment = []
    for first in range(0, len(indices), batch_size):
        chunk = indices[first : first + batch_size]
        batch = torch.utils.data.default_collate([dataset[i] for i in chunk])
        conditions = condition_tensors(batch)
        mels = {"reference": batch["mel"][:, 0]}
        for run, scale in (("guided", guidance_scale), ("unconditional", 0.0)):
            generator = [torch.Generator().manual_seed(seed + i) for i in chunk]  # same noise for both runs
            mels[run] = pipeline(conditions, num_inference_steps=steps, guidance_scale=scale,
                                 generator=generator).mels.cpu()
        for j, i in enumerate(chunk):
            reference = reference_of(conditions, j, frame_rate=frame_rate)
            row = {"segment_id": dataset.segment_id(i)}
            for run in RUNS:
                audio = vocoder(mels[run][j].numpy())
                row[run] = score_audio(audio, sr=mel["sample_rate"], reference=reference)
                scores[run].append(row[run])
            per_segment.append(row)
            if progress is not None:
                progress(len(per_segment), len(indices))
    means = {run: {m: _nanmean([s[m] for s in scores[run]]) for m in METRICS} for run in RUNS}
    return EvaluationReport(
        checkpoint=str(checkpoint.path), step=checkpoint.step, data=str(data), guidance_scale=guidance_scale,
        steps=steps, segments=[dataset.segment_id(i) for i in indices], means=means, per_segment=per_segment,
    )


class ProgressPrinter:
    """A ``progress(done, total)`` callback printing ``evaluate: 4/16 segments, 9.1 s each, ETA 1m49s`` to stderr,
    at most every ``every_s`` seconds and on the last segment."""

    def __init__(self, *, label: str = "evaluate", every_s: float = 5.0) -> None:
        self.label, self.every_s = label, every_s
        self.started = self.printed = time.monotonic()

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self.printed < self.every_s:
            return
        self.printed = now
        each = (now - self.started) / max(done, 1)
        eta = round(each * (total - done))
        print(f"{self.label}: {done}/{total} segments, {each:.1f} s each, ETA {eta // 60}m{eta % 60:02d}s",
              file=sys.stderr, flush=True)


def _nanmean(values: list[float]) -> float:
    finite = [v for v in values if not math.isnan(v)]
    return float(np.mean(finite)) if finite else math.nan


def run_evaluation(
    checkpoint: str | Path, *, data: str, out: str | Path, limit: int = 16, steps: int | None = None,
    guidance_scale: float | None = None, seed: int = 0, vocoder: str | Path | None = None, device: str = "cpu",
    progress: Callable[[int, int], None] | None = None,
) -> EvaluationReport:
    """Load, evaluate, and write ``out/evaluate.json`` and ``out/evaluate.md``. ``progress(done, total)`` is
    called as segments are scored."""
    from ostinato.diffusion.checkpoints import resolve_checkpoint
    from ostinato.diffusion.config import TrainConfig
    from ostinato.diffusion.pipeline import TheoryDiffusionPipeline
    from ostinato.diffusion.vocoder import load_vocoder

    info = resolve_checkpoint(checkpoint, stage="diffusion")
    pipeline = TheoryDiffusionPipeline.from_checkpoint(info.path, device=device)
    pipeline.set_progress_bar_config(disable=True)  # many short calls: progress is counted in segments instead
    defaults = TrainConfig.model_validate(info.metadata.get("config", {})).sampling
    report = evaluate(
        pipeline, data=data, checkpoint=info, limit=limit, steps=steps or defaults.steps,
        guidance_scale=defaults.guidance_scale if guidance_scale is None else guidance_scale, seed=seed,
        vocoder=load_vocoder(vocoder, mel=pipeline.mel), progress=progress,
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "evaluate.json").write_text(json.dumps(report.to_dict(), indent=2, default=_json_float))
    (out / "evaluate.md").write_text(report.markdown())
    return report


def _json_float(value: Any) -> Any:
    if isinstance(value, np.floating | np.integer):
        return value.item()
    raise TypeError(f"cannot write {type(value)} to JSON")
