"""The latent U-Net: diffusers ``UNet2DConditionModel`` attending to the theory tokens in every block."""

from __future__ import annotations

from diffusers import UNet2DConditionModel

from ostinato.diffusion.config import UNetConfig


def build_unet(
    cfg: UNetConfig, *, latent_channels: int, cross_attention_dim: int, map_channels: int = 0
) -> UNet2DConditionModel:
    """A U-Net over VAE latents (B, latent_channels, h, w), plus ``map_channels`` input channels of the
    conditioner's frame map, predicting (B, latent_channels, h, w), with cross-attention to (B, tokens,
    cross_attention_dim) in each down block, the mid block (which also self-attends) and each up block.

    Latent height and width must be multiples of ``2 ** (len(cfg.block_out_channels) - 1)``.
    """
    n = len(cfg.block_out_channels)
    return UNet2DConditionModel(
        in_channels=latent_channels + map_channels,
        out_channels=latent_channels,
        down_block_types=("CrossAttnDownBlock2D",) * n,
        mid_block_type="UNetMidBlock2DCrossAttn",
        up_block_types=("CrossAttnUpBlock2D",) * n,
        block_out_channels=tuple(cfg.block_out_channels),
        layers_per_block=cfg.layers_per_block,
        attention_head_dim=cfg.attention_head_dim,
        norm_num_groups=cfg.norm_num_groups,
        cross_attention_dim=cross_attention_dim,
    )


def unet_downsampling_factor(unet: UNet2DConditionModel) -> int:
    """Latent height and width must be multiples of this."""
    return 2 ** (len(unet.config.block_out_channels) - 1)
