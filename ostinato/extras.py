"""Optional dependencies: a command that needs an extra checks for it first and stops with one sentence.

``pip install ostinato`` gives analysis, queries and reports; training, evaluation, the genre fit and the demo
corpus need extras (``pyproject.toml``'s ``[project.optional-dependencies]``)::

    require("train", "diffusers", "tensorboard", command="train")
    # ostinato.extras.MissingExtraError: `ostinato train` needs the train extra (diffusers is not installed):
    # pip install 'ostinato[train]'
"""

from __future__ import annotations

import importlib

from ostinato.errors import OstinatoError

#: Each extra and the import names its commands check for.
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("diffusers", "tensorboard", "ray.train"),
    "eval": ("diffusers", "tensorboard", "ray.train", "mir_eval"),
    "genre": ("sklearn",),
    "demo": ("lameenc",),
    "bench": ("mir_eval", "sklearn", "psutil"),
    "s3": ("s3fs",),
    "gcs": ("gcsfs",),
}


class MissingExtraError(OstinatoError):
    """A command needs an optional dependency group (an extra) that is not installed."""


def require(extra: str, *modules: str, command: str | None = None) -> None:
    """Import ``modules`` (default: every module of ``extra``) or raise :class:`MissingExtraError` naming the extra.

    Parameters
    ----------
    extra : name of the extra in ``pyproject.toml`` (``train``, ``eval``, ``genre``, ``demo``, ...)
    modules : import names to check (``"diffusers"``, ``"sklearn"``); a broken install counts as missing
    command : the ``ostinato`` command that needs them, for the message; default "this feature"
    """
    if extra not in EXTRAS:
        raise ValueError(f"unknown extra {extra!r}; known: {', '.join(EXTRAS)}")
    what = f"`ostinato {command}`" if command else "this feature"
    for module in modules or EXTRAS[extra]:
        try:
            importlib.import_module(module)
        except ImportError as exc:
            missing = getattr(exc, "name", None) or module
            raise MissingExtraError(
                f"{what} needs the {extra} extra ({missing} is not installed): pip install 'ostinato[{extra}]'"
            ) from exc


__all__ = ["EXTRAS", "MissingExtraError", "require"]
