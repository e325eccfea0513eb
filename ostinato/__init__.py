"""ostinato: music corpora to theory-annotated Parquet shards, and a theory-conditioned diffusion model."""

__version__ = "0.1.0"

#: Bumped whenever any analysis algorithm changes its outputs; recorded in every row.
ANALYSIS_VERSION = "2026.11.1"
