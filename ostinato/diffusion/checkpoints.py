"""Checkpoint folders: pretrained model folders a user can load, plus the trainer state a run resumes from.

A checkpoint folder holds::

    ostinato.json      stage ("vae" / "diffusion"), step, mel parameters and normalisation, vocabulary, config
    vae/               AutoencoderKL.save_pretrained (both stages; the diffusion stage copies its frozen VAE)
    unet/              UNet2DConditionModel.save_pretrained (EMA weights when EMA is on)   [diffusion]
    conditioner/       TheoryConditioner.save_pretrained (EMA weights when EMA is on)      [diffusion]
    scheduler/         DDPMScheduler.save_pretrained (the training noise schedule)        [diffusion]
    trainer_state.pt   raw weights, EMA, optimizer, lr schedule, step, RNG states (for resuming only)

A run folder (``--out RUN_DIR``) holds Ray Train's ``checkpoint_*`` folders; ``resolve_checkpoint`` picks the
one with the highest step.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ostinato.errors import OstinatoError

METADATA_NAME = "ostinato.json"
TRAINER_STATE_NAME = "trainer_state.pt"


class CheckpointError(OstinatoError):
    """A checkpoint or run folder is missing, incomplete or of the wrong stage."""


@dataclass(frozen=True)
class CheckpointInfo:
    """What ``ostinato.json`` says about a checkpoint."""

    path: Path
    stage: str
    step: int
    metadata: dict[str, Any]

    @property
    def mel(self) -> dict[str, Any]:
        """Mel parameters: sample_rate, n_fft, hop_length, n_mels, fmin, fmax."""
        return self.metadata["mel"]

    @property
    def n_frames(self) -> int:
        return int(self.metadata["n_frames"])


def write_metadata(folder: Path, *, stage: str, step: int, metadata: dict[str, Any]) -> None:
    """Write ``ostinato.json`` into ``folder`` (stage, step and the caller's metadata)."""
    body = {**metadata, "stage": stage, "step": step}
    (folder / METADATA_NAME).write_text(json.dumps(body, indent=2, sort_keys=True, default=str))


def read_info(folder: Path | str) -> CheckpointInfo:
    """The metadata of one checkpoint folder; CheckpointError when it is not one."""
    folder = Path(folder)
    try:
        metadata = json.loads((folder / METADATA_NAME).read_text())
    except FileNotFoundError:
        raise CheckpointError(f"{folder} is not an ostinato checkpoint: it has no {METADATA_NAME}") from None
    return CheckpointInfo(folder, metadata["stage"], int(metadata["step"]), metadata)


def list_checkpoints(run_dir: Path | str) -> list[CheckpointInfo]:
    """Every complete checkpoint under a run folder (any depth), by increasing step."""
    run_dir = Path(run_dir)
    found = [read_info(meta.parent) for meta in run_dir.rglob(METADATA_NAME)]
    return sorted(found, key=lambda info: info.step)


def resolve_checkpoint(path: Path | str, *, stage: str | None = None) -> CheckpointInfo:
    """A checkpoint folder as is, or the latest checkpoint of a run folder. With ``stage``, a checkpoint of
    another stage is a CheckpointError that says which command writes the right one."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint or run folder {path} does not exist")
    if (path / METADATA_NAME).exists():
        info = read_info(path)
    else:
        found = list_checkpoints(path)
        if not found:
            raise CheckpointError(f"{path} holds no checkpoint yet (no {METADATA_NAME} below it)")
        info = found[-1]
    if stage is not None and info.stage != stage:
        command = "ostinato train-vae" if stage == "vae" else "ostinato train"
        raise CheckpointError(f"{info.path} is a {info.stage!r} checkpoint; this needs one written by {command}")
    return info


def save_trainer_state(folder: Path, state: dict[str, Any]) -> None:
    torch.save(state, folder / TRAINER_STATE_NAME)


def load_trainer_state(folder: Path | str) -> dict[str, Any]:
    """The resumable state saved with a checkpoint (loaded onto the CPU)."""
    path = Path(folder) / TRAINER_STATE_NAME
    if not path.exists():
        raise CheckpointError(f"{folder} has no {TRAINER_STATE_NAME}; it cannot be resumed from")
    return torch.load(path, map_location="cpu", weights_only=False)


def write_checkpoint(
    folder: Path, *, task, model: torch.nn.Module, ema, optimizer, schedule, step: int, last_args: tuple,
    metadata: dict[str, Any],
) -> Path:
    """Write a complete checkpoint of a ``TrainingTask`` into ``folder``: its pretrained folders (from the EMA
    weights when ``ema`` is given), the resumable trainer state and ``ostinato.json`` (written last, so a folder
    with it is complete)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    task.save_models(ema.shadow if ema is not None else model, folder, last_args)
    save_trainer_state(folder, {
        "model": model.state_dict(), "ema": ema.state_dict() if ema is not None else None,
        "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "step": step,
    })
    write_metadata(folder, stage=task.stage, step=step, metadata=metadata)
    return folder
