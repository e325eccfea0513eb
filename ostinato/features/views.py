"""The SQL views `open_features` defines over the shards: ``tracks`` and one flat view per nested column.

Every nested view keeps ``track_id`` and ``path`` (to join back to ``tracks``) and ``idx``, the 1-based
position of the element in its track's list, so ordered questions (chord transitions, the chord before a
cadence) are ``LEAD``/``LAG`` over ``PARTITION BY track_id ORDER BY idx``.
"""

from __future__ import annotations

#: Nested ``tracks`` columns (``list<struct>``) that get a view of the same name, one row per element.
NESTED_VIEWS = ("beats", "chords", "sections", "roman", "stems", "progressions", "cadences", "local_keys")

#: Every view `open_features` defines, in the order `ostinato query --help` lists them.
VIEW_NAMES = ("tracks", *NESTED_VIEWS, "aliases")


def nested_view_sql(column: str) -> str:
    """``SELECT`` that unnests ``tracks.<column>`` into one row per element, its struct fields as columns."""
    return (
        f"SELECT track_id, path, generate_subscripts({column}, 1) AS idx, "
        f"unnest({column}, recursive := true) FROM tracks"
    )
