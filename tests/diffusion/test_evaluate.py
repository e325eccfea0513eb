"""`ostinato evaluate`: its scoring is right on audio with known answers, and the command writes a report that
compares guided with unconditional samples."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from typer.testing import CliRunner

from ostinato.cli import app
from ostinato.demo import TRACK_SPECS, render_track
from ostinato.diffusion.evaluate import METRICS, RUNS, reference_of, score_audio
from ostinato.diffusion.generate import row_conditions

SR, HOP = 22050, 512

pytestmark = [pytest.mark.usefixtures("torch_one_thread"), pytest.mark.slow]  # trains a tiny model


def _truth_row(truth) -> dict:
    """The analysis-row view of a demo track's truth (what a perfect analysis would have stored)."""
    return {
        "key": truth.key.split()[0], "mode": truth.mode, "meter": truth.meter, "tempo_bpm": truth.bpm,
        "beats_per_bar": truth.beats_per_bar,
        "beats": [{"time_s": t, "position": i % truth.beats_per_bar + 1} for i, t in enumerate(truth.beat_times)],
        "chords": [{"start_s": c.start_s, "end_s": c.end_s, "root_pc": c.root_pc, "quality": c.quality}
                   for c in truth.chords],
        "roman": [], "sections": [],
    }


def test_scores_are_high_for_audio_that_does_what_was_asked_and_low_for_other_chords():
    seconds = 12.0
    truth, stereo = render_track(TRACK_SPECS[0], index=0, seconds=seconds, sr=SR, rng=np.random.default_rng(0))
    audio = stereo.mean(axis=0)
    n_frames = int(seconds * SR / HOP)
    row = _truth_row(truth)
    asked = row_conditions([row], start_s=[0.0], n_frames=n_frames, frame_rate=SR / HOP, n_mels=8)
    right = score_audio(audio, sr=SR, reference=reference_of(asked, 0, frame_rate=SR / HOP))
    assert right["chord_root_accuracy"] > 0.7 and right["chord_majmin_accuracy"] > 0.6
    assert right["key_accuracy"] == 1.0
    assert right["tempo_error"] < 0.05
    assert right["beat_f_measure"] > 0.8
    # The same audio scored against the progression a tritone away: the chord metrics must collapse.
    shifted = {**row, "chords": [{**c, "root_pc": (c["root_pc"] + 6) % 12} for c in row["chords"]]}
    other = row_conditions([shifted], start_s=[0.0], n_frames=n_frames, frame_rate=SR / HOP, n_mels=8)
    wrong = score_audio(audio, sr=SR, reference=reference_of(other, 0, frame_rate=SR / HOP))
    assert wrong["chord_root_accuracy"] < 0.2


def test_evaluate_command_writes_guided_vs_unconditional_report(tiny_model, diffusion_trainset, tmp_path):
    out = tmp_path / "report"
    result = CliRunner().invoke(app, ["evaluate", str(tiny_model.model), str(diffusion_trainset), str(out),
                                      "--limit", "2", "--steps", "5"])
    assert result.exit_code == 0, result.output
    report = json.loads((out / "evaluate.json").read_text())
    assert report["n_segments"] == 2 and len(report["per_segment"]) == 2
    assert set(report["means"]) == set(RUNS)
    for run in RUNS:
        assert set(report["means"][run]) == set(METRICS)
        accuracy = report["means"][run]["chord_root_accuracy"]
        assert 0 <= accuracy <= 1  # the val segments ask for chords, so this is never unknown
    for metric in METRICS:
        g, u = report["means"]["guided"][metric], report["means"]["unconditional"][metric]
        effect = report["conditioning_effect"][metric]
        assert (math.isnan(effect) and (math.isnan(g) or math.isnan(u))) or effect == pytest.approx(g - u)
    markdown = (out / "evaluate.md").read_text()
    assert "| chord_root_accuracy |" in markdown and "unconditional" in markdown
