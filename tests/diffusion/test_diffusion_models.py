"""Mel VAE, theory conditioner and latent U-Net: save_pretrained round trips, conditioning semantics, the
denoising objective, the training config. Tiny models (channels 4-32) on seeded tensors: seconds on a CPU."""

from __future__ import annotations

import pytest
import torch

from ostinato.datasets import vocab
from ostinato.datasets.vocab import vocab_sizes
from ostinato.diffusion.conditioner import (
    N_GLOBAL_TOKENS,
    TheoryConditioner,
    chord_tone_mel,
    chord_tone_table,
    drop_conditions,
    null_conditions,
)
from ostinato.diffusion.config import DiffusionConfig, UNetConfig, VaeConfig, load_train_config
from ostinato.diffusion.noise import DiffusionObjective, build_noise_scheduler, min_snr_weights
from ostinato.diffusion.unet import build_unet
from ostinato.diffusion.vae import VaeObjective, build_vae, downsampling_factor
from ostinato.errors import ConfigError

TINY_VAE = VaeConfig(block_out_channels=(8, 16), norm_num_groups=4)
TINY_UNET = UNetConfig(block_out_channels=(16, 32), layers_per_block=1, attention_head_dim=8, norm_num_groups=4)

pytestmark = pytest.mark.usefixtures("torch_one_thread")


def random_conditions(batch: int, n_frames: int, *, seed: int = 0) -> dict[str, torch.Tensor]:
    """Conditions shaped like the loader's tensors, with ids inside the vocabularies."""
    g = torch.Generator().manual_seed(seed)
    sizes = vocab_sizes()
    out = {name: torch.randint(1, sizes[name], (batch, n_frames), generator=g)
           for name in ("chord_root", "chord_quality", "roman", "function", "section")}
    out.update({name: torch.randint(1, sizes[name], (batch,), generator=g)
                for name in ("key", "mode", "time_signature", "genre")})
    out["beat_phase"] = (torch.arange(n_frames) / 8.0 % 1.0).repeat(batch, 1)
    out["bar_phase"] = (torch.arange(n_frames) / 32.0 % 1.0).repeat(batch, 1)
    out["downbeat"] = (out["bar_phase"] == 0).float()
    for name, value in (("bpm", 120.0), ("harmonic_complexity", 0.5), ("rhythmic_complexity", 0.3),
                        ("loudness_lufs", -14.0)):
        out[name] = torch.full((batch,), value)
        out[f"{name}_known"] = torch.ones(batch)
    return out


def test_vae_round_trips_and_shrinks_by_its_downsampling_factor(tmp_path):
    torch.manual_seed(0)
    vae = build_vae(TINY_VAE).eval()
    mel = torch.randn(2, 1, 32, 64)
    latents = vae.encode(mel).latent_dist.mode()
    assert downsampling_factor(vae) == 2
    assert latents.shape == (2, 4, 16, 32)
    vae.save_pretrained(tmp_path / "vae")
    loaded = type(vae).from_pretrained(tmp_path / "vae", low_cpu_mem_usage=False).eval()
    assert list(loaded.config.block_out_channels) == [8, 16]
    torch.testing.assert_close(loaded.decode(latents).sample, vae.decode(latents).sample)


def test_vae_objective_terms_and_gradient_descent_lowers_reconstruction():
    torch.manual_seed(0)
    objective = VaeObjective(build_vae(TINY_VAE), cfg=TINY_VAE)
    bins, frames = torch.arange(32.0)[:, None], torch.arange(64.0)[None, :]
    mel = torch.stack([torch.sin(bins / (2 + k) + frames / 5) for k in range(4)])[:, None]  # smooth harmonics
    first = objective(mel)
    assert set(first) == {"loss", "reconstruction", "kl", "spectral"}
    optimizer = torch.optim.Adam(objective.parameters(), lr=3e-3)
    for _ in range(30):
        optimizer.zero_grad()
        objective(mel)["loss"].backward()
        optimizer.step()
    assert objective(mel)["reconstruction"] < 0.6 * first["reconstruction"]


def test_conditioner_round_trips_with_its_vocabulary_config(tmp_path):
    torch.manual_seed(0)
    conditioner = TheoryConditioner(dim=32, frames_per_token=8, **{f"n_{k}": v for k, v in vocab_sizes().items()})
    conditioner.eval()
    conditions = random_conditions(2, 64)
    tokens = conditioner(conditions).tokens
    assert tokens.shape == (2, N_GLOBAL_TOKENS + 64 // 8, 32)
    conditioner.save_pretrained(tmp_path / "conditioner")
    loaded = TheoryConditioner.from_pretrained(tmp_path / "conditioner", low_cpu_mem_usage=False).eval()
    assert loaded.config.n_roman == vocab_sizes()["roman"]
    torch.testing.assert_close(loaded(conditions).tokens, tokens)


def test_conditioner_tokens_follow_the_chords_in_time_and_dropping_means_nothing_known():
    torch.manual_seed(0)
    conditioner = TheoryConditioner(dim=32, frames_per_token=8).eval()
    conditions = random_conditions(2, 64)
    changed = {k: v.clone() for k, v in conditions.items()}
    changed["chord_root"][:, 40:48] = (changed["chord_root"][:, 40:48] % 12) + 1  # another chord in frames 40-47
    base, other = conditioner(conditions).tokens, conditioner(changed).tokens
    differs = (base - other).abs().amax(dim=-1)[0]  # per token
    # Only time token 5 (frames 40-47) changes; the global tokens and the other time tokens do not.
    assert differs[N_GLOBAL_TOKENS + 5] > 1e-3
    assert torch.all(differs[: N_GLOBAL_TOKENS + 5] < 1e-6) and torch.all(differs[N_GLOBAL_TOKENS + 6 :] < 1e-6)
    drop = torch.tensor([True, False])
    dropped = conditioner(conditions, drop=drop).tokens
    torch.testing.assert_close(dropped[0], conditioner(null_conditions(conditions)).tokens[0])
    torch.testing.assert_close(dropped[1], base[1])
    assert all(int(v[0].abs().sum()) == 0 for v in drop_conditions(conditions, drop).values())


def test_frame_map_puts_each_chord_on_its_latent_columns():
    torch.manual_seed(0)
    conditioner = TheoryConditioner(dim=32, frames_per_token=8, map_channels=4).eval()
    conditions = random_conditions(1, 64)
    changed = {k: v.clone() for k, v in conditions.items()}
    changed["chord_root"][:, 0:16] = (changed["chord_root"][:, 0:16] % 12) + 1  # frames 0-15: latent columns 0-3
    base = conditioner(conditions, map_size=(8, 16)).frame_map
    other = conditioner(changed, map_size=(8, 16)).frame_map
    assert base.shape == (1, 4, 8, 16)
    moved = (base - other).abs().amax(dim=(0, 1, 2))  # per latent column
    assert torch.all(moved[:4] > 1e-4) and torch.all(moved[4:] < 1e-6)
    torch.testing.assert_close(base[:, :, 0], base[:, :, 7])  # the same along the mel axis


def test_chord_tone_table_holds_each_chords_pitch_classes():
    table = chord_tone_table(len(vocab.CHORD_ROOTS.tokens), len(vocab.CHORD_QUALITIES.tokens))
    g, a = vocab.encode_chord_root(7), vocab.encode_chord_root(9)
    assert table[g, vocab.encode_chord_quality("maj")].nonzero().flatten().tolist() == [2, 7, 11]  # G B D
    assert table[a, vocab.encode_chord_quality("min7")].nonzero().flatten().tolist() == [0, 4, 7, 9]  # A C E G
    assert table[g, vocab.encode_chord_quality(None)].nonzero().flatten().tolist() == [7]  # root only
    assert table[vocab.encode_chord_root(None)].abs().sum() == 0  # no root, no tones


def test_chord_tone_mel_peaks_on_each_pitch_class_partials():
    from ostinato.analysis.librosa_import import librosa

    mel = chord_tone_mel(sample_rate=8000, n_fft=1024, n_mels=96, fmin=0.0, fmax=None)
    assert mel.shape == (12, 96) and float(mel.max()) == pytest.approx(1.0)
    centres = librosa.mel_frequencies(n_mels=96 + 2, fmin=0.0, fmax=4000.0)[1:-1]  # the filters' peaks
    for hz in (440.0, 880.0):
        row = int(abs(centres - hz).argmin())
        assert int(mel[:, row].argmax()) == 9  # A's partials (A2's 4th, A3's 2nd, A4 ...) own the A bins
        assert mel[9, row] > 3 * mel[8, row] and mel[9, row] > 3 * mel[10, row]  # not Ab or Bb


def test_chord_map_draws_the_requested_chord_on_the_latent_mel_axis(tmp_path):
    torch.manual_seed(0)
    conditioner = TheoryConditioner(dim=32, frames_per_token=8, map_channels=4, chord_map_channels=8,
                                    sample_rate=8000, n_fft=1024, n_mels=96).eval()
    conditions = random_conditions(2, 64)
    conditions["chord_root"][:] = vocab.encode_chord_root(0)
    conditions["chord_quality"][:] = vocab.encode_chord_quality("maj")
    conditions["chord_root"][1, 32:] = vocab.encode_chord_root(1)  # C#:maj from frame 32: latent columns 8-15
    frame_map = conditioner(conditions, map_size=(12, 16)).frame_map
    assert frame_map.shape == (2, 4 + 8, 12, 16)
    chord = frame_map[:, 4:]  # (B, 8 mel rows per latent row, 12, 16) -> the mel axis again:
    mel = chord.permute(0, 2, 1, 3).reshape(2, 96, 16)
    expected = conditioner.chord_mel[vocab.encode_chord_root(0), vocab.encode_chord_quality("maj")]
    torch.testing.assert_close(mel[0, :, 0], expected)
    torch.testing.assert_close(mel[1, :, :8], mel[0, :, :8])
    assert (mel[1, :, 8:] - mel[0, :, 8:]).abs().max() > 0.1
    dropped = conditioner(conditions, drop=torch.tensor([True, False]), map_size=(12, 16)).frame_map
    assert dropped[0, 4:].abs().max() == 0  # nothing known: no chord drawn
    conditioner.save_pretrained(tmp_path / "conditioner")  # the map is computed from the config, not saved
    loaded = TheoryConditioner.from_pretrained(tmp_path / "conditioner", low_cpu_mem_usage=False).eval()
    torch.testing.assert_close(loaded(conditions, map_size=(12, 16)).frame_map, frame_map)


def test_a_conditioner_saved_before_the_chord_map_loads_without_it(tmp_path):
    import json

    conditioner = TheoryConditioner(dim=32, frames_per_token=8, map_channels=4)
    conditioner.save_pretrained(tmp_path / "conditioner")
    config_path = tmp_path / "conditioner" / "config.json"
    config = json.loads(config_path.read_text())
    for key in ("chord_map_channels", "sample_rate", "n_fft", "n_mels", "fmin", "fmax"):
        del config[key]  # as written by ostinato before the chord map
    config_path.write_text(json.dumps(config))
    loaded = TheoryConditioner.from_pretrained(tmp_path / "conditioner", low_cpu_mem_usage=False)
    assert loaded.config.chord_map_channels == 0
    assert loaded(random_conditions(1, 64), map_size=(8, 16)).frame_map.shape == (1, 4, 8, 16)


def test_unet_round_trips_and_attends_to_the_condition_tokens(tmp_path):
    torch.manual_seed(0)
    unet = build_unet(TINY_UNET, latent_channels=4, cross_attention_dim=32).eval()
    assert unet.config.mid_block_type == "UNetMidBlock2DCrossAttn"
    assert all("CrossAttn" in b for b in (*unet.config.down_block_types, *unet.config.up_block_types))
    x, t = torch.randn(2, 4, 8, 16), torch.tensor([10, 500])
    tokens = torch.randn(2, 12, 32)
    with torch.no_grad():
        out = unet(x, t, encoder_hidden_states=tokens).sample
        other = unet(x, t, encoder_hidden_states=torch.randn(2, 12, 32)).sample
    assert out.shape == x.shape
    assert (out - other).abs().max() > 1e-4  # the tokens reach the output
    unet.save_pretrained(tmp_path / "unet")
    loaded = type(unet).from_pretrained(tmp_path / "unet", low_cpu_mem_usage=False).eval()
    with torch.no_grad():
        torch.testing.assert_close(loaded(x, t, encoder_hidden_states=tokens).sample, out)


def test_min_snr_weights_clip_the_easy_timesteps():
    for prediction in ("epsilon", "v_prediction"):
        scheduler = build_noise_scheduler(DiffusionConfig(prediction_type=prediction))
        t = torch.tensor([0, 999])
        w = min_snr_weights(scheduler, t, gamma=5.0)
        alphas = scheduler.alphas_cumprod[t]
        snr = alphas / (1 - alphas)
        expected = torch.minimum(snr, torch.tensor(5.0)) / (snr if prediction == "epsilon" else snr + 1)
        torch.testing.assert_close(w, expected)
        assert w[0] < 0.01  # t=0 is nearly noise-free: its huge SNR is clipped to 5
        if prediction == "epsilon":
            assert w[1] == pytest.approx(1.0)  # the noisiest step keeps full weight


@pytest.mark.parametrize("prediction", ["epsilon", "v_prediction"])
def test_diffusion_objective_backpropagates_into_unet_and_conditioner(prediction):
    torch.manual_seed(0)
    conditioner = TheoryConditioner(dim=32, frames_per_token=8)
    unet = build_unet(TINY_UNET, latent_channels=4, cross_attention_dim=32, map_channels=8)
    scheduler = build_noise_scheduler(DiffusionConfig(prediction_type=prediction))
    objective = DiffusionObjective(unet, conditioner, scheduler, condition_dropout=0.0, snr_gamma=5.0)
    loss = objective(torch.randn(2, 4, 8, 16), random_conditions(2, 64))["loss"]
    loss.backward()
    assert torch.isfinite(loss)
    assert conditioner.embeddings["chord_root"].weight.grad.abs().sum() > 0
    assert unet.conv_in.weight.grad.abs().sum() > 0
    assert conditioner.to_map.weight.grad.abs().sum() > 0  # the frame map reaches the loss too


def test_train_config_files_load_and_unknown_keys_are_named(tmp_path):
    tiny = load_train_config("configs/train/tiny.yaml")
    gpu = load_train_config("configs/train/gpu.yaml")
    assert tiny.run.use_gpu is False and gpu.run.use_gpu is True
    assert gpu.training.mixed_precision == "bf16"
    assert load_train_config("configs/train/tiny.yaml", ["training.max_steps=7"]).training.max_steps == 7
    with pytest.raises(ConfigError, match="training.max_stepz: unknown key"):
        load_train_config(None, ["training.max_stepz=7"])
    with pytest.raises(ConfigError, match="diffusion.prediction_type"):
        load_train_config(None, ["diffusion.prediction_type=x0"])
