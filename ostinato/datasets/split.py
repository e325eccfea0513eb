"""Train/validation assignment by track: a hash of the track id, so a track's segments never straddle splits."""

from __future__ import annotations

import hashlib


def split_of(track_id: str, *, val_share: float, seed: int = 0) -> str:
    """``"val"`` for a ``val_share`` fraction of tracks, ``"train"`` for the rest.

    The choice depends only on ``(seed, track_id)``: stable across runs, machines and corpus growth (adding
    tracks never moves an existing one to the other split).
    """
    digest = hashlib.blake2b(f"{seed}:{track_id}".encode(), digest_size=8).digest()
    u = int.from_bytes(digest, "big") / 2**64  # uniform in [0, 1)
    return "val" if u < val_share else "train"
