"""Ray orchestration only: listing inputs, wiring stages, writing shards, resuming."""
