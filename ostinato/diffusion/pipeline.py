"""The sampling pipeline: a ``diffusers.DiffusionPipeline`` wiring the mel VAE, the theory conditioner, the latent
U-Net and a scheduler, turning theory conditions into log-mel spectrograms with classifier-free guidance.

Every diffusion checkpoint folder is this pipeline's ``save_pretrained`` output (``model_index.json`` plus
``vae/``, ``unet/``, ``conditioner/``, ``scheduler/``), so it loads with::

    from ostinato.diffusion.pipeline import TheoryDiffusionPipeline
    pipe = TheoryDiffusionPipeline.from_pretrained("runs/ldm/checkpoint_00000800")
    mels = pipe(conditions, num_inference_steps=50, guidance_scale=3.0).mels

``model_index.json`` names the conditioner's library as ``ostinato.diffusion.conditioner``; diffusers resolves it
from the already imported module (importing this one imports it) and never imports code a folder names.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    DDIMScheduler,
    DDPMScheduler,
    DiffusionPipeline,
    DPMSolverMultistepScheduler,
    UNet2DConditionModel,
)
from diffusers.utils import BaseOutput
from diffusers.utils import logging as diffusers_logging
from diffusers.utils.torch_utils import randn_tensor

from ostinato.diffusion.conditioner import ConditionerOutput, TheoryConditioner, null_conditions
from ostinato.diffusion.noise import denoise
from ostinato.diffusion.unet import unet_downsampling_factor
from ostinato.diffusion.vae import MelScaler, decode_latents, downsampling_factor
from ostinato.errors import OstinatoError

#: Sampler names accepted by ``sampler=`` and the ``sampling.scheduler`` config key.
SAMPLERS = ("ddim", "dpm")


def sampling_scheduler(training_config: dict[str, Any], kind: str) -> DDIMScheduler | DPMSolverMultistepScheduler:
    """A fresh sampling scheduler ("ddim" or "dpm") on the noise schedule of ``training_config`` (any
    scheduler's config: betas, timesteps and prediction type are what carry over)."""
    if kind == "ddim":
        return DDIMScheduler.from_config(training_config, clip_sample=False, set_alpha_to_one=False)
    if kind == "dpm":
        return DPMSolverMultistepScheduler.from_config(training_config)
    raise OstinatoError(f"unknown sampler {kind!r}; use one of {', '.join(SAMPLERS)}")


@dataclass
class MelPipelineOutput(BaseOutput):
    """``mels`` (B, n_mels, n_frames) float32: natural-log mel power, the training set's units."""

    mels: torch.Tensor


class TheoryDiffusionPipeline(DiffusionPipeline):
    """Theory conditions -> log-mel spectrograms.

    Components: ``vae`` (mel ``AutoencoderKL``), ``unet`` (``UNet2DConditionModel`` over latents plus the
    conditioner's frame map), ``conditioner`` (``TheoryConditioner``) and ``scheduler`` (the sampler, built on
    the training noise schedule). The config also records the mel parameters (``sample_rate`` Hz, ``n_fft`` and
    ``hop_length`` samples, ``n_mels``, band edges ``fmin``/``fmax`` Hz) and the training set's normalisation
    (``mel_mean``, ``mel_std`` of natural-log mel power), so a folder alone says what its output means.
    """

    model_cpu_offload_seq = "conditioner->unet->vae"

    def __init__(
        self,
        vae: AutoencoderKL,
        unet: UNet2DConditionModel,
        conditioner: TheoryConditioner,
        scheduler: DDIMScheduler | DPMSolverMultistepScheduler | DDPMScheduler,
        sample_rate: int = 22050,
        n_fft: int = 1024,
        hop_length: int = 256,
        n_mels: int = 80,
        fmin: float = 0.0,
        fmax: float | None = None,
        mel_mean: float = 0.0,
        mel_std: float = 1.0,
    ) -> None:
        super().__init__()
        self.register_modules(vae=vae, unet=unet, conditioner=conditioner, scheduler=scheduler)
        self.register_to_config(sample_rate=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels,
                                fmin=fmin, fmax=fmax, mel_mean=mel_mean, mel_std=mel_std)

    @classmethod
    def from_checkpoint(cls, path: str | Path, *, device: str | torch.device = "cpu") -> TheoryDiffusionPipeline:
        """Load a checkpoint folder of ``ostinato train``, or the latest checkpoint of a run folder."""
        from ostinato.diffusion.checkpoints import CheckpointError, resolve_checkpoint

        info = resolve_checkpoint(path, stage="diffusion")
        if not (info.path / "model_index.json").exists():
            raise CheckpointError(f"{info.path} has no model_index.json (written by an older ostinato); retrain it")
        bars_were_on = diffusers_logging.is_progress_bar_enabled()
        diffusers_logging.disable_progress_bar()  # "Loading pipeline components" takes a blink here
        try:
            pipeline = cls.from_pretrained(info.path, low_cpu_mem_usage=False)  # no `accelerate` needed
        finally:
            if bars_were_on:
                diffusers_logging.enable_progress_bar()
        return pipeline.to(device)

    @property
    def mel(self) -> dict[str, Any]:
        """Mel parameters of the training set: sample_rate, n_fft, hop_length, n_mels, fmin, fmax."""
        return {k: self.config[k] for k in ("sample_rate", "n_fft", "hop_length", "n_mels", "fmin", "fmax")}

    @property
    def scaler(self) -> MelScaler:
        return MelScaler(mean=self.config.mel_mean, std=self.config.mel_std)

    @property
    def frame_multiple(self) -> int:
        """Generated mels have a multiple of this many frames (the VAE's and U-Net's downsampling)."""
        return downsampling_factor(self.vae) * unet_downsampling_factor(self.unet)

    def frames_for(self, seconds: float) -> int:
        """Mel frames generated for ``seconds`` of audio: enough frames, rounded up to ``frame_multiple``."""
        frames = math.ceil(seconds * self.config.sample_rate / self.config.hop_length)
        return math.ceil(frames / self.frame_multiple) * self.frame_multiple

    @torch.no_grad()
    def __call__(
        self,
        conditions: dict[str, torch.Tensor],
        *,
        num_inference_steps: int = 50,
        guidance_scale: float = 3.0,
        sampler: str | None = None,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_dict: bool = True,
    ) -> MelPipelineOutput | tuple[torch.Tensor]:
        """Log-mels for ``conditions`` (the conditioner's tensors; frame tracks (B, n_frames) with ``n_frames`` a
        multiple of ``frame_multiple``).

        ``guidance_scale`` 0 samples the unconditional model (conditions ignored), 1 the conditional one, > 1
        extrapolates away from the unconditional prediction (classifier-free guidance). ``sampler`` "ddim" or
        "dpm" samples with a fresh scheduler of that kind; None with ``self.scheduler``. ``generator``: one, or
        one per sample (so a clip's noise depends only on its own seed).
        """
        device = self._execution_device
        conditions = {k: v.to(device) for k, v in conditions.items()}
        batch, n_frames = conditions["chord_root"].shape
        if n_frames % self.frame_multiple:
            raise OstinatoError(f"n_frames {n_frames} must be a multiple of {self.frame_multiple}")
        if isinstance(generator, list) and len(generator) != batch:
            raise OstinatoError(f"got {len(generator)} generators for a batch of {batch}")
        f = downsampling_factor(self.vae)
        shape = (batch, self.vae.config.latent_channels, self.config.n_mels // f, n_frames // f)
        scheduler = self.scheduler if sampler is None else sampling_scheduler(self.scheduler.config, sampler)
        scheduler.set_timesteps(num_inference_steps, device=device)
        latents = randn_tensor(shape, generator=generator, device=device) * scheduler.init_noise_sigma
        uncond = self.conditioner(null_conditions(conditions), map_size=shape[-2:])
        cond = self.conditioner(conditions, map_size=shape[-2:])
        for t in self.progress_bar(scheduler.timesteps):
            model_input = scheduler.scale_model_input(latents, t)
            prediction = self._guided(model_input, t, cond=cond, uncond=uncond, guidance_scale=guidance_scale)
            latents = scheduler.step(prediction, t, latents).prev_sample
        mels = self.scaler.denormalise(decode_latents(self.vae, latents)[:, 0])
        self.maybe_free_model_hooks()
        return MelPipelineOutput(mels=mels) if return_dict else (mels,)

    def _guided(
        self, x: torch.Tensor, t: torch.Tensor, *, cond: ConditionerOutput, uncond: ConditionerOutput,
        guidance_scale: float,
    ) -> torch.Tensor:
        """The U-Net's prediction for latents ``x`` (B, C, h, w) at timestep ``t``, guided by ``guidance_scale``."""
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
