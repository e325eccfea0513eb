"""Scores (MIDI, MusicXML, ABC) through the same theory as audio, from their exact notes; and through
`run_analysis` beside audio, with a bad score giving an error row."""

from __future__ import annotations

import copy
from pathlib import Path

import pandas as pd
import pyarrow.dataset as pads
import pytest
from music21 import expressions, stream

from ostinato import schema
from ostinato.config import load_config
from ostinato.demo import synth
from ostinato.demo.encode import write_wav
from ostinato.errors import AnalysisError
from ostinato.pipelines import stages
from ostinato.pipelines.inputs import InputFile, list_inputs
from ostinato.schema import tracks_table
from ostinato.testing.scores import abc_tune, progression_score, write_score
from ostinato.theory.harmony import analyze_harmony
from ostinato.theory.symbolic import describe_score, parse_score

FIGURES = ["I", "V6", "vi", "IV", "ii", "V7", "I"]


def _harmony(description):
    key = description.key
    return analyze_harmony(description.chords, tonic_pc=key.tonic_pc, mode=key.mode,
                           downbeat_times=description.downbeat_times, phrase_ends=description.phrase_ends)


@pytest.mark.parametrize("suffix", [".mid", ".musicxml"])
def test_score_file_gives_key_meter_tempo_and_numerals(tmp_path, suffix):
    path = write_score(progression_score(FIGURES, key="Bb", bpm=90.0, meter="4/4"), tmp_path / f"p{suffix}")
    d = describe_score(parse_score(str(path)))
    assert d.key.label == "Bb major"
    assert (d.meter, d.beats_per_bar, d.tempo_bpm) == ("4/4", 4, pytest.approx(90.0))
    assert d.duration_s == pytest.approx(len(FIGURES) * 4 * 60 / 90.0)
    assert len(d.beats) == 4 * len(FIGURES) and d.beats[0].position == 1 and d.beats[4].bar == 1
    h = _harmony(d)
    assert [r.figure for r in h.roman] == FIGURES
    assert h.roman[1].inversion == 1 and h.roman[1].chord == "F:maj"
    assert [(c.type, c.figures) for c in h.cadences][-1] == ("perfect_authentic", "V7-I")
    assert h.cadences[-1].time_s == pytest.approx(6 * 4 * 60 / 90.0)


def test_abc_tune_with_a_pickup_in_three_four(tmp_path):
    body = "[G,B,D]1 | [C,E,G]3 | [F,A,C]2 [G,B,DF]1 | [C,E,G]3 |]"
    path = tmp_path / "waltz.abc"
    path.write_text(abc_tune(meter="3/4", key="C", body=body))
    d = describe_score(parse_score(str(path)))
    assert (d.key.label, d.meter, d.tempo_bpm) == ("C major", "3/4", pytest.approx(100.0))
    assert (d.beats[0].bar, d.beats[0].position) == (-1, 3)  # the pickup is beat 3 of an incomplete bar
    assert [b.time_s for b in d.beats if b.position == 1] == pytest.approx([0.6, 2.4, 4.2])
    h = _harmony(d)
    assert [c.label for c in d.chords] == ["G:maj", "C:maj", "F:maj", "G:7", "C:maj"]
    assert [(c.type, c.figures, c.phrase_end) for c in h.cadences][-1] == ("perfect_authentic", "V7-I", True)


def test_fermata_marks_a_half_cadence():
    score = progression_score(["I", "IV", "V", "I", "ii6", "V7", "I"], key="D")
    chords = list(score.flatten().notes)
    chords[2].expressions.append(expressions.Fermata())
    d = describe_score(score)
    beat = 60 / 100.0
    assert d.phrase_ends == pytest.approx([12 * beat, 28 * beat])
    h = _harmony(d)
    assert [(c.type, round(c.time_s / beat), c.phrase_end) for c in h.cadences] == [
        ("half", 8, True), ("perfect_authentic", 12, False), ("perfect_authentic", 24, True),
    ]


def test_minor_key_score_modulating_to_the_relative_major():
    a = progression_score(["i", "iv", "V", "i", "VI", "iv", "V7", "i"], key="a")
    c = progression_score(["I", "IV", "V7", "I", "vi", "ii", "V7", "I"], key="C")
    part = stream.Part()
    for n in [*a.flatten().notes, *c.flatten().notes]:
        part.append(copy.deepcopy(n))
    d = describe_score(stream.Score([part]))
    assert d.key.label in ("A minor", "C major")
    h = _harmony(d)
    assert d.warnings == ["the score has no tempo mark; 120 quarter notes per minute"]
    # Eight 4-beat chords at 120 quarter notes per minute: C major from 16 s.
    assert [(k.label, k.start_s) for k in h.local_keys] == [("A minor", 0.0), ("C major", 16.0)]
    assert h.modulations == 1
    assert [r.figure for r in h.roman][-3:] == ["ii", "V7", "I"]


def test_unreadable_and_empty_scores_raise(tmp_path):
    bad = tmp_path / "bad.mid"
    bad.write_bytes(b"MThd garbage that is no midi file")
    with pytest.raises(AnalysisError, match="cannot read the score"):
        parse_score(str(bad))
    empty = tmp_path / "empty.abc"
    empty.write_text(abc_tune(body="z4 |]"))
    with pytest.raises(AnalysisError, match="no pitched note"):
        describe_score(parse_score(str(empty)))


def test_stage_rows_for_good_and_bad_scores(tmp_path):
    config = load_config(overrides=["separation.enabled=false"])
    good = write_score(progression_score(FIGURES, key="E"), tmp_path / "good.mid")
    bad = tmp_path / "bad.musicxml"
    bad.write_text("<score-partwise><part-list>broken")
    out = []
    for path in (good, bad):
        prepared, audio, model_audio = stages.prepare(InputFile(str(path), path.stat().st_size), config)
        assert prepared.source_kind == "symbolic" and audio is None and model_audio is None
        out.append(stages.describe(prepared, audio, config=config))
    ok, error = out
    assert tracks_table(out).num_rows == 2
    assert (ok["status"], ok["source_kind"], ok["container"], ok["key"], ok["mode"]) == (
        "ok", "symbolic", "midi", "E", "major"
    )
    assert [r["figure"] for r in ok["roman"]] == FIGURES and ok["cadences"][-1]["type"] == "perfect_authentic"
    assert ok["tempo_bpm"] == pytest.approx(100.0) and ok["meter"] == "4/4" and len(ok["beats"]) == 28
    assert ok["onset_rate"] == pytest.approx(7 / 16.8) == ok["note_density"]  # 7 chords, 28 beats at 100 BPM
    assert ok["stage_seconds"]["theory"] > 0 and ok.get("loudness_lufs") is None
    assert (error["status"], error["source_kind"], error["error"]["stage"]) == ("error", "symbolic", "decode")
    assert "cannot read the score" in error["error"]["message"]


@pytest.mark.slow
def test_analyze_takes_scores_beside_audio(ray_local, tmp_path):
    from ostinato.pipelines.analyze import run_analysis

    folder = tmp_path / "in"
    folder.mkdir()
    write_score(progression_score(["I", "IV", "V7", "I"], key="G"), folder / "cadence.mid")
    write_score(progression_score(["i", "iv", "V", "i"], key="d"), folder / "minor.musicxml")
    (folder / "tune.abc").write_text(abc_tune(key="F", body="[FAc]4 | [_Bdf]4 | [CEGc]4 | [FAc]4 |]"))
    (folder / "broken.mid").write_bytes(b"not a midi file at all")
    write_wav(synth.render_chords([(0.0, 3.0, synth.chord_pitches(0, "maj"))], sr=22050), sr=22050,
              path=folder / "chord.wav")
    assert len(list_inputs([str(folder)])) == 5
    out = tmp_path / "out"
    summary = run_analysis([str(folder)], str(out), load_config(None, ["separation.enabled=false"]),
                           show_progress=False)
    assert (summary.ok, summary.errors) == (4, 1)
    df: pd.DataFrame = pads.dataset(out / schema.TRACKS_DIR, format="parquet").to_table().to_pandas()
    df["name"] = df["path"].map(lambda p: Path(p).name)
    rows = df.set_index("name")
    assert rows.loc["chord.wav", "source_kind"] == "audio"
    expected = [("cadence.mid", "G", "major"), ("minor.musicxml", "D", "minor"), ("tune.abc", "F", "major")]
    for name, key, mode in expected:
        row = rows.loc[name]
        assert (row["status"], row["source_kind"], row["key"], row["mode"]) == ("ok", "symbolic", key, mode)
        assert row["cadences"][-1]["type"] == "perfect_authentic"
    assert rows.loc["broken.mid", "status"] == "error" and rows.loc["broken.mid", "error"]["stage"] == "decode"


def test_score_rows_carry_rhythm_and_genre_from_the_notes(tmp_path):
    """Each part's exact onsets feed the rhythm theory: an off-beat (tied-over) melody is syncopated, a
    quarter-note one is not; both rows get a genre with reasons."""
    config = load_config(overrides=["separation.enabled=false"])
    bars = 8
    straight = abc_tune(title="straight", body="|".join(["C D E F"] * bars) + "|")
    # eighth, quarter, quarter, quarter, eighth: every onset after the first falls off the beat
    offbeat = abc_tune(title="offbeat", body="|".join(["C/2 D E F G/2"] * bars) + "|")
    rows = {}
    for name, text in (("straight", straight), ("offbeat", offbeat)):
        path = tmp_path / f"{name}.abc"
        path.write_text(text)
        prepared, audio, _ = stages.prepare(InputFile(str(path), path.stat().st_size), config)
        rows[name] = stages.describe(prepared, audio, config=config)
    assert tracks_table(rows.values()).num_rows == 2
    assert rows["straight"]["syncopation"] == pytest.approx(0.0)
    assert rows["offbeat"]["syncopation"] > 1.0
    for row in rows.values():
        assert row["meter"] == "4/4" and len(row["metric_hierarchy"]) == 4
        assert row["genre"] and row["genre_reasons"] and row["genre_source"] == "rules"
        assert 0.0 <= row["rhythmic_complexity"] <= 1.0
