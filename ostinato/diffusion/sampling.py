"""Sampling: a pipeline that wires the VAE, the theory conditioner, the U-Net and a DDIM or DPM-Solver scheduler,
loaded from a checkpoint folder, and turns conditions into log-mel spectrograms with classifier-free guidance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from diffusers import AutoencoderKL, DDIMScheduler, DPMSolverMultistepScheduler, UNet2DConditionModel
from diffusers.configuration_utils import FrozenDict
from diffusers.utils.torch_utils import randn_tensor

from ostinato.diffusion.checkpoints import CheckpointInfo, resolve_checkpoint
from ostinato.diffusion.conditioner import ConditionerOutput, TheoryConditioner, null_conditions
from ostinato.diffusion.noise import denoise
from ostinato.diffusion.unet import unet_downsampling_factor
from ostinato.diffusion.vae import MelScaler, decode_latents, downsampling_factor
from ostinato.errors import OstinatoError


@dataclass
class TheoryDiffusionPipeline:
    """A trained latent diffusion model, ready to sample. ``info`` is its checkpoint's metadata (mel parameters,
    normalisation, vocabulary, training config)."""

    vae: AutoencoderKL
    unet: UNet2DConditionModel
    conditioner: TheoryConditioner
    scheduler_config: FrozenDict
    info: CheckpointInfo

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str | torch.device = "cpu") -> TheoryDiffusionPipeline:
        """Load from a checkpoint folder or a run folder (its latest checkpoint) of ``ostinato train``."""
        from diffusers import DDPMScheduler

        info = resolve_checkpoint(path, stage="diffusion")
        load = {"low_cpu_mem_usage": False}  # no `accelerate` needed (and no warning about it)
        vae = AutoencoderKL.from_pretrained(info.path / "vae", **load).to(device).eval()
        unet = UNet2DConditionModel.from_pretrained(info.path / "unet", **load).to(device).eval()
        conditioner = TheoryConditioner.from_pretrained(info.path / "conditioner", **load).to(device).eval()
        scheduler_config = DDPMScheduler.from_pretrained(info.path / "scheduler").config
        return cls(vae, unet, conditioner, scheduler_config, info)

    @property
    def device(self) -> torch.device:
        return next(self.unet.parameters()).device

    @property
    def scaler(self) -> MelScaler:
        return MelScaler(mean=self.info.metadata["mel_mean"], std=self.info.metadata["mel_std"])

    @property
    def frame_multiple(self) -> int:
        """Generated mels have a multiple of this many frames (the VAE's and U-Net's downsampling)."""
        return downsampling_factor(self.vae) * unet_downsampling_factor(self.unet)

    def frames_for(self, seconds: float) -> int:
        """Mel frames generated for ``seconds`` of audio: enough frames, rounded up to ``frame_multiple``."""
        mel = self.info.mel
        frames = math.ceil(seconds * mel["sample_rate"] / mel["hop_length"])
        return math.ceil(frames / self.frame_multiple) * self.frame_multiple

    def scheduler(self, kind: str):
        """A fresh sampling scheduler ("ddim" or "dpm") built from the training noise schedule."""
        if kind == "ddim":
            return DDIMScheduler.from_config(self.scheduler_config, clip_sample=False, set_alpha_to_one=False)
        if kind == "dpm":
            return DPMSolverMultistepScheduler.from_config(self.scheduler_config)
        raise OstinatoError(f"unknown sampler {kind!r}; use 'ddim' or 'dpm'")

    @torch.no_grad()
    def __call__(
        self,
        conditions: dict[str, torch.Tensor],
        *,
        steps: int = 50,
        guidance_scale: float = 3.0,
        sampler: str = "ddim",
        generator: torch.Generator | list[torch.Generator] | None = None,
    ) -> torch.Tensor:
        """Log-mel spectrograms (B, n_mels, n_frames), natural-log mel power (the training set's units), for
        ``conditions`` (the conditioner's tensors, frame tracks of ``n_frames`` a multiple of ``frame_multiple``).

        ``guidance_scale`` 0 samples the unconditional model (conditions ignored), 1 the conditional one, >1
        extrapolates away from the unconditional prediction (classifier-free guidance). ``generator``: one, or
        one per sample (so a clip's noise depends only on its own seed).
        """
        device = self.device
        conditions = {k: v.to(device) for k, v in conditions.items()}
        batch, n_frames = conditions["chord_root"].shape
        if n_frames % self.frame_multiple:
            raise OstinatoError(f"n_frames {n_frames} must be a multiple of {self.frame_multiple}")
        f = downsampling_factor(self.vae)
        shape = (batch, self.vae.config.latent_channels, self.info.mel["n_mels"] // f, n_frames // f)
        latents = randn_tensor(shape, generator=generator, device=device)
        scheduler = self.scheduler(sampler)
        scheduler.set_timesteps(steps, device=device)
        latents = latents * scheduler.init_noise_sigma
        uncond = self.conditioner(null_conditions(conditions), map_size=shape[-2:])
        cond = self.conditioner(conditions, map_size=shape[-2:])
        for t in scheduler.timesteps:
            model_input = scheduler.scale_model_input(latents, t)
            prediction = self._guided(model_input, t, cond=cond, uncond=uncond, guidance_scale=guidance_scale)
            latents = scheduler.step(prediction, t, latents).prev_sample
        mel = decode_latents(self.vae, latents)[:, 0]
        return self.scaler.denormalise(mel)

    def _guided(self, x, t, *, cond: ConditionerOutput, uncond: ConditionerOutput, guidance_scale: float):
        if guidance_scale == 0:
            return denoise(self.unet, x, t, uncond)
        if guidance_scale == 1:
            return denoise(self.unet, x, t, cond)
        both = ConditionerOutput(
            tokens=torch.cat([uncond.tokens, cond.tokens]),
            frame_map=None if cond.frame_map is None else torch.cat([uncond.frame_map, cond.frame_map]),
        )
        pred_uncond, pred_cond = denoise(self.unet, torch.cat([x, x]), t, both).chunk(2)
        return pred_uncond + guidance_scale * (pred_cond - pred_uncond)
