"""A genre classifier trained on a corpus' own features and genre tags (``ostinato fit-genre``).

The classifier's input is :func:`genre_features` of a ``tracks`` row, so the very same function serves
training (rows read back from Parquet) and the pipeline (the row being written). It is fitted as a scikit-learn
pipeline (median imputation, standardisation, multinomial logistic regression, class-balanced) and kept as the
arrays that pipeline computes with (:class:`LinearGenreClassifier`), saved in a folder as ``model.npz`` (plain
arrays, read with ``allow_pickle=False``: loading a model someone sent you cannot run code) plus ``card.json``
(classes, feature names, cross-validated accuracy, counts, versions).
"""

from __future__ import annotations

import datetime
import functools
import json
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ostinato.errors import OstinatoError
from ostinato.theory.genre import (
    CLASSICAL_PROGRESSIONS,
    JAZZ_PROGRESSIONS,
    MINOR_LOOPS,
    OTHER,
    POP_PROGRESSIONS,
    ROCK_PROGRESSIONS,
    GenreEstimate,
    classify_genre,
    row_facts,
    rule_evidence,
)
from ostinato.theory.genre_tags import classify_from_tags
from ostinato.theory.tags import MODELS, tags_from_rows

CARD_NAME = "card.json"
MODEL_NAME = "model.npz"
CARD_FORMAT = "ostinato-genre-model/2"
#: What earlier versions saved (a pickle: loading it could run code); refused with a message.
LEGACY_MODEL_NAME = "model.joblib"
#: Fewest tagged tracks per genre for a genre to be learnt (smaller genres are left out, and reported).
MIN_PER_GENRE = 3
#: Most folds of the stratified cross-validation.
MAX_FOLDS = 5

_NUMERIC = ("tempo_bpm", "tempo_confidence", "swing_ratio", "syncopation", "note_density", "loudness_lufs",
            "loudness_range_lu", "spectral_flatness_mean", "harmonic_complexity", "drums", "bass", "other",
            "vocals", "sevenths", "dominant_sevenths")
_ROW_NUMERIC = ("meter_confidence", "onset_rate", "rhythmic_complexity", "polyrhythm_confidence",
                "spectral_centroid_mean_hz", "spectral_rolloff_mean_hz", "key_strength", "harmonic_rhythm")
_PROGRESSION_GROUPS = {
    "prog_blues": frozenset({"twelve_bar_blues"}), "prog_jazz": JAZZ_PROGRESSIONS, "prog_pop": POP_PROGRESSIONS,
    "prog_rock": ROCK_PROGRESSIONS, "prog_minor_loop": MINOR_LOOPS, "prog_classical": CLASSICAL_PROGRESSIONS,
}
N_MFCC = 13

#: Names of the columns of :func:`genre_features`, in order.
FEATURE_NAMES: tuple[str, ...] = (
    *_NUMERIC, *_ROW_NUMERIC, "meter_compound", "meter_triple", "mode_major", *_PROGRESSION_GROUPS,
    *(f"mfcc_mean_{i}" for i in range(N_MFCC)),
    *(f"tag:{model}:{tag}" for model, labels in MODELS.items() for tag in labels),
)


class GenreModelError(OstinatoError):
    """A genre model cannot be trained, saved or loaded (too few tags, missing folder, wrong format)."""


def genre_features(row: Mapping[str, Any]) -> np.ndarray:
    """The classifier's input for one ``tracks`` row: ``np.ndarray [shape=(len(FEATURE_NAMES),), float64]``.

    Missing values (no stems, no chords, silent audio) are NaN; the model imputes them with the training
    medians. Progression groups are 0/1 flags; the MFCC means are the first 13 timbre coefficients; the tag
    features are the music taggers' probabilities (``music_tags``), NaN when the tagger did not run.
    """
    facts = row_facts(row)

    def num(value: Any) -> float:
        try:
            value = float(value)
        except (TypeError, ValueError):
            return math.nan
        return value if math.isfinite(value) else math.nan

    values = [num(facts[name]) for name in _NUMERIC]
    values += [num(row.get(name)) for name in _ROW_NUMERIC]
    meter = row.get("meter")
    values += [
        math.nan if meter is None else float(str(meter).endswith("/8")),
        math.nan if meter is None else float(str(meter) in ("3/4", "9/8")),
        math.nan if row.get("mode") is None else float(row.get("mode") == "major"),
    ]
    values += [float(bool(group & facts["progressions"])) for group in _PROGRESSION_GROUPS.values()]
    mfcc = list(row.get("mfcc_mean") or [])[:N_MFCC]
    values += [num(v) for v in mfcc] + [math.nan] * (N_MFCC - len(mfcc))
    tags = tags_from_rows(row.get("music_tags")) or {}
    values += [num(tags.get(model, {}).get(tag)) for model, labels in MODELS.items() for tag in labels]
    return np.asarray(values, dtype=np.float64)


def canonical_genre(tag: str | None) -> str | None:
    """A genre tag folded onto the training-set vocabulary (``"Hip Hop"`` -> ``"hip-hop"``); None if empty."""
    from ostinato.datasets.vocab import decode_genre, encode_genre

    token_id = encode_genre(tag)
    return decode_genre(token_id) if token_id else None


@dataclass(frozen=True)
class LinearGenreClassifier:
    """The fitted pipeline as arrays: impute NaNs with ``median``, standardise with ``mean``/``scale``, then a
    logistic regression (``coef`` [shape=(n_classes or 1, n_features)], ``intercept`` [shape=(n_classes or 1,)];
    one row means two classes, sigmoid; more rows, softmax). ``classes`` in the order of the probabilities."""

    median: np.ndarray
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: np.ndarray
    classes: tuple[str, ...]

    @classmethod
    def from_pipeline(cls, pipeline: Any) -> LinearGenreClassifier:
        imputer, scaler, logistic = (pipeline.named_steps[s] for s in ("impute", "scale", "classify"))
        return cls(median=np.asarray(imputer.statistics_, dtype=np.float64),
                   mean=np.asarray(scaler.mean_, dtype=np.float64), scale=np.asarray(scaler.scale_, dtype=np.float64),
                   coef=np.asarray(logistic.coef_, dtype=np.float64),
                   intercept=np.asarray(logistic.intercept_, dtype=np.float64),
                   classes=tuple(str(c) for c in logistic.classes_))

    def standardise(self, x: np.ndarray) -> np.ndarray:
        """``x`` [shape=(n, n_features)] with NaNs imputed, standardised."""
        x = np.where(np.isnan(x), self.median, x)
        return (x - self.mean) / self.scale

    def predict_proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities [shape=(n, n_classes)] for features ``x`` [shape=(n, n_features)]."""
        logits = self.standardise(x) @ self.coef.T + self.intercept
        if self.coef.shape[0] == 1:
            positive = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.stack([1.0 - positive, positive], axis=1)
        logits = logits - logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        return weights / weights.sum(axis=1, keepdims=True)

    def class_weights(self, genre: str) -> np.ndarray:
        """The coefficients that raise ``genre``'s score, [shape=(n_features,)]."""
        index = self.classes.index(genre)
        return self.coef[index] if self.coef.shape[0] > 1 else self.coef[0] * (1 if index else -1)


@dataclass(frozen=True)
class GenreModel:
    """A fitted classifier and its card (see the module docstring)."""

    classifier: LinearGenreClassifier
    card: dict[str, Any]

    @property
    def classes(self) -> list[str]:
        return list(self.card["classes"])

    def predict(self, row: Mapping[str, Any]) -> GenreEstimate:
        """Primary and secondary genre of a ``tracks`` row, ``source="model"``."""
        probabilities = self.classifier.predict_proba(genre_features(row)[None, :])[0]
        order = np.argsort(probabilities)[::-1]
        classes = self.classifier.classes
        first = classes[order[0]]
        second = classes[order[1]] if len(order) > 1 else None
        reasons = [
            f"classifier trained on {self.card['n_tracks']} tagged tracks "
            f"(cross-validated accuracy {self.card['cv_accuracy']:.2f} over {self.card['cv_folds']} folds)",
            *self._top_inputs(row, first),
        ]
        return GenreEstimate(
            genre=first,
            confidence=float(probabilities[order[0]]),
            secondary=second,
            secondary_confidence=float(probabilities[order[1]]) if second is not None else None,
            reasons=reasons,
            source="model",
        )

    def _top_inputs(self, row: Mapping[str, Any], genre: str, k: int = 3) -> list[str]:
        """The inputs that pushed the logistic score of ``genre`` up the most for this row."""
        x = genre_features(row)[None, :]
        contribution = self.classifier.class_weights(genre) * self.classifier.standardise(x)[0]
        top = np.argsort(contribution)[::-1][:k]
        return [f"{FEATURE_NAMES[i]} = {x[0, i]:.3g} points to {genre}" for i in top
                if contribution[i] > 0 and math.isfinite(x[0, i])]


def _estimator(seed: int):
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    return Pipeline([
        ("impute", SimpleImputer(strategy="median", keep_empty_features=True)),
        ("scale", StandardScaler()),
        ("classify", LogisticRegression(max_iter=2000, class_weight="balanced", C=1.0, random_state=seed)),
    ])


def fit_genre_model(
    rows: Iterable[Mapping[str, Any]], *, min_per_genre: int = MIN_PER_GENRE, seed: int = 0
) -> GenreModel:
    """Train on the ``ok`` rows whose ``tags.genre`` names a vocabulary genre; cross-validate; fit on all.

    Raises
    ------
    GenreModelError
        When fewer than two genres have ``min_per_genre`` tagged tracks.
    """
    from sklearn.model_selection import StratifiedKFold, cross_val_score

    x, y, skipped = [], [], Counter()
    untagged = 0
    for row in rows:
        if row.get("status", "ok") != "ok":
            continue
        genre = canonical_genre((row.get("tags") or {}).get("genre"))
        if genre is None or genre == OTHER:
            untagged += 1
            continue
        x.append(genre_features(row))
        y.append(genre)
    counts = Counter(y)
    kept = {g for g, n in counts.items() if n >= min_per_genre}
    skipped.update({g: n for g, n in counts.items() if g not in kept})
    if len(kept) < 2:
        raise GenreModelError(
            f"need at least two genres with {min_per_genre} or more tagged tracks; found "
            f"{dict(counts) or 'no tagged tracks'} ({untagged} ok rows without a usable genre tag)"
        )
    keep = [i for i, g in enumerate(y) if g in kept]
    features, labels = np.stack([x[i] for i in keep]), np.asarray([y[i] for i in keep])
    folds = min(MAX_FOLDS, min(counts[g] for g in kept))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    scores = cross_val_score(_estimator(seed), features, labels, cv=splitter, scoring="accuracy")
    estimator = _estimator(seed).fit(features, labels)
    card = {
        "format": CARD_FORMAT,
        "classes": [str(c) for c in estimator.classes_],
        "feature_names": list(FEATURE_NAMES),
        "n_tracks": int(len(labels)),
        "counts": {g: int(counts[g]) for g in sorted(kept)},
        "skipped_genres": dict(sorted(skipped.items())),
        "untagged_rows": untagged,
        "cv_folds": int(folds),
        "cv_accuracy": float(np.mean(scores)),
        "cv_accuracy_std": float(np.std(scores)),
        "chance_accuracy": float(max(counts[g] for g in kept) / len(labels)),
        "estimator": "impute(median) -> standardise -> logistic regression (multinomial, class-balanced)",
        "seed": seed,
        "trained_at": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "versions": _versions(),
    }
    return GenreModel(LinearGenreClassifier.from_pipeline(estimator), card)


def _versions() -> dict[str, str]:
    import sklearn

    from ostinato import ANALYSIS_VERSION, __version__

    return {"ostinato": __version__, "analysis": ANALYSIS_VERSION, "scikit-learn": sklearn.__version__}


def save_genre_model(model: GenreModel, folder: str | Path) -> Path:
    """Write ``model.npz`` and ``card.json`` into ``folder`` (created); returns the folder."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    c = model.classifier
    partial = folder / (MODEL_NAME + ".partial")
    with partial.open("wb") as handle:
        np.savez(handle, median=c.median, mean=c.mean, scale=c.scale, coef=c.coef, intercept=c.intercept)
    partial.replace(folder / MODEL_NAME)
    (folder / CARD_NAME).write_text(json.dumps(model.card, indent=2) + "\n")
    return folder


@functools.lru_cache(maxsize=4)
def load_genre_model(folder: str | Path) -> GenreModel:
    """Read a folder written by :func:`save_genre_model` (cached per process: workers load it once).

    Only arrays and JSON are read (``allow_pickle=False``), so a model folder from elsewhere cannot run code.

    Raises
    ------
    GenreModelError
        If the folder lacks the files, the card is of another format, or it was trained on other features.
    """
    folder = Path(folder)
    card_path, model_path = folder / CARD_NAME, folder / MODEL_NAME
    if (folder / LEGACY_MODEL_NAME).is_file() and not model_path.is_file():
        raise GenreModelError(
            f"{folder} holds a genre model saved by an older ostinato as a pickle ({LEGACY_MODEL_NAME}), which "
            "is not loaded because loading it could run code; retrain it with `ostinato fit-genre`"
        )
    if not card_path.is_file() or not model_path.is_file():
        raise GenreModelError(f"{folder} is not a genre model folder (expected {CARD_NAME} and {MODEL_NAME})")
    card = json.loads(card_path.read_text())
    if card.get("format") != CARD_FORMAT:
        raise GenreModelError(f"{card_path} has format {card.get('format')!r}, expected {CARD_FORMAT!r}; "
                              "retrain it with `ostinato fit-genre`")
    if card.get("feature_names") != list(FEATURE_NAMES):
        raise GenreModelError(
            f"the model in {folder} was trained on other features than this ostinato computes; "
            "retrain it with `ostinato fit-genre`"
        )
    try:
        with np.load(model_path, allow_pickle=False) as arrays:
            classifier = LinearGenreClassifier(
                median=arrays["median"], mean=arrays["mean"], scale=arrays["scale"], coef=arrays["coef"],
                intercept=arrays["intercept"], classes=tuple(card["classes"]),
            )
    except (OSError, ValueError, KeyError) as exc:
        raise GenreModelError(f"{model_path} is not a readable genre model: {exc}") from None
    return GenreModel(classifier, card)


def genre_of_row(row: Mapping[str, Any], *, genre_model: str | Path | None = None) -> GenreEstimate:
    """Genre of a finished ``tracks`` row: the trained model at ``genre_model`` when given, else the music
    tagger's ``music_tags`` (with the rules' evidence for the same genre among the reasons), else the rules."""
    if genre_model is not None:
        return load_genre_model(genre_model).predict(row)
    tags = tags_from_rows(row.get("music_tags"))
    if tags is not None:
        _, held = rule_evidence(row)
        return classify_from_tags(tags, extra_reasons=held)
    return classify_genre(row)


def read_feature_rows(features: str, *, columns: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The ``tracks`` rows of an analysis output (local folder or URI), optionally only some columns.

    Raises
    ------
    GenreModelError
        If there are no track shards there.
    """
    from ostinato import outputs, schema

    try:
        table = outputs.read_tracks_table(features, columns=list(columns) if columns else None)
    except outputs.OutputNotFoundError:
        message = f"{features} holds no {schema.TRACKS_DIR}/ shards; run `ostinato analyze` first"
        raise GenreModelError(message) from None
    return table.to_pylist()


#: Columns :func:`genre_features` reads, so training never loads beats, chords' neighbours or MFCC stds.
FEATURE_COLUMNS = ("status", "tags", "tempo_bpm", "tempo_confidence", "meter", "meter_confidence", "mode",
                   "key_strength", "onset_rate", "swing_ratio", "syncopation", "note_density", "polyrhythm",
                   "polyrhythm_confidence", "rhythmic_complexity", "loudness_lufs", "loudness_range_lu",
                   "spectral_flatness_mean", "spectral_centroid_mean_hz", "spectral_rolloff_mean_hz",
                   "harmonic_complexity", "harmonic_rhythm", "stems", "chords", "progressions", "mfcc_mean")


def fit_genre(features: str, out: str | Path, *, min_per_genre: int = MIN_PER_GENRE, seed: int = 0) -> GenreModel:
    """``ostinato fit-genre``: read an analysis output's rows, train, cross-validate, and save to ``out``."""
    model = fit_genre_model(read_feature_rows(features, columns=FEATURE_COLUMNS), min_per_genre=min_per_genre,
                            seed=seed)
    model.card["features"] = features
    save_genre_model(model, out)
    return model
