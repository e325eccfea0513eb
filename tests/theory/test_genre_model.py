"""`ostinato fit-genre` on a tagged corpus in real Parquet, and the pipeline using the model it writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.dataset as pads
import pytest
from typer.testing import CliRunner

from ostinato import schema
from ostinato.cli import app
from ostinato.config import load_config
from ostinato.demo.encode import write_wav
from ostinato.errors import ConfigError
from ostinato.pipelines import stages
from ostinato.pipelines.inputs import InputFile
from ostinato.testing import grooves
from ostinato.testing.genre_corpus import PROTOTYPES, genre_rows, write_genre_corpus
from ostinato.theory.genre_model import FEATURE_NAMES, genre_features, load_genre_model

SR = 22050


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("genre")
    features = write_genre_corpus(root / "features", per_genre=8, seed=0)
    result = CliRunner().invoke(app, ["fit-genre", str(features), str(root / "model")])
    assert result.exit_code == 0, result.output
    assert "cross-validated accuracy" in result.output
    return root / "model"


def test_fit_genre_saves_model_and_card_with_cv_accuracy(model_dir):
    card = json.loads((model_dir / "card.json").read_text())
    assert (model_dir / "model.npz").is_file() and not (model_dir / "model.joblib").exists()
    assert card["classes"] == sorted(PROTOTYPES)
    assert card["counts"] == {g: 8 for g in PROTOTYPES}  # "Techno" and "Hip Hop" tags folded onto the vocabulary
    assert card["untagged_rows"] == 2 and card["n_tracks"] == 32
    assert card["cv_folds"] == 5 and card["cv_accuracy"] >= 0.85 > card["chance_accuracy"]
    assert card["feature_names"] == list(FEATURE_NAMES)


def test_model_predicts_held_out_rows(model_dir):
    model = load_genre_model(model_dir)
    held_out = [r for r in genre_rows(per_genre=4, seed=99, untagged=0) if r["status"] == "ok"]
    right = 0
    for row in held_out:
        estimate = model.predict(row)
        assert estimate.source == "model" and estimate.secondary != estimate.genre
        assert 0.0 < estimate.secondary_confidence <= estimate.confidence <= 1.0
        assert "cross-validated accuracy" in estimate.reasons[0]
        right += estimate.genre == row["track_id"].rsplit("-", 1)[0]
    assert right / len(held_out) >= 0.85


@pytest.mark.parametrize("genres", [2, 4])
def test_saved_arrays_compute_what_the_fitted_pipeline_computes(genres, tmp_path):
    """The arrays in model.npz give scikit-learn's own probabilities (binary: sigmoid; more: softmax)."""
    from ostinato.theory.genre_model import LinearGenreClassifier, _estimator

    rng = np.random.default_rng(genres)
    x = rng.normal(size=(40, 6))
    x[rng.random(x.shape) < 0.1] = np.nan
    labels = np.asarray([f"g{i % genres}" for i in range(40)])
    x[:, 0] += np.arange(40) % genres  # something to learn
    pipeline = _estimator(0).fit(x, labels)
    ours = LinearGenreClassifier.from_pipeline(pipeline)
    np.testing.assert_allclose(ours.predict_proba(x), pipeline.predict_proba(x), atol=1e-10)
    assert ours.classes == tuple(pipeline.classes_)


def test_a_pickled_model_from_an_older_version_is_refused_not_loaded(model_dir, tmp_path):
    import shutil

    from ostinato.theory.genre_model import GenreModelError

    old = tmp_path / "old"
    shutil.copytree(model_dir, old)
    (old / "model.npz").unlink()
    (old / "model.joblib").write_bytes(b"a pickle that would run code")
    with pytest.raises(GenreModelError, match="could run code; retrain it with `ostinato fit-genre`"):
        load_genre_model(old)


def test_features_of_an_empty_row_are_missing_not_zero():
    x = genre_features({})
    assert x.shape == (len(FEATURE_NAMES),)
    assert np.isnan(x[FEATURE_NAMES.index("tempo_bpm")]) and np.isnan(x[FEATURE_NAMES.index("drums")])
    assert x[FEATURE_NAMES.index("prog_jazz")] == 0.0


def test_one_genre_is_a_clear_error(tmp_path):
    rows = [r for r in genre_rows(per_genre=5) if r["track_id"].startswith("jazz")]
    (tmp_path / "f" / schema.TRACKS_DIR).mkdir(parents=True)
    import pyarrow.parquet as pq

    pq.write_table(schema.tracks_table(rows), tmp_path / "f" / schema.TRACKS_DIR / "part-0.parquet")
    result = CliRunner().invoke(app, ["fit-genre", str(tmp_path / "f"), str(tmp_path / "m")])
    assert result.exit_code == 1
    assert "need at least two genres" in result.output
    result = CliRunner().invoke(app, ["fit-genre", str(tmp_path / "nothing"), str(tmp_path / "m")])
    assert result.exit_code == 1 and "run `ostinato analyze` first" in result.output


def test_config_rejects_a_folder_without_a_model(tmp_path):
    with pytest.raises(ConfigError, match="not a genre model folder"):
        load_config(None, [f"theory.genre_model={tmp_path}"])


@pytest.fixture(scope="module")
def groove_wav(tmp_path_factory) -> Path:
    g = grooves.swing_groove(bpm=120, bars=8, sr=SR, ratio=2.0)
    return write_wav(g.y, sr=SR, path=tmp_path_factory.mktemp("audio") / "swing.wav")


def _describe(path: Path, overrides: list[str]) -> dict:
    config = load_config(None, ["separation.enabled=false", *overrides])
    prepared, audio, _ = stages.prepare(InputFile(str(path), path.stat().st_size), config)
    assert prepared.ok, prepared.error
    return stages.describe(prepared, audio, config=config)


@pytest.mark.parametrize(("tagger", "source"), [("musicnn", "tags"), ("none", "rules")])
def test_describe_fills_rhythm_and_genre_columns(groove_wav, tagger, source):
    row = _describe(groove_wav, [f"features.music_tagger={tagger}"])
    assert row["status"] == "ok"
    assert row["swing_ratio"] == pytest.approx(2.0, abs=0.2)
    assert len(row["metric_hierarchy"]) == row["beats_per_bar"] and row["metric_hierarchy"][0] == 1.0
    assert row["syncopation"] is not None and row["note_density"] > 1.0
    assert 0.0 <= row["rhythmic_complexity"] <= 1.0 and row["polyrhythm"] is None
    assert row["genre_source"] == source and row["genre"] and row["genre_reasons"]
    assert row["stage_seconds"]["theory"] < 0.2 * row["stage_seconds"]["describe"] + 0.05
    schema.tracks_table([row])  # fits the contract


def test_describe_uses_the_model(groove_wav, model_dir):
    row = _describe(groove_wav, [f"theory.genre_model={model_dir}"])
    assert row["genre_source"] == "model"
    assert row["genre"] in PROTOTYPES and row["genre_secondary"] in PROTOTYPES
    assert 0.0 < row["genre_secondary_confidence"] <= row["genre_confidence"] <= 1.0
    assert "cross-validated accuracy" in row["genre_reasons"][0]


@pytest.mark.slow
def test_ray_pipeline_writes_model_genre(ray_local, groove_wav, model_dir, tmp_path):
    from ostinato.pipelines.analyze import run_analysis

    config = load_config(None, ["separation.enabled=false", f"theory.genre_model={model_dir}"])
    summary = run_analysis([str(groove_wav)], str(tmp_path / "out"), config, show_progress=False)
    assert summary.ok == 1
    table = pads.dataset(tmp_path / "out" / schema.TRACKS_DIR, format="parquet").to_table(
        columns=["genre", "genre_source", "genre_reasons", "swing_ratio", "rhythmic_complexity"]).to_pylist()
    assert table[0]["genre_source"] == "model" and table[0]["genre"] in PROTOTYPES
    assert table[0]["genre_reasons"] and table[0]["swing_ratio"] == pytest.approx(2.0, abs=0.2)
