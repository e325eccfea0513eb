"""Typed configuration of `ostinato build-dataset` (see configs/dataset.yaml for the annotated defaults)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator

from ostinato.config import ResourcesConfig, StrictModel, load_yaml_model

#: Segments must halve cleanly this many times (a VAE and a U-Net each downsample by 2 per block).
FRAME_MULTIPLE = 16


class MelConfig(StrictModel):
    """Log-mel spectrogram: ``log(mel power + 1e-5)`` of mono audio resampled to ``sample_rate``."""

    sample_rate: int = Field(22050, gt=0, description="Hz; audio is resampled to this rate")
    n_fft: int = Field(1024, gt=0)
    hop_length: int = Field(256, gt=0, description="samples between mel frames")
    n_mels: int = Field(80, gt=0)
    fmin: float = Field(0.0, ge=0, description="Hz")
    fmax: float | None = Field(None, gt=0, description="Hz; default sample_rate / 2")

    @model_validator(mode="after")
    def _band(self) -> MelConfig:
        if self.fmax is not None and not self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(f"need fmin < fmax <= sample_rate / 2, got fmin={self.fmin}, fmax={self.fmax}")
        if self.n_fft < self.hop_length:
            raise ValueError(f"n_fft ({self.n_fft}) must be at least hop_length ({self.hop_length})")
        return self

    @property
    def frame_rate(self) -> float:
        """Mel frames per second."""
        return self.sample_rate / self.hop_length

    @property
    def top_hz(self) -> float:
        return self.fmax if self.fmax is not None else self.sample_rate / 2


class SegmentConfig(StrictModel):
    """Fixed-length segments: give ``seconds`` (rounded to the nearest multiple of 16 frames) or ``n_frames``."""

    seconds: float | None = Field(None, gt=0)
    n_frames: int | None = Field(None, gt=0, description=f"a multiple of {FRAME_MULTIPLE}")
    hop_s: float | None = Field(None, gt=0, description="start-to-start spacing; default the segment length")

    @model_validator(mode="after")
    def _one_length(self) -> SegmentConfig:
        if (self.seconds is None) == (self.n_frames is None):
            raise ValueError("give exactly one of segment.seconds and segment.n_frames (set the other to null)")
        if self.n_frames is not None and self.n_frames % FRAME_MULTIPLE:
            raise ValueError(f"segment.n_frames must be a multiple of {FRAME_MULTIPLE}, got {self.n_frames}")
        return self

    def frames(self, mel: MelConfig) -> int:
        """Segment length in mel frames (a positive multiple of 16)."""
        if self.n_frames is not None:
            return self.n_frames
        return max(FRAME_MULTIPLE, FRAME_MULTIPLE * round(self.seconds * mel.frame_rate / FRAME_MULTIPLE))

    def hop_frames(self, mel: MelConfig) -> int:
        """Frames between segment starts."""
        if self.hop_s is None:
            return self.frames(mel)
        return max(1, round(self.hop_s * mel.frame_rate))


class SplitConfig(StrictModel):
    """Train/validation split by a hash of the track id."""

    val_share: float = Field(0.05, ge=0, le=1)
    seed: int = 0


class DatasetOutputConfig(StrictModel):
    """Parquet shards of segments; each track's segments go into one shard, written when the buffer is full."""

    rows_per_shard: int = Field(256, ge=1)
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"


class DatasetConfig(StrictModel):
    """Everything `ostinato build-dataset` can be told."""

    mel: MelConfig = MelConfig()
    segment: SegmentConfig = SegmentConfig(n_frames=512)
    split: SplitConfig = SplitConfig()
    resources: ResourcesConfig = ResourcesConfig()
    output: DatasetOutputConfig = DatasetOutputConfig()

    def results_hash(self) -> str:
        """Hash of the settings that change the shards' content (not resources or shard size), 16 hex chars."""
        relevant = {
            "mel": self.mel.model_dump(mode="json"),
            "n_frames": self.segment.frames(self.mel),
            "hop_frames": self.segment.hop_frames(self.mel),
            "split": self.split.model_dump(mode="json"),
        }
        return hashlib.sha256(json.dumps(relevant, sort_keys=True).encode()).hexdigest()[:16]


def load_dataset_config(path: Path | str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> DatasetConfig:
    """Read configs/dataset.yaml-style YAML (or defaults) with dotted overrides; ConfigError when invalid."""
    return load_yaml_model(DatasetConfig, path, overrides)
