"""Trainer state without pickled code, RNG states that resume the same random stream, diffusers' EMA and lr
schedule as the trainer builds them, config shapes that fit their training sets, and the console's report line."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from ostinato.datasets.config import load_dataset_config
from ostinato.diffusion.checkpoints import (
    CheckpointError,
    capture_rng_state,
    load_trainer_state,
    restore_rng_state,
    save_trainer_state,
)
from ostinato.diffusion.config import OptimConfig, load_train_config, shape_problems
from ostinato.diffusion.train import build_ema, build_optimizer
from ostinato.pipelines.train import report_line


def _draws() -> tuple:
    return torch.rand(3).tolist(), np.random.rand(3).tolist(), [random.random() for _ in range(3)]


def test_rng_states_round_trip_through_a_weights_only_trainer_state(tmp_path):
    torch.manual_seed(1), np.random.seed(2), random.seed(3)
    model = torch.nn.Linear(4, 2)
    optimizer, schedule = build_optimizer(model.parameters(), OptimConfig(warmup_steps=2, max_steps=10))
    model(torch.randn(5, 4)).sum().backward()
    optimizer.step(), schedule.step()
    save_trainer_state(tmp_path, {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                                  "rng": [capture_rng_state()], "step": 1})
    expected = _draws()
    state = load_trainer_state(tmp_path)  # torch.load(weights_only=True)
    restore_rng_state(state["rng"][0])
    assert _draws() == expected
    assert state["optimizer"]["state"][0]["exp_avg"].shape == (2, 4)


def test_a_trainer_state_holding_an_object_is_refused(tmp_path):
    torch.save({"step": 1, "payload": OptimConfig()}, tmp_path / "trainer_state.pt")
    with pytest.raises(CheckpointError, match="plain data"):
        load_trainer_state(tmp_path)


def test_warmup_schedule_and_ema_come_from_diffusers():
    model = torch.nn.Linear(2, 1, bias=False)
    optimizer, schedule = build_optimizer(model.parameters(), OptimConfig(lr=1.0, warmup_steps=4, max_steps=10))
    ema = build_ema(model, OptimConfig(ema_decay=0.5))
    lrs = []
    for _ in range(6):
        lrs.append(optimizer.param_groups[0]["lr"])
        model(torch.ones(1, 2)).sum().backward()
        optimizer.step(), schedule.step(), optimizer.zero_grad()
        ema.step(model.parameters())
    assert lrs == pytest.approx([0.0, 0.25, 0.5, 0.75, 1.0, 1.0])  # linear warm-up from 0, then constant
    assert ema.cur_decay_value == pytest.approx(0.4)  # 6th update: (1 + 5) / (10 + 5), below ema_decay 0.5
    assert not torch.equal(ema.shadow_params[0], model.weight.detach())
    assert build_ema(model, OptimConfig(ema_decay=None)) is None


@pytest.mark.parametrize(("train", "dataset"), [
    ("configs/train/tiny.yaml", "configs/dataset-tiny.yaml"),
    ("configs/train/gpu.yaml", "configs/dataset-gpu.yaml"),
    ("configs/train/adherence.yaml", "configs/dataset-adherence.yaml"),
])
def test_train_configs_fit_the_training_sets_they_are_meant_for(train, dataset):
    data = load_dataset_config(dataset)
    n_mels, n_frames = data.mel.n_mels, data.segment.frames(data.mel)
    assert shape_problems(load_train_config(train), n_mels=n_mels, n_frames=n_frames) == []


def test_shape_problems_name_what_does_not_divide():
    cfg = load_train_config("configs/train/gpu.yaml")
    problems = shape_problems(cfg, n_mels=80, n_frames=500)  # the VAE downsamples 8x, the U-Net 8x
    assert any("latent mel bins (10) must be a multiple of the U-Net's downsampling 8" in p for p in problems)
    assert any("frames (500) must be a multiple of the VAE's downsampling 8" in p for p in problems)
    assert any("conditioner.frames_per_token (16)" in p for p in problems)
    odd = load_train_config("configs/train/tiny.yaml", ["unet.norm_num_groups=3", "unet.attention_head_dim=5"])
    problems = shape_problems(odd, n_mels=64, n_frames=256)
    assert any("unet.norm_num_groups" in p for p in problems) and any("attention heads" in p for p in problems)


def test_report_line_shows_step_loss_lr_throughput_wait_and_eta():
    record = {"stage": "vae", "step": 40, "loss": 0.12345, "reconstruction": 0.1, "lr": 2e-3, "samples_per_s": 19.87,
              "data_wait_share": 0.031, "eta_s": 131.0, "grad_norm": 0.5}
    assert report_line(record, max_steps=300) == (
        "step 40/300  loss 0.1235  recon 0.1000  lr 2.00e-03  19.9 samples/s  data wait 3%  ETA 2m11s"
    )
    assert report_line({"stage": "diffusion", "event": "resumed", "step": 2}, max_steps=4) == "resumed at step 2"
