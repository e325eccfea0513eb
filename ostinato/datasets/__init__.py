"""Training shards: segments, mel spectrograms/latents, time-aligned condition tracks, loaders."""
