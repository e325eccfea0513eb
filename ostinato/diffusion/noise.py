"""The denoising objective: DDPM forward noising, epsilon or v targets, min-SNR weighting, condition dropout."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DConditionModel
from diffusers.training_utils import compute_snr

from ostinato.diffusion.conditioner import ConditionerOutput, TheoryConditioner
from ostinato.diffusion.config import DiffusionConfig


def build_noise_scheduler(cfg: DiffusionConfig) -> DDPMScheduler:
    """The training noise schedule; sampling schedulers (DDIM, DPM-Solver) are built from its config."""
    return DDPMScheduler(
        num_train_timesteps=cfg.num_train_timesteps,
        beta_schedule=cfg.beta_schedule,
        prediction_type=cfg.prediction_type,
        clip_sample=False,
    )


def min_snr_weights(scheduler: DDPMScheduler, timesteps: torch.Tensor, *, gamma: float) -> torch.Tensor:
    """Per-sample loss weights (B,) ``min(SNR, gamma) / SNR`` for epsilon targets, ``/ (SNR + 1)`` for v targets
    (Hang et al. 2023, "Efficient Diffusion Training via Min-SNR Weighting Strategy"), with the SNR of each of
    ``timesteps`` (B,) from ``diffusers.training_utils.compute_snr``."""
    snr = compute_snr(scheduler, timesteps)
    clipped = snr.clamp(max=gamma)
    if scheduler.config.prediction_type == "v_prediction":
        return clipped / (snr + 1)
    return clipped / snr


def denoise(unet: UNet2DConditionModel, x: torch.Tensor, t: torch.Tensor, encoded: ConditionerOutput) -> torch.Tensor:
    """The U-Net's prediction for latents ``x`` (B, C, h, w) at timesteps ``t``: cross-attending to the tokens,
    with the conditioner's frame map (if any) concatenated to the input channels."""
    if encoded.frame_map is not None:
        x = torch.cat([x, encoded.frame_map.to(x.dtype)], dim=1)
    return unet(x, t, encoder_hidden_states=encoded.tokens.to(x.dtype)).sample


class DiffusionObjective(torch.nn.Module):
    """U-Net plus conditioner as one module whose ``forward`` is the training loss (so DDP wraps one thing).

    ``forward(latents, conditions)``: latents (B, C, h, w) scaled VAE latents; conditions the loader's tensors.
    Draws timesteps and noise from torch's global RNG, drops each sample's conditions with probability
    ``condition_dropout``, and returns ``{"loss": scalar}``.
    """

    def __init__(
        self,
        unet: UNet2DConditionModel,
        conditioner: TheoryConditioner,
        scheduler: DDPMScheduler,
        *,
        condition_dropout: float,
        snr_gamma: float | None,
    ) -> None:
        super().__init__()
        self.unet, self.conditioner, self.scheduler = unet, conditioner, scheduler
        self.condition_dropout, self.snr_gamma = condition_dropout, snr_gamma

    def forward(self, latents: torch.Tensor, conditions: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        batch = latents.shape[0]
        noise = torch.randn_like(latents)
        timesteps = torch.randint(0, self.scheduler.config.num_train_timesteps, (batch,), device=latents.device)
        noisy = self.scheduler.add_noise(latents, noise, timesteps)
        drop = torch.rand(batch, device=latents.device) < self.condition_dropout
        encoded = self.conditioner(conditions, drop=drop, map_size=tuple(latents.shape[-2:]))
        prediction = denoise(self.unet, noisy, timesteps, encoded)
        if self.scheduler.config.prediction_type == "v_prediction":
            target = self.scheduler.get_velocity(latents, noise, timesteps)
        else:
            target = noise
        per_sample = F.mse_loss(prediction.float(), target.float(), reduction="none").mean(dim=(1, 2, 3))
        if self.snr_gamma is not None:
            per_sample = per_sample * min_snr_weights(self.scheduler, timesteps, gamma=self.snr_gamma)
        return {"loss": per_sample.mean()}
