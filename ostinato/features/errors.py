"""What goes wrong when features are opened or queried, each said in one sentence."""

from __future__ import annotations

from ostinato.errors import OstinatoError


class FeaturesNotFoundError(OstinatoError):
    """The location holds no ``tracks`` shards."""


class QueryError(OstinatoError):
    """DuckDB rejected a query (bad SQL, unknown column, ...)."""
