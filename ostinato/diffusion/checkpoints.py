"""Checkpoint folders: pretrained model folders a user can load, plus the trainer state a run resumes from.

A checkpoint folder holds::

    ostinato.json      stage ("vae" / "diffusion"), step, mel parameters and normalisation, vocabulary, config
    vae/               AutoencoderKL.save_pretrained (both stages; the diffusion stage copies its frozen VAE)
    model_index.json   TheoryDiffusionPipeline.save_pretrained: the folder is a diffusers pipeline   [diffusion]
    unet/              UNet2DConditionModel (EMA weights when EMA is on)                         [diffusion]
    conditioner/       TheoryConditioner (EMA weights when EMA is on)                            [diffusion]
    scheduler/         the sampling scheduler (DDIM or DPM-Solver) on the training noise schedule [diffusion]
    trainer_state.pt   raw weights, EMA, optimizer, lr schedule, step, RNG states (for resuming only)

``trainer_state.pt`` holds only tensors, numbers, strings and lists/tuples/dicts of them, and is read with
``torch.load(weights_only=True)``: loading a checkpoint never runs code stored in it. Its RNG states are one
entry per Ray Train rank: torch's CPU (and CUDA) generator, numpy's global MT19937 state and Python's
``random`` state, each as tensors and integers.

A run folder (RUN of ``ostinato train``) holds Ray Train's ``checkpoint_*`` folders; ``resolve_checkpoint`` picks the
one with the highest step.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
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


def capture_rng_state() -> dict[str, Any]:
    """This process's random generators (torch CPU and CUDA, numpy's global, Python's ``random``) as tensors and
    integers only, so they load with ``weights_only=True``."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    version, mt_state, python_gauss = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "numpy": {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "gauss": float(gauss)},
        "python": {"version": version, "state": list(mt_state), "gauss": python_gauss},
    }


def restore_rng_state(state: dict[str, Any]) -> None:
    """Put back generators saved by ``capture_rng_state`` (CUDA ones only where as many devices are visible)."""
    torch.set_rng_state(state["torch"])
    if state["cuda"] and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    numpy = state["numpy"]
    np.random.set_state((numpy["kind"], numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"],
                         numpy["gauss"]))
    python = state["python"]
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))


def save_trainer_state(folder: Path, state: dict[str, Any]) -> None:
    """Write ``trainer_state.pt``; ``state`` must hold only what ``torch.load(weights_only=True)`` accepts."""
    torch.save(state, folder / TRAINER_STATE_NAME)


def load_trainer_state(folder: Path | str) -> dict[str, Any]:
    """The resumable state saved with a checkpoint (loaded onto the CPU, tensors and plain containers only)."""
    path = Path(folder) / TRAINER_STATE_NAME
    if not path.exists():
        raise CheckpointError(f"{folder} has no {TRAINER_STATE_NAME}; it cannot be resumed from")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling refused (an object that is not plain data) or a damaged file
        raise CheckpointError(f"{path} holds more than tensors and plain data, or is damaged: {exc}") from None


def write_checkpoint(
    folder: Path, *, task, model: torch.nn.Module, ema, optimizer, schedule, step: int, last_args: tuple,
    metadata: dict[str, Any], rng_states: list[dict[str, Any]] | None = None,
) -> Path:
    """Write a complete checkpoint of a ``TrainingTask`` into ``folder``: its pretrained folders (from the EMA
    weights when ``ema``, a diffusers ``EMAModel``, is given), the resumable trainer state (``rng_states``: one
    ``capture_rng_state`` per rank; default this process's) and ``ostinato.json`` (written last, so a folder with
    it is complete)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    if ema is not None:
        ema.store(model.parameters())
        ema.copy_to(model.parameters())
    try:
        task.save_models(model, folder, last_args)
    finally:
        if ema is not None:
            ema.restore(model.parameters())
    save_trainer_state(folder, {
        "model": model.state_dict(), "ema": ema.state_dict() if ema is not None else None,
        "optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(), "step": step,
        "rng": rng_states if rng_states is not None else [capture_rng_state()],
    })
    write_metadata(folder, stage=task.stage, step=step, metadata=metadata)
    return folder
