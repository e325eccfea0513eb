"""What a person sees when training: `ostinato train-vae` in its own process (its own local Ray) prints one line
per report and nothing of Ray's internals at the default verbosity."""

from __future__ import annotations

import subprocess
import sys

import pytest

from ostinato.testing.trainset import write_tiny_trainset

pytestmark = pytest.mark.slow  # Ray, CLI subprocesses or training: deselect with -m "not slow"

RAY_CHATTER = ("Starting execution of Dataset", "Execution plan", "execution finished", "PlacementGroupCleaner",
               "TrainController", "RayTrainWorker", "Progress bars disabled", "core_worker")


def test_train_vae_console_is_one_line_per_report(tmp_path):
    trainset = write_tiny_trainset(tmp_path / "trainset", n_tracks=4, segments_per_track=4)
    command = [sys.executable, "-m", "ostinato.cli", "train-vae", str(trainset), str(tmp_path / "vae"),
               "--config", "train/tiny", "--set", "vae_training.max_steps=4", "--set", "vae_training.batch_size=2",
               "--set", "run.log_every=2", "--set", "run.checkpoint_every=4"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    assert not [line for line in lines if any(chatter in line for chatter in RAY_CHATTER)], lines
    reports = [line for line in lines if line.startswith("[vae] step ")]
    assert [line.split()[2] for line in reports] == ["2/4", "4/4"], lines
    assert all(" samples/s " in line and " data wait " in line and " ETA " in line for line in reports)
    assert len(lines) == 4, lines  # the run's header line, two reports and where the checkpoint is
    assert lines[-1].startswith("VAE checkpoint: ")
