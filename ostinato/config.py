"""Typed configuration for `ostinato analyze`: YAML files validated into pydantic models, plus dotted overrides.

Unknown keys anywhere are errors, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ostinato.errors import ConfigError

ModelT = TypeVar("ModelT", bound=BaseModel)


class StrictModel(BaseModel):
    """Base of every typed config: unknown keys are errors and values are frozen."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class DecodeConfig(StrictModel):
    """How audio is decoded and resampled before analysis."""

    sample_rate: int = Field(22050, gt=0, description="analysis sample rate in Hz")
    min_duration_s: float = Field(1.0, ge=0, description="shorter inputs become error rows")
    max_duration_s: float | None = Field(None, gt=0, description="inputs are truncated to this length")
    max_file_mb: float = Field(2048.0, gt=0, description="larger files become error rows (guards memory)")


class SeparationConfig(StrictModel):
    """Demucs source separation (GPU actors when GPUs exist, CPU otherwise)."""

    enabled: bool = True
    model: str = Field("htdemucs", description="Demucs model name, or hf://namespace/name")
    repo: Path | None = Field(None, description="local model folder for offline machines")
    device: str = "auto"
    shifts: int = Field(0, ge=0)
    overlap: float = Field(0.25, ge=0, lt=1)
    chunk_s: float = Field(60.0, gt=1, description="tracks are separated in chunks of this length")
    actors: int | None = Field(None, ge=1, description="separator actors; default one per GPU, or 1 on CPU")
    gpus_per_actor: float = Field(0.5, gt=0, le=1, description="two actors share a GPU so it never waits on CPU")
    cpu_threads: int | None = Field(
        None, ge=1, description="torch threads of a CPU separator; default every core of its node"
    )


class FeaturesConfig(StrictModel):
    """Frame analysis (one STFT pass) shared by rhythm, tonal, structure and timbre."""

    hop_length: int = Field(512, gt=0)
    n_fft: int = Field(2048, gt=0)
    n_mfcc: int = Field(20, gt=0)
    block_s: float = Field(30.0, gt=1, description="STFT block length; bounds memory on long files")
    min_section_s: float = Field(6.0, gt=0)
    beat_tracker: Literal["rnn", "dsp"] = Field(
        "rnn", description="rnn: madmom's pretrained beat network (CC BY-NC-SA weights); dsp: onset autocorrelation"
    )
    key_estimator: Literal["essentia", "cnn", "profile"] = Field(
        "essentia", description="essentia: KeyExtractor; cnn: madmom key CNN (CC BY-NC-SA); profile: chroma"
    )
    chord_chroma: Literal["deep", "dsp"] = Field(
        "deep", description="deep: madmom's deep chroma network (CC BY-NC-SA weights); dsp: spectral chroma"
    )
    music_tagger: Literal["musicnn", "none"] = Field(
        "musicnn", description="musicnn: the MSD and MTT taggers (ISC) give the genre; none: genre rules only"
    )
    tag_patches: int = Field(2, ge=1, description="3 s patches tagged per tagger, spread over the track")


class TheoryConfig(StrictModel):
    """Music-theory interpretation of the MIR features (harmony, rhythm, genre)."""

    genre_model: Path | None = Field(
        None, description="folder written by `ostinato fit-genre`; genre then comes from it, not the rules"
    )

    @field_validator("genre_model")
    @classmethod
    def _model_folder_exists(cls, folder: Path | None) -> Path | None:
        # Checked here, in the driver, so that a wrong path fails the command before any track is analysed.
        if folder is None:
            return None
        if not (folder / "card.json").is_file():
            raise ValueError(f"{folder} is not a genre model folder (no card.json); see `ostinato fit-genre`")
        return folder.resolve()  # workers may run elsewhere than the driver's working directory


class ResourcesConfig(StrictModel):
    """Ray resources and fault handling."""

    cpus_per_task: float = Field(1.0, gt=0)
    max_in_flight: int | None = Field(None, ge=1, description="tracks in flight; default 2 x cluster CPUs")
    crash_retries: int = Field(2, ge=0, description="retries of a task whose worker process died")


class OutputConfig(StrictModel):
    """Parquet shard sink."""

    rows_per_shard: int = Field(512, ge=1)
    flush_s: float = Field(120.0, gt=0, description="buffered rows are written at least this often")
    compression: Literal["zstd", "snappy", "gzip", "none"] = "zstd"


class AnalyzeConfig(StrictModel):
    """Everything `ostinato analyze` can be told; see configs/analyze.yaml for the annotated defaults."""

    decode: DecodeConfig = DecodeConfig()
    separation: SeparationConfig = SeparationConfig()
    features: FeaturesConfig = FeaturesConfig()
    theory: TheoryConfig = TheoryConfig()
    resources: ResourcesConfig = ResourcesConfig()
    output: OutputConfig = OutputConfig()

    def results_hash(self) -> str:
        """Hash of the settings that change analysis results (not resources or output layout), 16 hex chars."""
        relevant = self.model_dump(mode="json", include={"decode", "separation", "features"})
        for key in ("actors", "gpus_per_actor", "cpu_threads", "device", "repo"):
            relevant["separation"].pop(key)
        if self.theory.genre_model is not None:  # absent by default so that rule-based outputs keep their hash
            relevant["theory"] = {"genre_model": str(self.theory.genre_model)}
        blob = json.dumps(relevant, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()[:16]


def parse_override(text: str) -> tuple[list[str], Any]:
    """Split ``"a.b.c=value"`` into ``(["a", "b", "c"], value)``; the value is parsed as YAML (so ``false``,
    ``3`` and ``null`` get their types)."""
    if "=" not in text:
        raise ConfigError(f"override {text!r} must look like section.key=value")
    dotted, raw = text.split("=", 1)
    keys = [k for k in dotted.strip().split(".") if k]
    if not keys:
        raise ConfigError(f"override {text!r} has no key before '='")
    return keys, yaml.safe_load(raw) if raw.strip() else None


def _apply(tree: dict[str, Any], keys: list[str], value: Any) -> None:
    node = tree
    for key in keys[:-1]:
        child = node.setdefault(key, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {'.'.join(keys)}: {key} is not a section")
        node = child
    node[keys[-1]] = value


def load_config(path: Path | str | None = None, overrides: list[str] | tuple[str, ...] = ()) -> AnalyzeConfig:
    """Read a YAML file (or nothing: defaults), apply dotted overrides, and validate.

    Raises ConfigError naming the offending key for unknown keys, wrong types or out-of-range values.
    """
    return load_yaml_model(AnalyzeConfig, path, overrides)


def load_yaml_model(
    model_cls: type[ModelT], path: Path | str | None = None, overrides: list[str] | tuple[str, ...] = ()
) -> ModelT:
    """Read a YAML file (or nothing: defaults) into ``model_cls`` after applying dotted overrides.

    Every command's configuration goes through here, so all report bad keys and values alike: ConfigError
    naming the offending key for unknown keys, wrong types or out-of-range values.
    """
    tree: dict[str, Any] = {}
    if path is not None:
        try:
            tree = yaml.safe_load(Path(path).read_text()) or {}
        except FileNotFoundError:
            raise ConfigError(f"config file {path} does not exist") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"config file {path} is not valid YAML: {exc}") from None
        if not isinstance(tree, dict):
            raise ConfigError(f"config file {path} must hold a mapping of sections")
    for text in overrides:
        _apply(tree, *parse_override(text))
    try:
        return model_cls.model_validate(tree)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {_describe(err)}" for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None


def _describe(err: dict[str, Any]) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    return str(err["msg"])
