"""TheoryDiffusionPipeline as a diffusers pipeline: tiny seeded components generate known numbers, and a
save_pretrained folder (model_index.json + one folder per component) loads back and generates the same."""

from __future__ import annotations

import json

import pytest
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DiffusionPipeline

from ostinato.datasets.vocab import vocab_sizes
from ostinato.diffusion.conditioner import VOCABULARY_COLUMNS, TheoryConditioner
from ostinato.diffusion.config import UNetConfig, VaeConfig
from ostinato.diffusion.pipeline import TheoryDiffusionPipeline
from ostinato.diffusion.unet import build_unet
from ostinato.diffusion.vae import build_vae

N_MELS, N_FRAMES = 16, 32

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def dummy_components() -> dict:
    """Seeded tiny components: a 2-block VAE (mels 16 x 32 -> latents 4 x 8 x 16), a 2-block U-Net, a 16-wide
    conditioner and DDIM on a 100-step linear schedule."""
    torch.manual_seed(0)
    vae = build_vae(VaeConfig(block_out_channels=(8, 16), norm_num_groups=4)).eval()
    conditioner = TheoryConditioner(dim=16, frames_per_token=4, map_channels=4, seconds_per_frame=256 / 8000,
                                    **{f"n_{name}": size for name, size in vocab_sizes().items()}).eval()
    unet = build_unet(UNetConfig(block_out_channels=(8, 16), layers_per_block=1, attention_head_dim=4,
                                 norm_num_groups=4), latent_channels=4, cross_attention_dim=16, map_channels=4).eval()
    training = DDPMScheduler(num_train_timesteps=100, beta_schedule="linear", clip_sample=False)
    scheduler = DDIMScheduler.from_config(training.config, set_alpha_to_one=False)
    return {"vae": vae, "unet": unet, "conditioner": conditioner, "scheduler": scheduler}


def dummy_conditions(batch: int = 2) -> dict[str, torch.Tensor]:
    """Conditions of the loader's shapes: frame ids (B, N_FRAMES), phases, global ids and continuous values."""
    g = torch.Generator().manual_seed(0)
    sizes = vocab_sizes()
    out = {name: torch.randint(1, sizes[name], (batch, N_FRAMES), generator=g)
           for name in ("chord_root", "chord_quality", "roman", "function", "section")}
    out.update({name: torch.randint(1, sizes[name], (batch,), generator=g)
                for name in ("key", "mode", "time_signature", "genre")})
    out["beat_phase"] = (torch.arange(N_FRAMES) / 8.0 % 1.0).repeat(batch, 1)
    out["bar_phase"] = (torch.arange(N_FRAMES) / 32.0 % 1.0).repeat(batch, 1)
    out["downbeat"] = (out["bar_phase"] == 0).float()
    for name in ("bpm", "harmonic_complexity", "rhythmic_complexity", "loudness_lufs"):
        out[name] = torch.full((batch,), 120.0 if name == "bpm" else 0.5)
        out[f"{name}_known"] = torch.ones(batch)
    return out


def dummy_pipeline() -> TheoryDiffusionPipeline:
    pipe = TheoryDiffusionPipeline(**dummy_components(), sample_rate=8000, n_fft=512, hop_length=256,
                                   n_mels=N_MELS, fmin=0.0, fmax=4000.0, mel_mean=-6.0, mel_std=2.0)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def run(pipe: TheoryDiffusionPipeline, **kwargs) -> torch.Tensor:
    generator = [torch.Generator().manual_seed(i) for i in range(2)]
    return pipe(dummy_conditions(), num_inference_steps=3, guidance_scale=3.0, generator=generator, **kwargs).mels


def test_tiny_pipeline_generates_the_stored_numbers():
    mels = run(dummy_pipeline())
    assert mels.shape == (2, N_MELS, N_FRAMES) and mels.dtype == torch.float32
    expected = torch.tensor([-5.1925, -6.5606, -5.6458, -7.0563, -5.6556, -5.0619, -6.3614, -6.3679, -5.1524])
    torch.testing.assert_close(mels[0, -3:, -3:].flatten(), expected, atol=1e-3, rtol=0)


def test_save_pretrained_round_trip_generates_identically(tmp_path):
    pipe = dummy_pipeline()
    pipe.save_pretrained(tmp_path, safe_serialization=True)
    index = json.loads((tmp_path / "model_index.json").read_text())
    assert index["_class_name"] == "TheoryDiffusionPipeline"
    assert index["conditioner"] == ["ostinato.diffusion.conditioner", "TheoryConditioner"]
    assert index["vae"] == ["diffusers", "AutoencoderKL"] and index["n_mels"] == N_MELS
    assert (tmp_path / "conditioner" / "diffusion_pytorch_model.safetensors").exists()

    loaded = TheoryDiffusionPipeline.from_pretrained(tmp_path, low_cpu_mem_usage=False)
    loaded.set_progress_bar_config(disable=True)
    assert isinstance(loaded, DiffusionPipeline) and isinstance(loaded.conditioner, TheoryConditioner)
    assert isinstance(loaded.scheduler, DDIMScheduler)
    assert loaded.mel == pipe.mel and loaded.scaler == pipe.scaler
    assert all(loaded.conditioner.config[f"n_{name}"] == vocab_sizes()[name] for name in VOCABULARY_COLUMNS)
    torch.testing.assert_close(run(loaded), run(pipe), atol=0, rtol=0)


def test_guidance_zero_ignores_the_conditions_and_the_sampler_can_be_swapped():
    pipe = dummy_pipeline()
    conditions = dummy_conditions()
    other = {**conditions, "chord_root": (conditions["chord_root"] % 12) + 1}
    noise = [torch.Generator().manual_seed(0) for _ in range(2)]
    plain = pipe(conditions, num_inference_steps=3, guidance_scale=0.0, generator=noise).mels
    noise = [torch.Generator().manual_seed(0) for _ in range(2)]
    changed = pipe(other, num_inference_steps=3, guidance_scale=0.0, generator=noise).mels
    torch.testing.assert_close(plain, changed)
    dpm = run(pipe, sampler="dpm")
    assert dpm.shape == plain.shape and torch.isfinite(dpm).all()


def test_frames_must_fit_the_downsampling():
    pipe = dummy_pipeline()
    assert pipe.frame_multiple == 4 and pipe.frames_for(1.0) == 32  # 31.25 frames/s -> 32
    conditions = {k: v[:, :30] if v.dim() == 2 else v for k, v in dummy_conditions().items()}
    with pytest.raises(Exception, match="multiple of 4"):
        pipe(conditions, num_inference_steps=2)


@pytest.mark.slow  # trains a tiny model on Ray
def test_a_trained_checkpoint_is_a_pipeline_folder_that_generates(tiny_model, diffusion_trainset):
    from ostinato.datasets.loader import SegmentDataset
    from ostinato.diffusion.conditioner import condition_tensors

    index = json.loads((tiny_model.model / "model_index.json").read_text())
    assert {"vae", "unet", "conditioner", "scheduler"} <= set(index) and index["sample_rate"] == 8000
    pipe = TheoryDiffusionPipeline.from_pretrained(tiny_model.model, low_cpu_mem_usage=False)
    pipe.set_progress_bar_config(disable=True)
    assert isinstance(pipe.scheduler, DDIMScheduler)  # the checkpoint's sampling.scheduler
    dataset = SegmentDataset(str(diffusion_trainset), "val")
    conditions = condition_tensors(torch.utils.data.default_collate([dataset[0]]))
    mels = pipe(conditions, num_inference_steps=4, generator=torch.Generator().manual_seed(0)).mels
    assert mels.shape == (1, index["n_mels"], conditions["chord_root"].shape[1]) and torch.isfinite(mels).all()
