"""Typed configuration for `ostinato train-vae`, `ostinato train`, `generate` and `evaluate`.

One YAML file (see ``configs/train/tiny.yaml`` and ``configs/train/gpu.yaml``) holds the model shapes, the
optimisation of both stages and the Ray Train resources; dotted ``section.key=value`` overrides apply on top.
Unknown keys are errors, as in ``ostinato.config``, whose YAML and override helpers are reused here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field

from ostinato.config import StrictModel, load_yaml_model


class VaeConfig(StrictModel):
    """Shape of the mel autoencoder (diffusers ``AutoencoderKL``); each extra block halves mel bins and frames."""

    block_out_channels: tuple[int, ...] = (32, 64, 128)
    layers_per_block: int = Field(1, ge=1)
    latent_channels: int = Field(4, ge=1)
    norm_num_groups: int = Field(8, ge=1)
    kl_weight: float = Field(1e-4, ge=0, description="weight of the KL term against the L1 reconstruction")
    spectral_weight: float = Field(
        0.1, ge=0, description="weight of an L1 on frame-to-frame mel differences (keeps onsets sharp)"
    )


class ConditionerConfig(StrictModel):
    """Theory conditioner: chord/roman/function/beat/section frame tokens plus global key/genre/meter tokens."""

    dim: int = Field(256, ge=4, description="token width; the U-Net's cross_attention_dim")
    frames_per_token: int = Field(8, ge=1, description="mel frames averaged into one time token")
    map_channels: int = Field(
        8, ge=0, description="channels of the frame map concatenated to the U-Net input (time-aligned conditions "
        "in place, since attention queries carry no position); 0: cross-attention only"
    )
    chord_map_channels: int = Field(
        0, ge=0, description="channels of the fixed chord-tone map concatenated to the U-Net input: the requested "
        "chord's tones and partials drawn on the mel axis, this many mel rows per latent row as channels (the "
        "VAE's downsampling keeps every mel bin); 0: off"
    )
    condition_dropout: float = Field(
        0.1, ge=0, le=1, description="share of training samples whose conditions are dropped (classifier-free)"
    )


class UNetConfig(StrictModel):
    """Latent U-Net (diffusers ``UNet2DConditionModel``) with cross-attention in every down, mid and up block."""

    block_out_channels: tuple[int, ...] = (128, 256, 512)
    layers_per_block: int = Field(2, ge=1)
    attention_head_dim: int = Field(8, ge=1)
    norm_num_groups: int = Field(32, ge=1)


class DiffusionConfig(StrictModel):
    """Training noise schedule (DDPM) and the quantity the U-Net predicts."""

    num_train_timesteps: int = Field(1000, ge=10)
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = "scaled_linear"
    prediction_type: Literal["epsilon", "v_prediction"] = "epsilon"
    snr_gamma: float | None = Field(5.0, gt=0, description="min-SNR loss weighting (Hang et al. 2023); null: off")


class OptimConfig(StrictModel):
    """Optimisation of one stage. ``batch_size`` is per worker; the global batch is workers x batch x accum."""

    max_steps: int = Field(10000, ge=1, description="optimizer steps")
    batch_size: int = Field(16, ge=1)
    grad_accum: int = Field(1, ge=1, description="micro-batches per optimizer step")
    lr: float = Field(1e-4, gt=0)
    weight_decay: float = Field(1e-2, ge=0)
    warmup_steps: int = Field(500, ge=0, description="optimizer steps of linear warm-up from lr 0")
    lr_schedule: Literal["constant_with_warmup", "cosine", "linear"] = Field(
        "constant_with_warmup", description="diffusers.optimization.get_scheduler name: after the warm-up, "
        "constant, or a cosine or linear decay to 0 at max_steps"
    )
    clip_norm: float | None = Field(1.0, gt=0)
    ema_decay: float | None = Field(0.999, gt=0, lt=1, description="EMA of the weights; null: no EMA")
    mixed_precision: Literal["auto", "bf16", "no"] = Field("auto", description="auto: bf16 autocast on GPU only")
    gradient_checkpointing: bool = False


class RunSettings(StrictModel):
    """Ray Train resources, checkpoints and logging."""

    num_workers: int = Field(1, ge=1)
    use_gpu: bool = False
    cpus_per_worker: float = Field(1.0, gt=0)
    checkpoint_every: int = Field(1000, ge=1, description="steps between checkpoints")
    keep_checkpoints: int = Field(3, ge=1, description="only the latest K checkpoints are kept")
    max_failures: int = Field(3, ge=0, description="restarts from the latest checkpoint after a worker dies")
    log_every: int = Field(50, ge=1, description="steps between metric reports (console and TensorBoard)")
    seed: int = 0
    shuffle_buffer: int = Field(
        256, ge=0, description="segments in each worker's local shuffle buffer (Ray Data's local_shuffle_buffer_size): "
        "a training set lists each track's segments together, so without it a batch is a few seconds of one track; "
        "0: shard order"
    )
    cache_data_gb: float = Field(
        2.0, ge=0, description="a training split whose mels are smaller than this is read once and kept in Ray's "
        "object store (small sets would otherwise spend most of a step restarting the stream every epoch)"
    )


class SamplingConfig(StrictModel):
    """Defaults for `generate` and `evaluate`."""

    steps: int = Field(50, ge=1)
    guidance_scale: float = Field(3.0, ge=0, description="classifier-free guidance; 1 = conditional, 0 = none")
    scheduler: Literal["ddim", "dpm"] = "ddim"


class TrainConfig(StrictModel):
    """Everything the two training stages, generation and evaluation can be told."""

    vae: VaeConfig = VaeConfig()
    vae_training: OptimConfig = OptimConfig(lr=2e-4, warmup_steps=200)
    conditioner: ConditionerConfig = ConditionerConfig()
    unet: UNetConfig = UNetConfig()
    diffusion: DiffusionConfig = DiffusionConfig()
    training: OptimConfig = OptimConfig()
    run: RunSettings = RunSettings()
    sampling: SamplingConfig = SamplingConfig()


def load_train_config(path: Path | str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> TrainConfig:
    """Read a training YAML file (or nothing: defaults), apply dotted overrides, and validate.

    Raises ConfigError naming the offending key for unknown keys, wrong types or out-of-range values.
    """
    return load_yaml_model(TrainConfig, path, overrides)


def shape_problems(cfg: TrainConfig, *, n_mels: int, n_frames: int) -> list[str]:
    """What in ``cfg`` does not fit mels of ``n_mels`` bins x ``n_frames`` frames (an empty list when all fits).

    The VAE halves mel bins and frames once per block after the first, the U-Net halves the latent grid once per
    block after the first, GroupNorm splits every block's channels into ``norm_num_groups``, each U-Net attention
    layer splits its channels into ``attention_head_dim`` heads, and the conditioner averages whole groups of
    ``frames_per_token`` frames into one time token.
    """
    problems = []
    vae_factor = 2 ** (len(cfg.vae.block_out_channels) - 1)
    unet_factor = 2 ** (len(cfg.unet.block_out_channels) - 1)
    for name, size in (("mel bins", n_mels), ("frames", n_frames)):
        if size % vae_factor:
            problems.append(f"{name} ({size}) must be a multiple of the VAE's downsampling {vae_factor} "
                            f"({len(cfg.vae.block_out_channels)} vae.block_out_channels)")
        elif (size // vae_factor) % unet_factor:
            problems.append(f"latent {name} ({size // vae_factor}) must be a multiple of the U-Net's downsampling "
                            f"{unet_factor} ({len(cfg.unet.block_out_channels)} unet.block_out_channels)")
    for section, model in (("vae", cfg.vae), ("unet", cfg.unet)):
        odd = [c for c in model.block_out_channels if c % model.norm_num_groups]
        if odd:
            problems.append(f"{section}.block_out_channels {odd} do not split into {model.norm_num_groups} "
                            f"{section}.norm_num_groups")
    odd = [c for c in cfg.unet.block_out_channels if c % cfg.unet.attention_head_dim]
    if odd:
        problems.append(f"unet.block_out_channels {odd} do not split into {cfg.unet.attention_head_dim} attention "
                        "heads (unet.attention_head_dim)")
    if n_frames % cfg.conditioner.frames_per_token:
        problems.append(f"frames ({n_frames}) must be a multiple of conditioner.frames_per_token "
                        f"({cfg.conditioner.frames_per_token})")
    return problems
