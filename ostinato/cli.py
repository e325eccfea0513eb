"""The `ostinato` command line."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Annotated

import rich.markup
import typer
from rich.console import Console

from ostinato.errors import OstinatoError, UsageError

app = typer.Typer(
    name="ostinato",
    help="Analyse music corpora into theory-annotated Parquet shards on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
_err = Console(stderr=True)
_OVERRIDE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+=")


def _print_version(value: bool) -> None:
    if value:
        from ostinato import ANALYSIS_VERSION, __version__

        print(f"ostinato {__version__} (analysis {ANALYSIS_VERSION})")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[bool, typer.Option("--version", callback=_print_version, is_eager=True,
                                          help="Print the version and exit.")] = False,
) -> None:
    """Analyse music corpora into theory-annotated Parquet shards on Ray."""


def _fail(exc: Exception) -> None:
    """Print one ``error:`` line and exit: 2 for a wrong call (click's usage code), 1 for a failure."""
    _err.print(f"[bold red]error:[/] {rich.markup.escape(str(exc))}", soft_wrap=True, markup=True, highlight=False)
    raise typer.Exit(code=2 if isinstance(exc, UsageError) else 1)


class _ConsoleLines(logging.Handler):
    """Our modules' warnings as ``warning: ...`` lines on stderr (info lines plain), one per record."""

    def emit(self, record: logging.LogRecord) -> None:
        prefix = "[yellow]warning:[/] " if record.levelno >= logging.WARNING else ""
        _err.print(prefix + rich.markup.escape(record.getMessage()), soft_wrap=True, highlight=False)


def _console_logging() -> None:
    logger = logging.getLogger("ostinato")
    if not any(isinstance(h, _ConsoleLines) for h in logger.handlers):
        logger.addHandler(_ConsoleLines())
        logger.setLevel(logging.INFO)
        logger.propagate = False


def split_overrides(arguments: list[str]) -> tuple[list[str], list[str]]:
    """Separate ``section.key=value`` overrides from INPUT arguments (an existing path always stays an INPUT)."""
    inputs, overrides = [], []
    for arg in arguments:
        is_override = _OVERRIDE.match(arg) and not Path(arg).exists()
        (overrides if is_override else inputs).append(arg)
    return inputs, overrides


@app.command()
def analyze(
    inputs: Annotated[list[str], typer.Argument(
        help="Folders, globs, list files (.txt) or s3:// / gs:// URIs of audio or scores (MIDI, MusicXML, ABC); "
        "plus section.key=value overrides.",
        show_default=False,
    )],
    out: Annotated[str, typer.Option("--out", "-o", help="Output folder or URI for the Parquet shards.")],
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (see configs/).")] = None,
    address: Annotated[str | None, typer.Option(
        help="Ray cluster to join: 'auto', or ray://host:10001. Default: RAY_ADDRESS, else a local Ray.")] = None,
    keep_stems: Annotated[str | None, typer.Option(
        "--keep-stems", help="Also write separated stems as FLAC under this folder (~40 MB per minute).")] = None,
    force: Annotated[bool, typer.Option(help="Allow appending to an output written with another config.")] = False,
    retry_errors: Annotated[bool, typer.Option(
        "--retry-errors", help="Analyse again the inputs whose row is an error; the new row replaces it.")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="If another job is writing --out, wait for it to finish instead of stopping.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display or summary.")] = False,
) -> None:
    """Analyse audio files and scores: Demucs stems, MIR features and music theory, one Parquet row per file.

    Re-running the same command on the same --out resumes: finished files are skipped, damaged shards are moved
    to OUT/_quarantine/ and their files analysed again. One job writes an output at a time.
    """
    from ostinato.config import load_config
    from ostinato.pipelines.analyze import run_analysis

    specs, overrides = split_overrides(inputs)
    try:
        if not specs:
            raise UsageError("no INPUT given: name folders, globs, list files or URIs to analyse")
        cfg = load_config(config, overrides)
        _console_logging()
        run_analysis(specs, out, cfg, address=address, keep_stems=keep_stems, force=force,
                     retry_errors=retry_errors, wait=wait, show_progress=not quiet)
    except OstinatoError as exc:
        _fail(exc)


@app.command("demo-corpus")
def demo_corpus(
    folder: Annotated[Path, typer.Argument(help="Where to write the demo MP3s and their truth.json.")],
    tracks: Annotated[int, typer.Option(help="Number of tracks.")] = 6,
    seconds: Annotated[float, typer.Option(help="Length of each track in seconds.")] = 24.0,
    seed: Annotated[int, typer.Option(help="Random seed (the corpus is deterministic for a seed).")] = 0,
) -> None:
    """Synthesise short multi-instrument MP3s at known keys, tempos and progressions, with their truth."""
    from ostinato.extras import require

    try:
        require("demo", command="demo-corpus")
        from ostinato.demo import write_demo_corpus

        corpus = write_demo_corpus(folder, n_tracks=tracks, seconds=seconds, seed=seed)
    except OstinatoError as exc:
        _fail(exc)
    _err.print(f"wrote {len(corpus.tracks)} tracks and their truth to {folder}")


@app.command()
def query(
    features: Annotated[str, typer.Argument(help="Output folder or URI of `ostinato analyze` (holds tracks/).")],
    sql: Annotated[str, typer.Argument(help="SQL over the views tracks, beats, chords, sections, roman, stems, "
                                            "progressions, cadences, local_keys, aliases.")],
    fmt: Annotated[str, typer.Option("--format", "-f", help="table, csv, json (array of objects), parquet.")] = "table",
    out: Annotated[str | None, typer.Option("--out", "-o", help="Write to this file or URI instead of stdout.")] = None,
    max_rows: Annotated[int, typer.Option(help="Rows shown by --format table.")] = 50,
) -> None:
    """Run SQL (DuckDB) over analysis shards, e.g. "SELECT key, mode, count(*) FROM tracks GROUP BY ALL"."""
    from ostinato.features import open_features, run_sql
    from ostinato.features.output import write_result

    try:
        _console_logging()
        con = open_features(features)
        write_result(run_sql(con, sql), fmt=fmt, out=out, max_rows=max_rows)
    except OstinatoError as exc:
        _fail(exc)


@app.command()
def report(
    features: Annotated[str, typer.Argument(help="Output folder or URI of `ostinato analyze` (holds tracks/).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for index.html and its PNG charts.")],
    title: Annotated[str, typer.Option(help="Page title.")] = "ostinato corpus report",
) -> None:
    """Write a static HTML report (keys, tempo, chord transitions, progressions, cadences, genres, loudness,
    stage timings, errors) with PNG charts, aggregated in DuckDB."""
    from ostinato.features import open_features
    from ostinato.report import build_report

    try:
        _console_logging()
        page = build_report(open_features(features), out, source=features, title=title)
    except OstinatoError as exc:
        _fail(exc)
    _err.print(f"wrote {page}")


@app.command("build-dataset")
def build_dataset(
    arguments: Annotated[list[str], typer.Argument(
        help="FEATURES (an `ostinato analyze` output folder or URI), plus section.key=value overrides.",
        show_default=False,
    )],
    out: Annotated[str, typer.Option("--out", "-o", help="Training-set folder or URI (TRAINSET).")],
    audio_root: Annotated[str | None, typer.Option(
        "--audio-root", help="Where the audio is now: joined to relative row paths, or replacing the folder "
        "common to all absolute ones. Default: the rows' paths as they are.")] = None,
    config: Annotated[Path | None, typer.Option("--config", "-c", help="YAML config (configs/dataset.yaml).")] = None,
    address: Annotated[str | None, typer.Option(
        help="Ray cluster to join: 'auto', or ray://host:10001. Default: RAY_ADDRESS, else a local Ray.")] = None,
    force: Annotated[bool, typer.Option(help="Allow adding to a training set built with another config.")] = False,
    retry_errors: Annotated[bool, typer.Option(
        "--retry-errors", help="Build again the tracks that failed in earlier runs (listed in TRAINSET/_errors/).")
    ] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="If another job is writing --out, wait for it to finish instead of stopping.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display or summary.")] = False,
) -> None:
    """Cut analysed tracks into fixed log-mel segments with frame-aligned chord, numeral, beat and section ids.

    Writes TRAINSET/{train,val}/part-*.parquet and the card TRAINSET/_trainset.json. Re-running resumes.
    """
    from ostinato.datasets.config import load_dataset_config
    from ostinato.pipelines.build_dataset import run_build_dataset

    specs, overrides = split_overrides(arguments)
    try:
        if len(specs) != 1:
            raise UsageError(f"give exactly one FEATURES folder (an ostinato analyze output), got {specs}")
        cfg = load_dataset_config(config, overrides)
        _console_logging()
        run_build_dataset(specs[0], out, cfg, audio_root=audio_root, address=address, force=force,
                          retry_errors=retry_errors, wait=wait, show_progress=not quiet)
    except OstinatoError as exc:
        _fail(exc)


@app.command("fit-genre")
def fit_genre(
    features: Annotated[str, typer.Argument(help="Output folder or URI of `ostinato analyze` (holds tracks/).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for the model (model.npz, card.json).")],
    min_per_genre: Annotated[int, typer.Option(help="Genres with fewer tagged tracks are left out.")] = 3,
    seed: Annotated[int, typer.Option(help="Seed of the cross-validation folds and the classifier.")] = 0,
) -> None:
    """Train a genre classifier on the corpus' own features and genre tags; print its cross-validated accuracy.

    Use it in the pipeline with `ostinato analyze ... theory.genre_model=MODEL_DIR` (rows then say
    genre_source = "model").
    """
    from ostinato.extras import require
    from ostinato.theory.genre_model import fit_genre as fit

    try:
        require("genre", command="fit-genre")
        model = fit(features, out, min_per_genre=min_per_genre, seed=seed)
    except OstinatoError as exc:
        _fail(exc)
    card = model.card
    counts = ", ".join(f"{g} {n}" for g, n in card["counts"].items())
    print(f"cross-validated accuracy {card['cv_accuracy']:.3f} +- {card['cv_accuracy_std']:.3f} "
          f"({card['cv_folds']} folds, chance {card['chance_accuracy']:.3f}) on {card['n_tracks']} tracks: {counts}")
    if card["skipped_genres"]:
        _err.print(f"left out (fewer than {min_per_genre} tracks): {card['skipped_genres']}")
    _err.print(f"wrote {out}")


_TRAIN_CONFIG = typer.Option("--config", "-c", help="Training YAML (configs/train/tiny.yaml, configs/train/gpu.yaml).")
_ADDRESS = typer.Option(help="Ray cluster to join: 'auto' or ray://host:10001; default RAY_ADDRESS, else a local Ray.")
_VERBOSE = typer.Option("--verbose", "-v", help="Also Ray's worker output and Ray Data / Ray Train INFO logs.")


@app.command("train-vae")
def train_vae(
    data: Annotated[str, typer.Option("--data", help="Training set folder or URI (ostinato build-dataset).")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: checkpoints, TensorBoard, metrics.jsonl.")],
    config: Annotated[Path | None, _TRAIN_CONFIG] = None,
    overrides: Annotated[list[str] | None, typer.Argument(help="section.key=value overrides.")] = None,
    address: Annotated[str | None, _ADDRESS] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No console metrics.")] = False,
    verbose: Annotated[bool, _VERBOSE] = False,
) -> None:
    """Stage 1: train the mel autoencoder on Ray Train. Re-running with the same --out resumes."""
    from ostinato.extras import require

    try:
        require("train", command="train-vae")
        from ostinato.diffusion.config import load_train_config
        from ostinato.pipelines.train import run_training

        summary = run_training(load_train_config(config, overrides or []), stage="vae", data=data, out=out,
                               address=address, quiet=quiet, verbose=verbose)
    except OstinatoError as exc:
        _fail(exc)
    _err.print(f"VAE checkpoint: {summary.checkpoint}", soft_wrap=True)


@app.command()
def train(
    data: Annotated[str, typer.Option("--data", help="Training set folder or URI (ostinato build-dataset).")],
    vae: Annotated[Path, typer.Option("--vae", help="Run folder or checkpoint of ostinato train-vae.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run folder: checkpoints, TensorBoard, metrics.jsonl.")],
    config: Annotated[Path | None, _TRAIN_CONFIG] = None,
    overrides: Annotated[list[str] | None, typer.Argument(help="section.key=value overrides.")] = None,
    address: Annotated[str | None, _ADDRESS] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No console metrics.")] = False,
    verbose: Annotated[bool, _VERBOSE] = False,
) -> None:
    """Stage 2: train the theory-conditioned latent U-Net on Ray Train. Re-running with the same --out resumes."""
    from ostinato.extras import require

    try:
        require("train", command="train")
        from ostinato.diffusion.config import load_train_config
        from ostinato.pipelines.train import run_training

        summary = run_training(load_train_config(config, overrides or []), stage="diffusion", data=data, out=out,
                               vae=vae, address=address, quiet=quiet, verbose=verbose)
    except OstinatoError as exc:
        _fail(exc)
    _err.print(f"model checkpoint: {summary.checkpoint}", soft_wrap=True)


@app.command()
def generate(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Run folder (latest checkpoint) or checkpoint.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="WAV path (a PNG of the mel goes beside it); a folder "
                                      "for --batch.")] = Path("clip.wav"),
    key: Annotated[str | None, typer.Option(help="Key, e.g. 'G major', 'e minor'.")] = None,
    bpm: Annotated[float | None, typer.Option(help="Tempo in beats per minute.")] = None,
    time_signature: Annotated[str, typer.Option("--time-signature", help="2/4, 3/4, 4/4, 6/8 or 12/8.")] = "4/4",
    progression: Annotated[str | None, typer.Option(help="Roman numerals ('I V vi IV') or chords ('G D Em C'); "
                                                    "NAME*BARS sets a chord's length in bars.")] = None,
    genre: Annotated[str | None, typer.Option(help="Genre, e.g. rock, jazz, electronic.")] = None,
    seconds: Annotated[float, typer.Option(help="Length of the clip in seconds.")] = 10.0,
    seed: Annotated[int, typer.Option(help="Random seed of the initial noise.")] = 0,
    like: Annotated[str | None, typer.Option("--like", help="Copy the conditions of this analysed track_id.")] = None,
    features: Annotated[Path | None, typer.Option(help="ostinato analyze output holding the --like track.")] = None,
    batch: Annotated[Path | None, typer.Option("--batch", help="YAML list of condition sets (option names as "
                                               "keys, plus out).")] = None,
    steps: Annotated[int | None, typer.Option(help="Sampling steps (default: the config's, 50).")] = None,
    guidance: Annotated[float | None, typer.Option("--guidance", help="Classifier-free guidance scale.")] = None,
    sampler: Annotated[str | None, typer.Option(help="ddim or dpm.")] = None,
    vocoder: Annotated[Path | None, typer.Option(help="Local TorchScript vocoder; default Griffin-Lim.")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1 ...")] = "cpu",
) -> None:
    """Generate audio from music-theory conditions with a trained model: writes WAV + PNG of the mel."""
    from ostinato.extras import require

    try:
        require("train", command="generate")
        from ostinato.diffusion.generate import GenerationRequest, read_batch_file, run_generate

        if batch is not None:
            requests = read_batch_file(batch)
        else:
            requests = [GenerationRequest(key=key, bpm=bpm, time_signature=time_signature, progression=progression,
                                          genre=genre, seconds=seconds, seed=seed, like=like)]
        written = run_generate(checkpoint, requests, out=out, features=features, vocoder=vocoder, steps=steps,
                               guidance_scale=guidance, sampler=sampler, device=device)
    except OstinatoError as exc:
        _fail(exc)
    for wav, png in written:
        _err.print(f"wrote {wav} and {png}", soft_wrap=True)


@app.command()
def evaluate(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="Run folder (latest checkpoint) or checkpoint.")],
    data: Annotated[str, typer.Option("--data", help="Training set whose val split gives the condition sets.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Report folder: evaluate.json and evaluate.md.")],
    limit: Annotated[int, typer.Option(help="At most this many val segments.")] = 16,
    steps: Annotated[int | None, typer.Option(help="Sampling steps (default: the config's).")] = None,
    guidance: Annotated[float | None, typer.Option("--guidance", help="Guidance scale of the conditioned run.")] = None,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    vocoder: Annotated[Path | None, typer.Option(help="Local TorchScript vocoder; default Griffin-Lim.")] = None,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1 ...")] = "cpu",
) -> None:
    """Generate for held-out conditions, analyse the audio, and score it against the conditions (guided vs
    unconditional): chord and key accuracy, tempo error, beat F-measure."""
    from ostinato.extras import require

    try:
        require("eval", command="evaluate")
        from ostinato.diffusion.evaluate import ProgressPrinter, run_evaluation

        report = run_evaluation(checkpoint, data=data, out=out, limit=limit, steps=steps, guidance_scale=guidance,
                                seed=seed, vocoder=vocoder, device=device, progress=ProgressPrinter())
    except OstinatoError as exc:
        _fail(exc)
    _err.print(report.summary_line(), soft_wrap=True)


config_app = typer.Typer(help="The YAML configs shipped with ostinato (configs/ in a checkout).", no_args_is_help=True)
app.add_typer(config_app, name="config")


def _shipped_configs() -> dict:
    """NAME (``analyze``, ``train/tiny``) -> the shipped YAML file, from the package data ``ostinato/configs``."""
    from importlib import resources

    found, folders = {}, [(resources.files("ostinato") / "configs", "")]
    while folders:
        folder, prefix = folders.pop()
        for entry in folder.iterdir():
            if entry.is_dir():
                folders.append((entry, f"{prefix}{entry.name}/"))
            elif entry.name.endswith(".yaml"):
                found[prefix + entry.name.removesuffix(".yaml")] = entry
    return dict(sorted(found.items()))


@config_app.command("list")
def config_list() -> None:
    """Name every shipped config (the NAME of `ostinato config show`)."""
    for name in _shipped_configs():
        print(name)


@config_app.command("show")
def config_show(
    name: Annotated[str, typer.Argument(help="analyze, dataset, train/tiny, ... (`ostinato config list`).")],
) -> None:
    """Print a shipped config: `ostinato config show train/tiny > my.yaml`, edit it, pass it with --config."""
    configs = _shipped_configs()
    key = name.removesuffix(".yaml").removeprefix("configs/")
    if key not in configs:
        _fail(UsageError(f"no shipped config {name!r}; there are: {', '.join(configs)}"))
    print(configs[key].read_text(encoding="utf-8"), end="")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
