from pathlib import Path

import pytest
import yaml
from pydantic import BaseModel

from ostinato.cli_params import split_overrides
from ostinato.config import AnalyzeConfig, load_config, parse_override
from ostinato.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def test_overrides_are_typed_by_yaml():
    cfg = load_config(None, ["separation.enabled=false", "decode.max_duration_s=30", "separation.model=htdemucs_ft"])
    assert cfg.separation.enabled is False
    assert cfg.decode.max_duration_s == 30.0
    assert cfg.separation.model == "htdemucs_ft"


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("separation.modle=x", "separation.modle: unknown key"),
        ("nonsense.key=1", "nonsense: unknown key"),
        ("decode.sample_rate=fast", "decode.sample_rate"),
        ("decode.sample_rate=-5", "decode.sample_rate"),
        ("output.compression=lz77", "output.compression"),
    ],
)
def test_bad_overrides_name_the_key(override, fragment):
    with pytest.raises(ConfigError, match=fragment.replace(".", r"\.")):
        load_config(None, [override])


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="section.key=value"):
        parse_override("separation")
    with pytest.raises(ConfigError, match="not a section"):
        load_config(None, ["decode.sample_rate=1", "decode.sample_rate.x=1"])


def test_unknown_key_in_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("decode:\n  sample_rte: 16000\n")
    with pytest.raises(ConfigError, match=r"decode\.sample_rte: unknown key"):
        load_config(bad)


def test_shipped_analyze_yaml_spells_out_the_defaults():
    assert load_config(CONFIGS / "analyze.yaml") == AnalyzeConfig()


def _loader_for(name: str):
    """The typed loader of each shipped config: dataset and training configs have their own models."""
    if name.startswith("dataset"):  # dataset.yaml, dataset-tiny.yaml, dataset-gpu.yaml
        from ostinato.datasets.config import load_dataset_config

        return load_dataset_config
    return load_config


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_shipped_config_validates(name):
    assert isinstance(_loader_for(name)(CONFIGS / name), BaseModel)
    assert yaml.safe_load((CONFIGS / name).read_text())


def test_results_hash_ignores_resources_but_not_analysis_settings():
    base = load_config().results_hash()
    assert load_config(None, ["resources.max_in_flight=3", "output.rows_per_shard=2"]).results_hash() == base
    assert load_config(None, ["features.hop_length=256"]).results_hash() != base


def test_old_positional_overrides_are_told_from_inputs(tmp_path):
    existing = tmp_path / "a.b=c"
    existing.mkdir()
    inputs, overrides = split_overrides(["music/", "separation.enabled=false", str(existing)])
    assert inputs == ["music/", str(existing)]
    assert overrides == ["separation.enabled=false"]
