"""A tiny trained model for tests and demos: both stages fitted in-process (no Ray) on a few training segments
until it regenerates them from their conditions; written as real checkpoints ``generate``/``evaluate`` load."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

import torch

from ostinato.datasets.loader import SegmentDataset, read_card
from ostinato.diffusion.checkpoints import write_checkpoint
from ostinato.diffusion.config import TrainConfig, load_train_config
from ostinato.diffusion.stages import diffusion_task, trainset_metadata, vae_task
from ostinato.diffusion.train import fit_plain
from ostinato.diffusion.vae import MelScaler

#: The tiny training config of a source checkout.
TINY_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "train" / "tiny.yaml"
#: Settings on top of configs/train/tiny.yaml that overfit a handful of segments in a few hundred steps (a VAE of
#: three blocks keeps 4x more latent cells than the demo's four on the tests' 32-bin mels).
OVERFIT_OVERRIDES = ("vae.block_out_channels=[8,16,16]", "training.lr=2e-3", "training.ema_decay=0.98",
                     "diffusion.prediction_type=v_prediction",
                     "sampling.steps=20", "sampling.guidance_scale=3.0")


@dataclass(frozen=True)
class TinyModel:
    """Where the checkpoints went and which segments (train-split indices, one per track) were fitted."""

    vae: Path
    model: Path
    segments: list[int]
    losses: list[float]


def one_segment_per_track(dataset: SegmentDataset, *, limit: int = 3) -> list[int]:
    """Indices of the first segment of each track, at most ``limit``."""
    first: dict[str, int] = {}
    for i in range(len(dataset)):
        first.setdefault(dataset.segment_id(i).split(":")[0], i)
    return list(first.values())[:limit]


def train_tiny_model(
    trainset: str | Path, folder: str | Path, *, config: str | Path = TINY_CONFIG,
    vae_steps: int = 100, steps: int = 300, segments: int = 3, seed: int = 0,
) -> TinyModel:
    """Fit the VAE then the U-Net + conditioner on ``segments`` train segments of ``trainset`` (one per track),
    full batch; checkpoints go to ``folder/vae`` and ``folder/model``."""
    torch.manual_seed(seed)
    folder = Path(folder)
    cfg: TrainConfig = load_train_config(config, list(OVERFIT_OVERRIDES))
    card = read_card(str(trainset))
    dataset = SegmentDataset(str(trainset), "train")
    chosen = one_segment_per_track(dataset, limit=segments)
    batch = torch.utils.data.default_collate([dataset[i] for i in chosen])
    scaler = MelScaler(mean=card.mel_mean, std=card.mel_std)
    metadata = {**trainset_metadata(card, data=str(trainset)), "config": cfg.model_dump(mode="json")}
    device = torch.device("cpu")
    stage1 = vae_task(cfg, scaler=scaler, device=device)
    _, state = fit_plain(stage1, itertools.repeat(batch), steps=vae_steps)
    write_checkpoint(folder / "vae", task=stage1, metadata=metadata, **state)
    stage2 = diffusion_task(
        cfg, vae_dir=folder / "vae", scaler=scaler, vocab_sizes=card.vocab_sizes,
        mel=metadata["mel"], device=device,
    )
    results, state = fit_plain(stage2, itertools.repeat(batch), steps=steps)
    write_checkpoint(folder / "model", task=stage2, metadata=metadata, **state)
    return TinyModel(folder / "vae", folder / "model", chosen, [r.loss for r in results])
