"""The `ostinato` command line."""

from __future__ import annotations

import logging
import os
from enum import Enum
from typing import Annotated

import rich.markup
import typer
from rich.console import Console

from ostinato.cli_params import (
    ADDRESS_OPTION,
    CONFIG_OPTION,
    SET_OPTION,
    OstinatoGroup,
    command_class,
    local_location,
    resolve_config,
    shipped_configs,
)
from ostinato.errors import OstinatoError, UsageError
from ostinato.theory.meter import COMMON_METERS

app = typer.Typer(
    name="ostinato",
    help="Analyse music corpora into theory-annotated Parquet shards on Ray.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    cls=OstinatoGroup,
)
_err = Console(stderr=True)

# Literal copies keep `ostinato --help` fast (no duckdb or pydantic models imported); tests/package/test_cli.py
# checks them against features.output.FORMATS and diffusion.config.SamplingConfig.scheduler.
OutputFormat = Enum("OutputFormat", {name: name for name in ("table", "csv", "json", "parquet")}, type=str)
TimeSignature = Enum("TimeSignature", {name: name for name in COMMON_METERS}, type=str)
Sampler = Enum("Sampler", {"ddim": "ddim", "dpm": "dpm"}, type=str)

_ANALYSIS, _TRAINING, _GENERATION = "Analysis", "Training", "Generation"
_FEATURES_HELP = "Output folder or URI of `ostinato analyze` (holds tracks/)."
_TRAINSET_HELP = "Training-set folder or URI (`ostinato build-dataset`)."
_RUN_HELP = "Run folder: checkpoints, TensorBoard, metrics.jsonl. Re-running with the same RUN resumes."
_CHECKPOINT_HELP = "Run folder (its latest checkpoint) or one checkpoint folder."


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


def _refuse_audio_folder_as_out(out: str) -> None:
    """The last argument of analyze is OUT: stop when it is plainly an input (audio files, no ostinato output)."""
    from ostinato.pipelines.inputs import is_analysable
    from ostinato.schema import CARD_NAME
    from ostinato.storage import is_uri

    if is_uri(out) or not os.path.isdir(out) or os.path.exists(os.path.join(out, CARD_NAME)):
        return
    if any(is_analysable(name) for name in os.listdir(out)):
        raise UsageError(f"OUT ({out}) holds audio files and no analysis output; the last argument is where the "
                         "shards go: ostinato analyze INPUT... OUT")


@app.command(rich_help_panel=_ANALYSIS,
             cls=command_class({"--out": -1, "-o": -1}, old_positional_overrides=True))
def analyze(
    inputs: Annotated[list[str], typer.Argument(
        metavar="INPUT", show_default=False,
        help="Folders, globs, list files (.txt) or s3:// / gs:// URIs of audio or scores (MIDI, MusicXML, ABC).")],
    out: Annotated[str, typer.Argument(metavar="OUT", show_default=False,
                                       help="Output folder or URI for the Parquet shards.")],
    config: Annotated[str | None, CONFIG_OPTION] = None,
    overrides: Annotated[list[str] | None, SET_OPTION] = None,
    address: Annotated[str | None, ADDRESS_OPTION] = None,
    keep_stems: Annotated[str | None, typer.Option(
        "--keep-stems", metavar="DIR",
        help="Also write separated stems as FLAC under this folder or URI (~40 MB per minute).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Allow appending to an output written with another config.")
                     ] = False,
    retry_errors: Annotated[bool, typer.Option(
        "--retry-errors", help="Analyse again the inputs whose row is an error; the new row replaces it.")] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="If another job is writing OUT, wait for it to finish instead of stopping.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display or summary.")] = False,
) -> None:
    """Analyse audio files and scores: Demucs stems, MIR features and music theory, one Parquet row per file.

    Re-running the same command on the same OUT resumes: finished files are skipped, damaged shards are moved
    to OUT/_quarantine/ and their files analysed again. One job writes an output at a time.
    """
    from ostinato.config import load_config
    from ostinato.pipelines.analyze import run_analysis

    try:
        _refuse_audio_folder_as_out(out)
        cfg = load_config(resolve_config(config), overrides or [])
        _console_logging()
        run_analysis(inputs, out, cfg, address=address, keep_stems=keep_stems, force=force,
                     retry_errors=retry_errors, wait=wait, show_progress=not quiet)
    except OstinatoError as exc:
        _fail(exc)


@app.command("demo-corpus", rich_help_panel=_ANALYSIS, cls=command_class())
def demo_corpus(
    folder: Annotated[str, typer.Argument(metavar="FOLDER", show_default=False,
                                          help="Where to write the demo MP3s and their truth.json.")],
    tracks: Annotated[int, typer.Option(metavar="N", help="Number of tracks.")] = 6,
    seconds: Annotated[float, typer.Option(metavar="SECONDS", help="Length of each track in seconds.")] = 24.0,
    seed: Annotated[int, typer.Option(metavar="N", help="Random seed (the corpus is deterministic for a seed).")] = 0,
) -> None:
    """Synthesise short multi-instrument MP3s at known keys, tempos and progressions, with their truth."""
    from ostinato.extras import require

    try:
        require("demo", command="demo-corpus")
        from ostinato.demo import write_demo_corpus

        corpus = write_demo_corpus(local_location(folder, "FOLDER"), n_tracks=tracks, seconds=seconds, seed=seed)
    except OstinatoError as exc:
        _fail(exc)
    _err.print(f"wrote {len(corpus.tracks)} tracks and their truth to {folder}")


@app.command(rich_help_panel=_ANALYSIS, cls=command_class())
def query(
    features: Annotated[str, typer.Argument(metavar="FEATURES", show_default=False, help=_FEATURES_HELP)],
    sql: Annotated[str, typer.Argument(metavar="SQL", show_default=False,
                                       help="SQL over the views tracks, beats, chords, sections, roman, stems, "
                                       "progressions, cadences, local_keys, aliases.")],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format (json: an array of objects).")
                   ] = OutputFormat.table,
    out: Annotated[str | None, typer.Option("--out", "-o", metavar="FILE",
                                            help="Write to this file or URI instead of stdout.")] = None,
    max_rows: Annotated[int, typer.Option(metavar="N", help="Rows shown by --format table.")] = 50,
) -> None:
    """Run SQL (DuckDB) over analysis shards, e.g. "SELECT key, mode, count(*) FROM tracks GROUP BY ALL"."""
    from ostinato.features import open_features, run_sql
    from ostinato.features.output import write_result

    try:
        _console_logging()
        con = open_features(features)
        write_result(run_sql(con, sql), fmt=fmt.value, out=out, max_rows=max_rows)
    except OstinatoError as exc:
        _fail(exc)


@app.command(rich_help_panel=_ANALYSIS, cls=command_class({"--out": 1, "-o": 1}))
def report(
    features: Annotated[str, typer.Argument(metavar="FEATURES", show_default=False, help=_FEATURES_HELP)],
    out: Annotated[str, typer.Argument(metavar="OUT", show_default=False,
                                       help="Local folder for index.html and its PNG charts.")],
    title: Annotated[str, typer.Option(metavar="TEXT", help="Page title.")] = "ostinato corpus report",
) -> None:
    """Write a static HTML report (keys, tempo, chord transitions, progressions, cadences, genres, loudness,
    stage timings, errors) with PNG charts, aggregated in DuckDB."""
    from ostinato.features import open_features
    from ostinato.report import build_report

    try:
        folder = local_location(out, "OUT")
        _console_logging()
        page = build_report(open_features(features), folder, source=features, title=title)
    except OstinatoError as exc:
        _fail(exc)
    _err.print(f"wrote {page}")


@app.command("build-dataset", rich_help_panel=_TRAINING,
             cls=command_class({"--out": 1, "-o": 1}, old_positional_overrides=True))
def build_dataset(
    features: Annotated[str, typer.Argument(metavar="FEATURES", show_default=False, help=_FEATURES_HELP)],
    out: Annotated[str, typer.Argument(metavar="TRAINSET", show_default=False,
                                       help="Training-set folder or URI to write.")],
    config: Annotated[str | None, CONFIG_OPTION] = None,
    overrides: Annotated[list[str] | None, SET_OPTION] = None,
    audio_root: Annotated[str | None, typer.Option(
        "--audio-root", metavar="DIR", help="Where the audio is now: joined to relative row paths, or replacing "
        "the folder common to all absolute ones. Default: the rows' paths as they are.")] = None,
    address: Annotated[str | None, ADDRESS_OPTION] = None,
    force: Annotated[bool, typer.Option("--force", help="Allow adding to a training set built with another config.")
                     ] = False,
    retry_errors: Annotated[bool, typer.Option(
        "--retry-errors", help="Build again the tracks that failed in earlier runs (listed in TRAINSET/_errors/).")
    ] = False,
    wait: Annotated[bool, typer.Option(
        "--wait", help="If another job is writing TRAINSET, wait for it to finish instead of stopping.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress display or summary.")] = False,
) -> None:
    """Cut analysed tracks into fixed log-mel segments with frame-aligned chord, numeral, beat and section ids.

    Writes TRAINSET/{train,val}/part-*.parquet and the card TRAINSET/_trainset.json. Re-running resumes.
    """
    from ostinato.datasets.config import load_dataset_config
    from ostinato.pipelines.build_dataset import run_build_dataset

    try:
        cfg = load_dataset_config(resolve_config(config), overrides or [])
        _console_logging()
        run_build_dataset(features, out, cfg, audio_root=audio_root, address=address, force=force,
                          retry_errors=retry_errors, wait=wait, show_progress=not quiet)
    except OstinatoError as exc:
        _fail(exc)


@app.command("fit-genre", rich_help_panel=_TRAINING, cls=command_class({"--out": 1, "-o": 1}))
def fit_genre(
    features: Annotated[str, typer.Argument(metavar="FEATURES", show_default=False, help=_FEATURES_HELP)],
    out: Annotated[str, typer.Argument(metavar="MODEL_DIR", show_default=False,
                                       help="Local folder for the model (model.npz, card.json).")],
    min_per_genre: Annotated[int, typer.Option(metavar="N", help="Genres with fewer tagged tracks are left out.")
                             ] = 3,
    seed: Annotated[int, typer.Option(metavar="N", help="Seed of the cross-validation folds and the classifier.")
                    ] = 0,
) -> None:
    """Train a genre classifier on the corpus' own features and genre tags; print its cross-validated accuracy.

    Use it in the pipeline with `ostinato analyze ... --set theory.genre_model=MODEL_DIR` (rows then say
    genre_source = "model").
    """
    from ostinato.extras import require
    from ostinato.theory.genre_model import fit_genre as fit

    try:
        require("genre", command="fit-genre")
        model = fit(features, local_location(out, "MODEL_DIR"), min_per_genre=min_per_genre, seed=seed)
    except OstinatoError as exc:
        _fail(exc)
    card = model.card
    counts = ", ".join(f"{g} {n}" for g, n in card["counts"].items())
    print(f"cross-validated accuracy {card['cv_accuracy']:.3f} +- {card['cv_accuracy_std']:.3f} "
          f"({card['cv_folds']} folds, chance {card['chance_accuracy']:.3f}) on {card['n_tracks']} tracks: {counts}")
    if card["skipped_genres"]:
        _err.print(f"left out (fewer than {min_per_genre} tracks): {card['skipped_genres']}")
    _err.print(f"wrote {out}")


_VERBOSE = typer.Option("--verbose", "-v", help="Also Ray's worker output and Ray Data / Ray Train INFO logs.")
_QUIET_TRAINING = typer.Option("--quiet", "-q", help="No console metrics.")
_DEVICE = typer.Option(metavar="DEVICE", help="cpu, cuda, cuda:1 ...")
_VOCODER = typer.Option(metavar="FILE", help="Local TorchScript vocoder; default Griffin-Lim.")


@app.command("train-vae", rich_help_panel=_TRAINING,
             cls=command_class({"--data": 0, "--out": 1, "-o": 1}, old_positional_overrides=True))
def train_vae(
    data: Annotated[str, typer.Argument(metavar="TRAINSET", show_default=False, help=_TRAINSET_HELP)],
    out: Annotated[str, typer.Argument(metavar="RUN", show_default=False, help=_RUN_HELP)],
    config: Annotated[str | None, CONFIG_OPTION] = None,
    overrides: Annotated[list[str] | None, SET_OPTION] = None,
    address: Annotated[str | None, ADDRESS_OPTION] = None,
    quiet: Annotated[bool, _QUIET_TRAINING] = False,
    verbose: Annotated[bool, _VERBOSE] = False,
) -> None:
    """Stage 1: train the mel autoencoder on Ray Train (e.g. --config train/tiny)."""
    from ostinato.extras import require

    try:
        require("train", command="train-vae")
        from ostinato.diffusion.config import load_train_config
        from ostinato.pipelines.train import run_training

        cfg = load_train_config(resolve_config(config), overrides or [])
        summary = run_training(cfg, stage="vae", data=data, out=local_location(out, "RUN"), address=address,
                               quiet=quiet, verbose=verbose)
    except OstinatoError as exc:
        _fail(exc)
    _err.print(f"VAE checkpoint: {summary.checkpoint}", soft_wrap=True)


@app.command(rich_help_panel=_TRAINING,
             cls=command_class({"--data": 0, "--vae": 1, "--out": 2, "-o": 2}, old_positional_overrides=True))
def train(
    data: Annotated[str, typer.Argument(metavar="TRAINSET", show_default=False, help=_TRAINSET_HELP)],
    vae: Annotated[str, typer.Argument(metavar="VAE", show_default=False,
                                       help="Run folder or checkpoint of `ostinato train-vae`.")],
    out: Annotated[str, typer.Argument(metavar="RUN", show_default=False, help=_RUN_HELP)],
    config: Annotated[str | None, CONFIG_OPTION] = None,
    overrides: Annotated[list[str] | None, SET_OPTION] = None,
    address: Annotated[str | None, ADDRESS_OPTION] = None,
    quiet: Annotated[bool, _QUIET_TRAINING] = False,
    verbose: Annotated[bool, _VERBOSE] = False,
) -> None:
    """Stage 2: train the theory-conditioned latent U-Net on Ray Train (e.g. --config train/tiny)."""
    from ostinato.extras import require

    try:
        require("train", command="train")
        from ostinato.diffusion.config import load_train_config
        from ostinato.pipelines.train import run_training

        cfg = load_train_config(resolve_config(config), overrides or [])
        summary = run_training(cfg, stage="diffusion", data=data, out=local_location(out, "RUN"),
                               vae=local_location(vae, "VAE"), address=address, quiet=quiet, verbose=verbose)
    except OstinatoError as exc:
        _fail(exc)
    _err.print(f"model checkpoint: {summary.checkpoint}", soft_wrap=True)


@app.command(rich_help_panel=_GENERATION, cls=command_class({"--checkpoint": 0}))
def generate(
    checkpoint: Annotated[str, typer.Argument(metavar="CHECKPOINT", show_default=False, help=_CHECKPOINT_HELP)],
    out: Annotated[str, typer.Option("--out", "-o", metavar="WAV|DIR", help="WAV path (a PNG of the mel goes "
                                     "beside it); a folder for --batch.")] = "clip.wav",
    key: Annotated[str | None, typer.Option(metavar="KEY", help="Key, e.g. 'G major', 'e minor'.")] = None,
    bpm: Annotated[float | None, typer.Option(metavar="BPM", help="Tempo in beats per minute.")] = None,
    time_signature: Annotated[TimeSignature, typer.Option("--time-signature", help="Meter.")] = TimeSignature["4/4"],
    progression: Annotated[str | None, typer.Option(metavar="CHORDS", help="Roman numerals ('I V vi IV') or "
                                                    "chords ('G D Em C'); NAME*BARS sets a chord's length in bars.")
                           ] = None,
    genre: Annotated[str | None, typer.Option(metavar="GENRE", help="Genre, e.g. rock, jazz, electronic.")] = None,
    seconds: Annotated[float, typer.Option(metavar="SECONDS", help="Length of the clip in seconds.")] = 10.0,
    seed: Annotated[int, typer.Option(metavar="N", help="Random seed of the initial noise.")] = 0,
    like: Annotated[str | None, typer.Option("--like", metavar="TRACK_ID",
                                             help="Copy the conditions of this analysed track_id.")] = None,
    features: Annotated[str | None, typer.Option(metavar="FEATURES",
                                                 help="`ostinato analyze` output holding the --like track.")] = None,
    batch: Annotated[str | None, typer.Option("--batch", metavar="FILE", help="YAML list of condition sets "
                                              "(option names as keys, plus out).")] = None,
    steps: Annotated[int | None, typer.Option(metavar="N", help="Sampling steps (default: the config's).")] = None,
    guidance: Annotated[float | None, typer.Option("--guidance", metavar="SCALE",
                                                   help="Classifier-free guidance scale.")] = None,
    sampler: Annotated[Sampler | None, typer.Option(help="Sampler (default: the config's).")] = None,
    vocoder: Annotated[str | None, _VOCODER] = None,
    device: Annotated[str, _DEVICE] = "cpu",
) -> None:
    """Generate audio from music-theory conditions with a trained model: writes WAV + PNG of the mel."""
    from ostinato.extras import require

    try:
        require("train", command="generate")
        from ostinato.diffusion.generate import GenerationRequest, read_batch_file, run_generate

        if batch is not None:
            requests = read_batch_file(local_location(batch, "--batch"))
        else:
            requests = [GenerationRequest(key=key, bpm=bpm, time_signature=time_signature.value,
                                          progression=progression, genre=genre, seconds=seconds, seed=seed,
                                          like=like)]
        written = run_generate(local_location(checkpoint, "CHECKPOINT"), requests, out=local_location(out, "--out"),
                               features=features, vocoder=vocoder and local_location(vocoder, "--vocoder"),
                               steps=steps, guidance_scale=guidance, sampler=sampler and sampler.value, device=device)
    except OstinatoError as exc:
        _fail(exc)
    for wav, png in written:
        _err.print(f"wrote {wav} and {png}", soft_wrap=True)


@app.command(rich_help_panel=_GENERATION,
             cls=command_class({"--checkpoint": 0, "--data": 1, "--out": 2, "-o": 2}))
def evaluate(
    checkpoint: Annotated[str, typer.Argument(metavar="CHECKPOINT", show_default=False, help=_CHECKPOINT_HELP)],
    data: Annotated[str, typer.Argument(metavar="TRAINSET", show_default=False,
                                        help="Training set whose val split gives the condition sets.")],
    out: Annotated[str, typer.Argument(metavar="OUT", show_default=False,
                                       help="Local report folder: evaluate.json and evaluate.md.")],
    limit: Annotated[int, typer.Option(metavar="N", help="At most this many val segments.")] = 16,
    steps: Annotated[int | None, typer.Option(metavar="N", help="Sampling steps (default: the config's).")] = None,
    guidance: Annotated[float | None, typer.Option("--guidance", metavar="SCALE",
                                                   help="Guidance scale of the conditioned run.")] = None,
    seed: Annotated[int, typer.Option(metavar="N", help="Random seed.")] = 0,
    vocoder: Annotated[str | None, _VOCODER] = None,
    device: Annotated[str, _DEVICE] = "cpu",
) -> None:
    """Generate for held-out conditions, analyse the audio, and score it against the conditions (guided vs
    unconditional): chord and key accuracy, tempo error, beat F-measure."""
    from ostinato.extras import require

    try:
        require("eval", command="evaluate")
        from ostinato.diffusion.evaluate import ProgressPrinter, run_evaluation

        report = run_evaluation(local_location(checkpoint, "CHECKPOINT"), data=data, out=local_location(out, "OUT"),
                                limit=limit, steps=steps, guidance_scale=guidance, seed=seed,
                                vocoder=vocoder and local_location(vocoder, "--vocoder"), device=device,
                                progress=ProgressPrinter())
    except OstinatoError as exc:
        _fail(exc)
    _err.print(report.summary_line(), soft_wrap=True)


config_app = typer.Typer(help="The YAML configs shipped with ostinato (configs/ in a checkout).", no_args_is_help=True,
                         cls=OstinatoGroup)
app.add_typer(config_app, name="config", rich_help_panel="Configuration")


@config_app.command("list", cls=command_class())
def config_list() -> None:
    """Name every shipped config (the NAME of `ostinato config show`)."""
    for name in shipped_configs():
        print(name)


@config_app.command("show", cls=command_class())
def config_show(
    name: Annotated[str, typer.Argument(metavar="NAME", show_default=False,
                                        help="analyze, dataset, train/tiny, ... (`ostinato config list`).")],
) -> None:
    """Print a shipped config: `ostinato config show train/tiny > my.yaml`, edit it, pass it with --config."""
    configs = shipped_configs()
    key = name.removesuffix(".yaml").removeprefix("configs/")
    if key not in configs:
        _fail(UsageError(f"no shipped config {name!r}; there are: {', '.join(configs)}"))
    print(configs[key].read_text(encoding="utf-8"), end="")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
