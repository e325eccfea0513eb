"""SQL over analysis outputs: DuckDB views over the tracks shards, and the result formats of `ostinato query`.

    >>> con = open_features("features/")                                   # doctest: +SKIP
    >>> con.sql("SELECT key, mode, count(*) FROM tracks GROUP BY ALL").df()  # doctest: +SKIP
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ostinato.features.catalog import duckdb_errors, open_features, run_sql
from ostinato.features.errors import FeaturesNotFoundError, QueryError
from ostinato.features.views import VIEW_NAMES

if TYPE_CHECKING:
    import duckdb
    import pandas as pd
    import pyarrow as pa

__all__ = ["VIEW_NAMES", "FeaturesNotFoundError", "QueryError", "duckdb_errors", "open_features", "query_arrow",
           "query_pandas", "run_sql"]


def _connection(features: str | os.PathLike[str] | duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    return open_features(features) if isinstance(features, str | os.PathLike) else features


def query_arrow(features: str | os.PathLike[str] | duckdb.DuckDBPyConnection, sql: str) -> pa.Table:
    """The result of ``sql`` as a pyarrow Table; ``features`` is a location or a connection from open_features."""
    import pyarrow as pa

    relation = run_sql(_connection(features), sql)
    with duckdb_errors():
        return relation.to_arrow_table() if relation is not None else pa.table({})


def query_pandas(features: str | os.PathLike[str] | duckdb.DuckDBPyConnection, sql: str) -> pd.DataFrame:
    """The result of ``sql`` as a pandas DataFrame; ``features`` is a location or a connection from open_features."""
    import pandas as pd

    relation = run_sql(_connection(features), sql)
    with duckdb_errors():
        return relation.df() if relation is not None else pd.DataFrame()
