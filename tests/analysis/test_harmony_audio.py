"""Harmony theory from synthesised audio through the pipeline's describe stage (no Ray): the row's theory
columns hold the progression, the cadence and the key that were played."""

from __future__ import annotations

import numpy as np
import pytest

from ostinato.config import load_config
from ostinato.demo import synth
from ostinato.demo.encode import write_wav
from ostinato.pipelines import stages
from ostinato.pipelines.inputs import InputFile
from ostinato.schema import tracks_table
from ostinato.testing.scores import progression_audio

SR = 22050


@pytest.fixture(scope="module")
def row(tmp_path_factory):
    """I-V-vi-IV twice then I-IV-V7-I in G at 120 BPM (one chord per 2 s bar) over a drum groove."""
    figures = ["I", "V", "vi", "IV"] * 2 + ["I", "IV", "V7", "I"]
    music = progression_audio(figures, key="G", bpm=120.0, sr=SR)
    drums = synth.drum_groove(120.0, len(figures), sr=SR)
    y = synth.mix(music, drums, gains=[1.0, 0.3])
    path = write_wav(y, sr=SR, path=tmp_path_factory.mktemp("harmony") / "axis_in_g.wav")
    config = load_config(overrides=["decode.sample_rate=22050"])
    prepared, audio, _ = stages.prepare(InputFile(str(path), path.stat().st_size), config)
    assert prepared.ok, prepared.error
    return stages.describe(prepared, audio, config=config)


def test_row_fits_the_schema(row):
    assert row["status"] == "ok"
    assert tracks_table([row]).num_rows == 1


def test_key_progression_and_cadence_from_audio(row):
    assert (row["key"], row["mode"]) == ("G", "major")
    axis = [p for p in row["progressions"] if p["name"] == "axis"]
    assert axis, row["progressions"]
    assert (axis[0]["start_s"], axis[0]["end_s"]) == pytest.approx((0.0, 16.0), abs=0.3)
    final = row["cadences"][-1]
    assert final["type"] == "perfect_authentic" and final["time_s"] == pytest.approx(22.0, abs=0.3)
    assert final["phrase_end"] is True
    assert [k["key"] for k in row["local_keys"]] == ["G"] and row["modulations"] == 0


def test_roman_sevenths_and_summaries_from_audio(row):
    figures = [r["figure"] for r in row["roman"] if r["end_s"] - r["start_s"] > 1.0]
    assert figures[:4] == ["I", "V", "vi", "IV"]
    assert "V7" in figures
    assert {r["local_key"] for r in row["roman"]} == {"G major"}
    assert row["voice_leading_label"] == "smooth" and 2.0 <= row["voice_leading_cost"] <= 3.5
    assert row["harmonic_rhythm"] == pytest.approx(1.0, abs=0.15)
    assert 0.0 < row["harmonic_complexity"] < 0.4
    assert np.isfinite(row["stage_seconds"]["theory"])


def test_inversions_and_cadence_types_from_audio():
    """The bass line picks the inversion: V6, I64 (a cadential six-four, no cadence), IV6, V65 -> I imperfect."""
    from ostinato.analysis.describe import describe_track
    from ostinato.theory.harmony import analyze_harmony

    figures = ["I", "V6", "vi", "IV", "I64", "V7", "I", "IV6", "V65", "I"]
    y = progression_audio(figures, key="G", bpm=120.0, sr=SR)
    d = describe_track(y, sr=SR)
    h = analyze_harmony(d.chords, tonic_pc=d.key.tonic_pc, mode=d.key.mode, phrase_ends=[14.0, 20.0])
    assert [r.figure for r in h.roman if r.root_pc >= 0] == figures
    assert [(c.type, c.figures, round(c.time_s)) for c in h.cadences] == [
        ("deceptive", "V6-vi", 4), ("perfect_authentic", "V7-I", 12), ("imperfect_authentic", "V65-I", 18),
    ]


def test_modulation_from_audio():
    """Eight bars in C, then eight in G: two local keys from the recording, the change near 16.5 s."""
    from ostinato.analysis.describe import describe_track
    from ostinato.pipelines.stages import harmony_of

    first = progression_audio(["I", "IV", "V", "I", "vi", "ii", "V7", "I"], key="C", bpm=120.0, sr=SR)
    second = progression_audio(["I", "IV", "V7", "I", "vi", "ii", "V7", "I"], key="G", bpm=120.0, sr=SR)
    h = harmony_of(describe_track(np.concatenate([first, second]), sr=SR))
    assert [k.label for k in h.local_keys] == ["C major", "G major"] and h.modulations == 1
    assert h.local_keys[1].start_s == pytest.approx(len(first) / SR, abs=2.5)
    assert {r.local_key for r in h.roman if r.start_s > 19.0 and r.root_pc >= 0} == {"G major"}
