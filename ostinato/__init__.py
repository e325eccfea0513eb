"""ostinato: music corpora to theory-annotated Parquet shards, and a theory-conditioned diffusion model."""

__version__ = "0.2.0"

#: Bumped whenever any analysis algorithm changes its outputs; recorded in every row.
ANALYSIS_VERSION = "2026.12.7"


def __getattr__(name: str):
    # Lazy, so `import ostinato` (and the CLI) stays fast: DuckDB loads only when features are opened.
    if name == "open_features":
        from ostinato.features import open_features

        return open_features
    raise AttributeError(f"module 'ostinato' has no attribute {name!r}")
