"""Command-line conventions shared by every command."""

from __future__ import annotations

import re
import typing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ostinato import ANALYSIS_VERSION, __version__
from ostinato.cli import app


def test_version_prints_package_and_analysis_versions():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"ostinato {__version__} (analysis {ANALYSIS_VERSION})"


def _commands() -> dict:
    """Every command by its path: ``analyze``, ``config show``, ..."""
    import typer

    found, groups = {}, [("", typer.main.get_command(app))]
    while groups:
        prefix, group = groups.pop()
        for name, command in group.commands.items():
            if hasattr(command, "commands"):
                groups.append((f"{prefix}{name} ", command))
            else:
                found[prefix + name] = command
    return found


def test_every_help_shows_metavars_not_python_types():
    for path in ["", *_commands()]:
        result = CliRunner().invoke(app, [*path.split(), "--help"], env={"COLUMNS": "160"})
        assert result.exit_code == 0, (path, result.output)
        usage = next(line for line in result.output.splitlines() if "Usage:" in line)
        assert "{" not in usage and "<" not in usage, usage
        assert not re.search(r"<(bool|str|int|float|path|list\[[a-z]+\])>", result.output), (path, result.output)


def test_required_locations_are_arguments_and_no_parameter_is_a_local_path_type():
    import typer

    usage = {path: " ".join(command.collect_usage_pieces(typer.Context(command))) for path, command in
             _commands().items()}
    assert usage["analyze"] == "[OPTIONS] INPUT... OUT"
    assert usage["build-dataset"] == "[OPTIONS] FEATURES TRAINSET"
    assert usage["train-vae"] == "[OPTIONS] TRAINSET RUN"
    assert usage["train"] == "[OPTIONS] TRAINSET VAE RUN"
    assert usage["evaluate"] == "[OPTIONS] CHECKPOINT TRAINSET OUT"
    assert usage["report"] == "[OPTIONS] FEATURES OUT" and usage["fit-genre"] == "[OPTIONS] FEATURES MODEL_DIR"
    for path, command in _commands().items():
        for param in command.params:
            assert not param.required or param.param_type_name == "argument", (path, param.name)
            annotation = param.type_descriptor.annotation
            assert annotation is not Path and Path not in typing.get_args(annotation), (path, param.name)


def test_every_configurable_command_takes_config_and_repeatable_set():
    for name in ("analyze", "build-dataset", "train-vae", "train"):
        options = {opt: param for param in _commands()[name].params for opt in param.opts}
        assert "--config" in options and options["--set"].multiple, name


def test_choice_enums_match_the_values_the_code_accepts():
    from ostinato.cli import OutputFormat, Sampler, TimeSignature
    from ostinato.diffusion.config import SamplingConfig
    from ostinato.features.output import FORMATS
    from ostinato.theory.meter import COMMON_METERS

    assert [f.value for f in OutputFormat] == list(FORMATS)
    assert [s.value for s in Sampler] == list(typing.get_args(SamplingConfig.model_fields["scheduler"].annotation))
    assert [t.value for t in TimeSignature] == list(COMMON_METERS)


def test_bad_choice_and_bad_set_are_usage_errors(tmp_path):
    result = CliRunner().invoke(app, ["query", str(tmp_path), "SELECT 1", "--format", "xml"])
    assert result.exit_code == 2 and "xml" in result.output
    result = CliRunner().invoke(app, ["analyze", str(tmp_path), str(tmp_path / "o"), "--set", "separation"])
    assert result.exit_code == 2 and "section.key=value" in result.output


def test_config_takes_a_shipped_name_or_a_file(tmp_path):
    from ostinato.cli_params import resolve_config
    from ostinato.errors import ConfigError

    assert resolve_config("train/tiny").name == "tiny.yaml" and resolve_config("configs/analyze.yaml").exists()
    mine = tmp_path / "mine.yaml"
    mine.write_text("{}")
    assert resolve_config(str(mine)) == mine
    with pytest.raises(ConfigError, match="train/tiny"):
        resolve_config("train/nosuch")


def test_old_spellings_still_work_with_one_deprecation_warning_each(tmp_path):
    from ostinato.testing.features import write_synthetic_features

    features = tmp_path / "features"
    write_synthetic_features(features, n=3)
    result = CliRunner().invoke(app, ["report", str(features), "--out", str(tmp_path / "report")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "report" / "index.html").exists()
    assert result.output.count("deprecated") == 1 and "ostinato report [OPTIONS] FEATURES OUT" in result.output
    # A bare override and --data/--out: rewritten to the new form, then refused by the config check (exit 2).
    result = CliRunner().invoke(app, ["train-vae", "--data", "t", "--out", str(tmp_path / "r"), "nosuch.key=1"])
    assert result.exit_code == 2 and "nosuch" in result.output, result.output
    assert result.output.count("deprecated") == 3 and "--set nosuch.key=1" in result.output
    result = CliRunner().invoke(app, ["analyze", str(tmp_path), "--out", str(tmp_path / "o"), "--no-force",
                                      "--set", "nosuch.key=1"])
    assert result.exit_code == 2 and result.output.count("deprecated") == 2, result.output


def test_analyze_refuses_an_audio_folder_as_out(tmp_path):
    (tmp_path / "music").mkdir()
    (tmp_path / "music" / "a.mp3").write_bytes(b"")
    result = CliRunner().invoke(app, ["analyze", str(tmp_path / "x.mp3"), str(tmp_path / "music")])
    assert result.exit_code == 2 and "holds audio files" in result.output


def test_local_only_locations_refuse_uris_in_one_line(tmp_path):
    result = CliRunner().invoke(app, ["report", str(tmp_path), "s3://bucket/report"])
    assert result.exit_code == 2 and "must be a local path" in result.output


def test_words_after_a_double_dash_stay_arguments(tmp_path):
    result = CliRunner().invoke(app, ["analyze", "--set", "nosuch.key=1", "--", "-odd.mp3", str(tmp_path / "o")])
    assert result.exit_code == 2 and "nosuch" in result.output and "deprecated" not in result.output
