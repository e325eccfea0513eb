"""The mel autoencoder: a diffusers ``AutoencoderKL`` over one-channel log-mel images, and its loss.

Mels enter normalised, ``(log_mel - mean) / std`` with the training set's statistics (``MelScaler``), so the
autoencoder sees values of unit scale whatever the corpus loudness.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL

from ostinato.diffusion.config import VaeConfig


@dataclass(frozen=True)
class MelScaler:
    """Normalisation of natural-log mel power: ``(x - mean) / std`` and back."""

    mean: float
    std: float

    def normalise(self, log_mel: torch.Tensor) -> torch.Tensor:
        return (log_mel - self.mean) / self.std

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean


def build_vae(cfg: VaeConfig) -> AutoencoderKL:
    """A one-channel ``AutoencoderKL`` whose latents are ``2 ** (len(block_out_channels) - 1)`` times smaller
    along mel bins and frames, with ``cfg.latent_channels`` channels."""
    n = len(cfg.block_out_channels)
    return AutoencoderKL(
        in_channels=1,
        out_channels=1,
        down_block_types=("DownEncoderBlock2D",) * n,
        up_block_types=("UpDecoderBlock2D",) * n,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        latent_channels=cfg.latent_channels,
        norm_num_groups=cfg.norm_num_groups,
    )


def downsampling_factor(vae: AutoencoderKL) -> int:
    """How many mel bins (and frames) one latent cell covers."""
    return 2 ** (len(vae.config.block_out_channels) - 1)


class VaeObjective(torch.nn.Module):
    """The autoencoder's training loss as a module, so DDP sees one ``forward`` and synchronises gradients.

    ``forward(mel)`` with a normalised mel batch (B, 1, n_mels, n_frames) returns scalar tensors: ``loss`` =
    L1 reconstruction + ``kl_weight`` x KL + ``spectral_weight`` x L1 of frame-to-frame differences (which
    keeps onsets sharp where a plain L1 blurs them), and each term detached under its own name.
    """

    def __init__(self, vae: AutoencoderKL, *, cfg: VaeConfig) -> None:
        super().__init__()
        self.vae = vae
        self.kl_weight, self.spectral_weight = cfg.kl_weight, cfg.spectral_weight

    def forward(self, mel: torch.Tensor) -> dict[str, torch.Tensor]:
        posterior = self.vae.encode(mel).latent_dist
        recon = self.vae.decode(posterior.sample()).sample
        reconstruction = F.l1_loss(recon, mel)
        kl = posterior.kl().mean() / mel[0].numel()  # per input value, so kl_weight does not depend on mel size
        spectral = F.l1_loss(recon.diff(dim=-1), mel.diff(dim=-1))
        loss = reconstruction + self.kl_weight * kl + self.spectral_weight * spectral
        return {"loss": loss, "reconstruction": reconstruction.detach(), "kl": kl.detach(),
                "spectral": spectral.detach()}


@torch.no_grad()
def encode_latents(vae: AutoencoderKL, mel: torch.Tensor, *, sample: bool = True) -> torch.Tensor:
    """Scaled latents ``z * vae.config.scaling_factor`` (B, C, n_mels / f, n_frames / f) of a normalised mel."""
    dist = vae.encode(mel).latent_dist
    z = dist.sample() if sample else dist.mode()
    return z * vae.config.scaling_factor


@torch.no_grad()
def decode_latents(vae: AutoencoderKL, latents: torch.Tensor) -> torch.Tensor:
    """Normalised mel (B, 1, n_mels, n_frames) of scaled latents."""
    return vae.decode(latents / vae.config.scaling_factor).sample
