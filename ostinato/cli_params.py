"""The conventions every `ostinato` command follows, in one place.

- Required locations are positional arguments; options are optional.
- Configuration is ``--config FILE|NAME`` plus any number of ``--set section.key=value``.
- A location that may be a URI stays a string end to end (a ``Path`` would turn ``s3://b/x`` into ``s3:/b/x``);
  a command that can only write locally says so in one line (:func:`local_location`).
- Usage lines and help show metavars (``INPUT... OUT``, ``--config FILE|NAME``), not Python types.
- Spellings of the previous release (``--out OUT``, ``--data``, ``--checkpoint``, ``--vae``, positional
  ``section.key=value`` overrides, ``--no-force``) still work for one release, each with a deprecation warning.
"""

from __future__ import annotations

import re
from pathlib import Path

import typer
from rich.console import Console
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from ostinato.errors import ConfigError, UsageError
from ostinato.storage import is_uri

OVERRIDE_PATTERN = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+=")
DEPRECATED_UNTIL = "0.3"  # the release that drops the old spellings
_err = Console(stderr=True)


def split_overrides(arguments: list[str]) -> tuple[list[str], list[str]]:
    """Separate ``section.key=value`` words from the other positional words (an existing path stays positional)."""
    positional, overrides = [], []
    for arg in arguments:
        is_override = OVERRIDE_PATTERN.match(arg) and not Path(arg).exists()
        (overrides if is_override else positional).append(arg)
    return positional, overrides


def resolve_config(value: str | None) -> Path | None:
    """``--config``: a YAML file, or the NAME of a shipped config (``train/tiny``; see `ostinato config list`)."""
    if value is None:
        return None
    path = Path(value).expanduser()
    if path.exists():
        return path
    shipped = shipped_configs()
    name = value.removesuffix(".yaml").removeprefix("configs/")
    if name in shipped:
        return Path(str(shipped[name]))
    raise ConfigError(f"config file {value} does not exist, and no shipped config has that name "
                      f"({', '.join(shipped)})")


def shipped_configs() -> dict:
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


def local_location(value: str, what: str) -> Path:
    """A location this command can only use on the local filesystem: a Path, or UsageError for a URI."""
    if is_uri(value):
        raise UsageError(f"{what} must be a local path (this command does not write to object stores), got {value}")
    return Path(value.removeprefix("file://")).expanduser()


def deprecated(old: str, new: str) -> None:
    """One warning line for a spelling of the previous release that still works."""
    _err.print(f"[yellow]warning:[/] {old} is deprecated and goes in {DEPRECATED_UNTIL}; write {new}",
               soft_wrap=True, highlight=False, markup=True)


class OstinatoCommand(TyperCommand):
    """A typer command with clean usage lines and help metavars, which also reads the previous release's spellings.

    Subclasses made by :func:`command_class` set ``old_location_options`` (an old option -> the index of the
    positional argument that replaced it, -1 for the last) and ``old_positional_overrides``.
    """

    old_location_options: dict[str, int] = {}
    old_positional_overrides: bool = False

    def collect_usage_pieces(self, ctx) -> list[str]:
        pieces = ["[OPTIONS]"]
        for param in self.get_params(ctx):
            if isinstance(param, TyperArgument):
                name = param.metavar or param.name.upper()
                name += "..." if param.nargs != 1 else ""
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def get_params(self, ctx):
        return _with_metavars(super().get_params(ctx))

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self._current_spelling(ctx, list(args)))

    def _current_spelling(self, ctx, args: list[str]) -> list[str]:
        """``args`` with old spellings rewritten to the current ones, one warning per old spelling."""
        takes_value = {opt for p in self.params if isinstance(p, TyperOption) and not p.is_flag for opt in p.opts}
        options, positional, moved, literal = [], [], {}, False
        words = iter(args)
        for word in words:
            name, has_value, value = word.partition("=")
            if word == "--":
                positional.extend(words)
                literal = True
            elif name in self.old_location_options:
                moved[self.old_location_options[name]] = value if has_value else next(words, "")
                deprecated(f"{name} LOCATION", f"the location as an argument: {self._usage(ctx)}")
            elif word == "--no-force":
                deprecated("--no-force", "nothing (it is the default)")
            elif word.startswith("-") and word != "-":
                options.append(word)
                if name in takes_value and not has_value:
                    options.append(next(words, ""))
            elif self.old_positional_overrides and split_overrides([word])[1]:
                options += ["--set", word]
                deprecated(f"a bare {word}", f"--set {word}")
            else:
                positional.append(word)
        for index in sorted(i for i in moved if i >= 0):
            positional.insert(index, moved[index])
        if -1 in moved:
            positional.append(moved[-1])
        return options + (["--"] if literal else []) + positional

    def _usage(self, ctx) -> str:
        return f"{ctx.command_path} {' '.join(self.collect_usage_pieces(ctx))}"


def command_class(old_location_options: dict[str, int] | None = None, *, old_positional_overrides: bool = False):
    """An :class:`OstinatoCommand` subclass for ``@app.command(cls=...)`` that reads these old spellings."""
    return type("OstinatoCommand", (OstinatoCommand,), {
        "old_location_options": dict(old_location_options or {}),
        "old_positional_overrides": old_positional_overrides,
    })


class OstinatoGroup(TyperGroup):
    """The top-level command: flags without a type column, like every command's."""

    def get_params(self, ctx):
        return _with_metavars(super().get_params(ctx))


def _with_metavars(params: list) -> list:
    """Give help a metavar instead of typer's Python type (``<bool>``, ``<list[str]>``) wherever none is set."""
    for param in params:
        if isinstance(param, TyperArgument):
            param.display_type_rich = _no_type  # the argument's metavar already names it
        elif isinstance(param, TyperOption) and param.metavar is None:
            param.metavar = "" if param.is_flag else _type_metavar(param)
    return params


def _no_type(ctx) -> None:
    return None


def _type_metavar(param) -> str:
    descriptor = getattr(param, "type_descriptor", None)
    choices = getattr(descriptor, "choices", None) or getattr(getattr(param, "type", None), "choices", None)
    if choices:
        return "[" + "|".join(str(getattr(c, "value", c)) for c in choices) + "]"
    annotation = getattr(descriptor, "annotation", None)
    return {int: "INTEGER", float: "NUMBER"}.get(annotation, "TEXT")


CONFIG_OPTION = typer.Option("--config", "-c", metavar="FILE|NAME",
                             help="YAML config file, or a shipped config's NAME (`ostinato config list`).")
SET_OPTION = typer.Option("--set", "-s", metavar="SECTION.KEY=VALUE",
                          help="Override one config key; repeat for more (e.g. --set separation.enabled=false).")
ADDRESS_OPTION = typer.Option("--address", metavar="ADDRESS",
                              help="Ray cluster to join: 'auto' or ray://host:10001. Default: RAY_ADDRESS, else a "
                              "local Ray.")
