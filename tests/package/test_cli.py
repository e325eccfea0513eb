"""Command-line conventions shared by every command."""

from __future__ import annotations

from typer.testing import CliRunner

from ostinato import ANALYSIS_VERSION, __version__
from ostinato.cli import app


def test_version_prints_package_and_analysis_versions():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"ostinato {__version__} (analysis {ANALYSIS_VERSION})"
