"""The records that travel between the per-track stages: what identify+decode hands on (``Prepared``) and what
separation hands to describe (``SeparationOutcome``). Plain data, so that stages, rows and the score path share
them without importing each other."""

from __future__ import annotations

import socket
import sys
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ostinato.analysis.decode import AudioInfo
    from ostinato.analysis.loudness import Loudness
    from ostinato.analysis.stems import StemAnalysis


def node_name() -> str:
    """Where this process runs: the hostname, plus the short Ray node id inside a Ray cluster, since several
    Ray nodes can share a machine (and a hostname), e.g. ``"box-1/3f9c1a2b"``."""
    host = socket.gethostname()
    ray = sys.modules.get("ray")  # a process that never imported Ray is not part of a cluster
    if ray is not None and ray.is_initialized():
        return f"{host}/{ray.get_runtime_context().get_node_id()[:8]}"
    return host


@dataclass
class SeparationOutcome:
    """What the separation stage hands to describe: compact stem features, never the stems themselves."""

    model: str
    analysis: StemAnalysis | None
    seconds: float
    error: tuple[str, str] | None = None


@dataclass
class Prepared:
    """The small result of identify+decode that the driver sees (waveforms travel separately)."""

    uri: str
    track_id: str | None = None
    size: int | None = None
    info: AudioInfo | None = None
    duration_s: float | None = None
    loudness: Loudness | None = None  # metered on the file's channels while decoding
    warnings: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    error: tuple[str, str] | None = None
    node: str = field(default_factory=node_name)
    source_kind: str = "audio"  # "symbolic" for scores, which skip decoding and separation
    duplicate: bool = False  # another input with the same bytes is (or was) analysed: not decoded

    @property
    def ok(self) -> bool:
        return self.error is None
