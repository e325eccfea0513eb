"""`ostinato generate`: conditions from the command line mean what training conditions meant, and the command
writes playable audio of the requested length plus a PNG of the mel."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
import yaml
from typer.testing import CliRunner

from ostinato.cli import app
from ostinato.datasets import vocab
from ostinato.diffusion.generate import GenerationRequest, request_row, row_conditions
from ostinato.errors import OstinatoError

FRAME_RATE = 31.25  # the tiny training set: 8 kHz, hop 256

pytestmark = [pytest.mark.usefixtures("torch_one_thread"), pytest.mark.slow]  # trains a tiny model


def _conditions(request: GenerationRequest, seconds: float = 8.192):
    n_frames = int(seconds * FRAME_RATE)
    return row_conditions([request_row(request, seconds=seconds)], start_s=[0.0], n_frames=n_frames,
                          frame_rate=FRAME_RATE, n_mels=32)


def _at(conditions, name: str, seconds: float) -> int:
    return int(conditions[name][0, int(round(seconds * FRAME_RATE))])


def test_roman_progression_in_a_key_becomes_frame_chords_beats_and_globals():
    c = _conditions(GenerationRequest(key="G major", bpm=120, progression="I V vi IV", genre="rock"))
    # 120 BPM in 4/4: a bar is 2 s, one chord per bar: G, D, E minor, C.
    expected = [(0.5, "G", "maj", "I", "tonic"), (2.5, "D", "maj", "V", "dominant"),
                (4.5, "E", "min", "vi", "tonic"), (6.5, "C", "maj", "IV", "predominant")]
    for t, root, quality, figure, function in expected:
        assert _at(c, "chord_root", t) == vocab.encode_chord_root(vocab.pitch_class(root))
        assert _at(c, "chord_quality", t) == vocab.encode_chord_quality(quality)
        assert _at(c, "roman", t) == vocab.encode_roman(figure)
        assert _at(c, "function", t) == vocab.encode_function(function)
    downbeats = np.flatnonzero(c["downbeat"][0].numpy()) / FRAME_RATE
    np.testing.assert_allclose(downbeats, [0.0, 2.0, 4.0, 6.0, 8.0], atol=1 / FRAME_RATE)
    assert float(c["beat_phase"][0, int(0.25 * FRAME_RATE)]) == pytest.approx(0.5, abs=0.07)  # half a beat in
    assert int(c["key"][0]) == vocab.encode_key("G") and int(c["mode"][0]) == vocab.MODES.encode("major")
    assert int(c["genre"][0]) == vocab.encode_genre("rock")
    assert float(c["bpm"][0]) == 120 and float(c["bpm_known"][0]) == 1
    assert float(c["loudness_lufs_known"][0]) == 0  # not asked for: unknown, as in training


def test_chord_names_with_lengths_in_bars_and_repetition():
    c = _conditions(GenerationRequest(key="e minor", bpm=120, time_signature="3/4", progression="Em*2 C"))
    # 3/4 at 120 BPM: a bar is 1.5 s. Em for 3 s, C for 1.5 s, then Em again.
    assert _at(c, "chord_root", 2.9) == vocab.encode_chord_root(4)
    assert _at(c, "chord_root", 3.6) == vocab.encode_chord_root(0)
    assert _at(c, "chord_root", 4.6) == vocab.encode_chord_root(4)
    assert _at(c, "roman", 0.5) == vocab.encode_roman("i")  # read in the key


def test_bad_requests_say_what_is_wrong():
    with pytest.raises(OstinatoError, match="needs --key"):
        request_row(GenerationRequest(progression="I V"), seconds=4)
    with pytest.raises(OstinatoError, match="bars"):
        request_row(GenerationRequest(key="C", progression="I*x"), seconds=4)


def test_generate_command_writes_playable_audio_of_the_requested_length_and_a_png(tiny_model, tmp_path):
    out = tmp_path / "clip.wav"
    result = CliRunner().invoke(app, [
        "generate", str(tiny_model.model.parent), "--key", "G major", "--bpm", "120",
        "--progression", "I V vi IV", "--seconds", "3", "--out", str(out), "--steps", "5",
    ])
    assert result.exit_code == 0, result.output
    audio, sr = sf.read(out)
    assert sr == 8000 and audio.shape == (3 * 8000,)
    assert np.isfinite(audio).all() and 0.1 < np.abs(audio).max() <= 1.0
    assert out.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_batch_file_generates_every_condition_set(tiny_model, tmp_path):
    batch = tmp_path / "batch.yaml"
    batch.write_text(yaml.safe_dump([
        {"key": "C major", "bpm": 100, "progression": "I IV V I", "seconds": 2.5, "seed": 1},
        {"progression": "Am F C G", "seconds": 1.0, "out": str(tmp_path / "named.wav")},
    ]))
    result = CliRunner().invoke(app, ["generate", str(tiny_model.model), "--batch", str(batch),
                                      "--out", str(tmp_path / "clips"), "--steps", "3"])
    assert result.exit_code == 0, result.output
    assert sf.read(tmp_path / "clips" / "clip-000.wav")[0].shape == (20000,)
    assert sf.read(tmp_path / "named.wav")[0].shape == (8000,)
    assert (tmp_path / "named.png").exists()


def test_missing_vocoder_or_checkpoint_is_a_one_line_error(tiny_model, tmp_path):
    result = CliRunner().invoke(app, ["generate", str(tiny_model.model), "--seconds", "1",
                                      "--out", str(tmp_path / "x.wav"), "--vocoder", str(tmp_path / "nope.pt")])
    assert result.exit_code == 1 and "--vocoder" in result.output
    result = CliRunner().invoke(app, ["generate", str(tiny_model.vae), "--seconds", "1",
                                      "--out", str(tmp_path / "x.wav")])
    assert result.exit_code == 1 and "ostinato train" in result.output


def test_like_copies_an_analysed_tracks_conditions(tiny_model, tmp_path):
    from ostinato.diffusion.generate import features_row
    from ostinato.testing.features import synthetic_row, write_synthetic_features

    write_synthetic_features(tmp_path / "features", n=3)
    track = synthetic_row(0, np.random.default_rng(0))  # track 0: C major, I-V-vi-IV, one chord per bar
    row = features_row(tmp_path / "features", track["track_id"])
    bar_s = 4 * 60.0 / row["tempo_bpm"]
    c = row_conditions([row], start_s=[bar_s], n_frames=64, frame_rate=FRAME_RATE, n_mels=32)
    assert _at(c, "chord_root", 0.1) == vocab.encode_chord_root(7)  # from bar 2 on: V = G
    assert int(c["key"][0]) == vocab.encode_key("C") and float(c["bpm"][0]) == pytest.approx(row["tempo_bpm"])
    out = tmp_path / "like.wav"
    result = CliRunner().invoke(app, ["generate", str(tiny_model.model), "--like", track["track_id"],
                                      "--features", str(tmp_path / "features"), "--seconds", "2", "--steps", "3",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert sf.read(out)[0].shape == (16000,)
    result = CliRunner().invoke(app, ["generate", str(tiny_model.model), "--like", "missing",
                                      "--features", str(tmp_path / "features"), "--out", str(out)])
    assert result.exit_code == 1 and "missing" in result.output
