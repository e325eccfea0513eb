"""The two training stages as recipes the trainer runs: what is optimised, how a loader batch becomes its
arguments, and which pretrained folders a checkpoint gets.

Stage 1 (``vae``) trains the mel autoencoder; stage 2 (``diffusion``) trains the U-Net and the theory
conditioner on latents of the frozen stage-1 autoencoder.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import AutoencoderKL

from ostinato.diffusion.conditioner import VOCABULARY_COLUMNS, TheoryConditioner, condition_tensors
from ostinato.diffusion.config import OptimConfig, TrainConfig
from ostinato.diffusion.noise import DiffusionObjective, build_noise_scheduler
from ostinato.diffusion.unet import build_unet
from ostinato.diffusion.vae import MelScaler, VaeObjective, build_vae, encode_latents


@dataclass
class TrainingTask:
    """One stage: ``objective(*prepare(batch))["loss"]`` is minimised over ``optim``; ``save_models(objective,
    folder, args)`` writes the pretrained folders (``args``: a recent prepared batch, e.g. for calibration)."""

    stage: str
    objective: torch.nn.Module
    prepare: Callable[[dict[str, torch.Tensor]], tuple]
    save_models: Callable[[torch.nn.Module, Path, tuple], None]
    optim: OptimConfig


def trainset_metadata(card: Any, *, data: str) -> dict[str, Any]:
    """What a checkpoint must remember of its training set (a ``TrainsetCard``) to generate and evaluate."""
    return {
        "mel": {
            "sample_rate": card.mel.sample_rate, "n_fft": card.mel.n_fft, "hop_length": card.mel.hop_length,
            "n_mels": card.mel.n_mels, "fmin": card.mel.fmin, "fmax": card.mel.fmax,
        },
        "n_frames": card.n_frames,
        "mel_mean": card.mel_mean,
        "mel_std": card.mel_std,
        "vocab_version": card.vocab_version,
        "vocab_sizes": dict(card.vocab_sizes),
        "trainset": data,
    }


def vae_task(cfg: TrainConfig, *, scaler: MelScaler, device: torch.device) -> TrainingTask:
    """Stage 1: the autoencoder on normalised mels. Its checkpoints calibrate ``scaling_factor`` so scaled
    latents of a recent batch have unit standard deviation (what the diffusion stage's noise assumes)."""
    objective = VaeObjective(build_vae(cfg.vae), cfg=cfg.vae).to(device)
    if cfg.vae_training.gradient_checkpointing:
        objective.vae.enable_gradient_checkpointing()

    def prepare(batch: dict[str, torch.Tensor]) -> tuple:
        return (scaler.normalise(batch["mel"].to(device)),)

    def save_models(module: torch.nn.Module, folder: Path, args: tuple) -> None:
        vae = module.vae
        with torch.no_grad():
            std = float(vae.encode(args[0]).latent_dist.mode().std())
        vae.register_to_config(scaling_factor=1.0 / max(std, 1e-6))
        vae.save_pretrained(folder / "vae", safe_serialization=True)

    return TrainingTask("vae", objective, prepare, save_models, cfg.vae_training)


def diffusion_task(
    cfg: TrainConfig, *, vae_dir: Path, scaler: MelScaler, vocab_sizes: dict[str, int], mel: dict[str, Any],
    device: torch.device,
) -> TrainingTask:
    """Stage 2: U-Net + theory conditioner on latents of the frozen VAE in ``vae_dir`` (a stage-1 checkpoint).
    ``mel``: the training set's mel parameters (``trainset_metadata(...)["mel"]``). Its checkpoints are
    ``TheoryDiffusionPipeline`` folders whose scheduler is the ``sampling.scheduler`` sampler."""
    from ostinato.diffusion.pipeline import TheoryDiffusionPipeline, sampling_scheduler

    vae = AutoencoderKL.from_pretrained(vae_dir / "vae", low_cpu_mem_usage=False).to(device)
    vae.eval().requires_grad_(False)
    conditioner = TheoryConditioner(
        dim=cfg.conditioner.dim, frames_per_token=cfg.conditioner.frames_per_token,
        map_channels=cfg.conditioner.map_channels, chord_map_channels=cfg.conditioner.chord_map_channels,
        seconds_per_frame=mel["hop_length"] / mel["sample_rate"],
        **{k: mel[k] for k in ("sample_rate", "n_fft", "n_mels", "fmin", "fmax")},
        **{f"n_{name}": vocab_sizes[name] for name in VOCABULARY_COLUMNS},
    )
    unet = build_unet(cfg.unet, latent_channels=vae.config.latent_channels, cross_attention_dim=cfg.conditioner.dim,
                      map_channels=cfg.conditioner.map_channels + cfg.conditioner.chord_map_channels)
    if cfg.training.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    scheduler = build_noise_scheduler(cfg.diffusion)
    objective = DiffusionObjective(
        unet, conditioner, scheduler, condition_dropout=cfg.conditioner.condition_dropout,
        snr_gamma=cfg.diffusion.snr_gamma,
    ).to(device)

    def prepare(batch: dict[str, torch.Tensor]) -> tuple:
        latents = encode_latents(vae, scaler.normalise(batch["mel"].to(device)))
        return latents, condition_tensors(batch, device=device)

    def save_models(module: torch.nn.Module, folder: Path, args: tuple) -> None:
        pipeline = TheoryDiffusionPipeline(
            vae=vae, unet=module.unet, conditioner=module.conditioner,
            scheduler=sampling_scheduler(scheduler.config, cfg.sampling.scheduler),
            mel_mean=scaler.mean, mel_std=scaler.std, **mel,
        )
        pipeline.save_pretrained(folder, safe_serialization=True)

    return TrainingTask("diffusion", objective, prepare, save_models, cfg.training)
