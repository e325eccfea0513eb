"""The library's error types: each says in one sentence what was wrong and, where it can, what to do."""


class OstinatoError(Exception):
    """Base of every error ostinato raises on purpose."""


class UsageError(OstinatoError):
    """The command was called wrongly (arguments, options, configuration): the CLI exits with 2, not 1."""


class ConfigError(UsageError):
    """A configuration file or override is invalid (unknown key, wrong type, bad value)."""


class AnalysisError(OstinatoError):
    """An input cannot be analysed (unreadable, empty, too short, ...); recorded as an error row."""


class WeightsMissingError(OstinatoError):
    """Pretrained weights are not available locally and cannot be downloaded."""
