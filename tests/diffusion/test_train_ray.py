"""Both training stages on Ray Train (local Ray, CPU workers): two data-parallel workers lower the loss; a run
whose worker dies after a checkpoint restarts from it with the saved optimizer state; launching the same run
folder again resumes it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ostinato.diffusion.checkpoints import list_checkpoints, load_trainer_state, resolve_checkpoint
from ostinato.diffusion.config import load_train_config
from ostinato.diffusion.train import optimizer_fingerprint
from ostinato.pipelines.train import run_training
from ostinato.testing.trainset import write_tiny_trainset

pytestmark = pytest.mark.slow  # Ray, CLI subprocesses or training: deselect with -m "not slow"


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def trainset(tmp_path_factory) -> str:
    return str(write_tiny_trainset(tmp_path_factory.mktemp("trainset"), n_tracks=4, segments_per_track=4))


@pytest.fixture(scope="module")
def vae_run(ray_local, trainset, tmp_path_factory) -> Path:
    """A VAE trained by two Ray Train workers for 20 steps."""
    out = tmp_path_factory.mktemp("runs") / "vae"
    cfg = load_train_config("configs/train/tiny.yaml", [
        "run.num_workers=2", "vae_training.max_steps=20", "vae_training.batch_size=2", "run.log_every=5",
        "run.checkpoint_every=20",
    ])
    summary = run_training(cfg, stage="vae", data=trainset, out=out, quiet=True)
    assert summary.checkpoint is not None and summary.metrics["step"] == 20
    return out


def test_two_workers_lower_the_vae_loss(vae_run):
    reports = [r for r in _records(vae_run) if "loss" in r]
    assert [r["step"] for r in reports] == [5, 10, 15, 20]
    assert all(r["workers"] == 2 for r in reports)
    assert reports[-1]["loss"] < 0.8 * reports[0]["loss"]
    assert all(0 <= r["data_wait_share"] <= 1 and r["samples_per_s"] > 0 for r in reports)
    info = resolve_checkpoint(vae_run, stage="vae")
    assert info.step == 20 and (info.path / "vae" / "config.json").exists()
    assert any((vae_run / "tensorboard").iterdir())


def test_killed_run_resumes_from_its_checkpoint_and_a_relaunch_continues(vae_run, trainset, die_at_step_file,
                                                                         tmp_path):
    out = tmp_path / "ldm"
    overrides = ["training.max_steps=4", "training.batch_size=2", "run.checkpoint_every=2", "run.log_every=1",
                 "run.keep_checkpoints=2", "run.max_failures=1"]
    cfg = load_train_config("configs/train/tiny.yaml", overrides)
    die_at_step_file.write_text("3")  # the rank-0 worker dies after reporting step 3, like a preempted node
    summary = run_training(cfg, stage="diffusion", data=trainset, out=out, vae=vae_run, quiet=True)
    assert summary.metrics["step"] == 4 and summary.metrics["resumed"] is True
    records = _records(out)
    # Step 3 ran, the worker died, and the restarted worker resumed at the step-2 checkpoint ...
    assert [r.get("step") for r in records] == [1, 2, 3, 2, 3, 4]
    resumed = records[3]
    assert resumed["event"] == "resumed"
    # ... with exactly the optimizer state that checkpoint saved.
    saved = {c.step: c.path for c in list_checkpoints(out)}
    assert sorted(saved) == [2, 4]
    assert resumed["optimizer_fingerprint"] == pytest.approx(
        optimizer_fingerprint(load_trainer_state(saved[2])["optimizer"]), rel=1e-12
    )
    assert load_trainer_state(saved[4])["optimizer"]["state"][0]["step"] == 4  # Adam counted every step once
    state = load_trainer_state(saved[4])  # torch.load(weights_only=True): tensors and plain data only
    assert len(state["rng"]) == 1 and set(state["rng"][0]) == {"torch", "cuda", "numpy", "python"}
    assert (saved[4] / "model_index.json").exists()  # the checkpoint is a diffusers pipeline folder

    # Launching the same run folder again resumes at step 4 and trains on to the new max_steps.
    cfg = load_train_config("configs/train/tiny.yaml", [*overrides, "training.max_steps=6"])
    summary = run_training(cfg, stage="diffusion", data=trainset, out=out, vae=vae_run, quiet=True)
    assert summary.metrics["step"] == 6
    later = _records(out)[len(records):]
    assert later[0]["event"] == "resumed" and later[0]["step"] == 4
    assert [r["step"] for r in later[1:]] == [5, 6]
    assert resolve_checkpoint(out, stage="diffusion").step == 6
    assert [c.step for c in list_checkpoints(out)] == [4, 6]  # only the last run.keep_checkpoints are kept
