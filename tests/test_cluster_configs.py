"""The cluster definitions in cluster/: launcher YAMLs against Ray's own config schema, KubeRay manifests
structurally (no CRD schema is available offline), and their commands against the real CLI."""

from __future__ import annotations

import copy
import json
import shlex
import typing
from pathlib import Path

import jsonschema
import pytest
import ray
import typer.main
import yaml

from ostinato.cli import app

CLUSTER = Path(__file__).resolve().parents[1] / "cluster"
LAUNCHER_YAMLS = ("aws.yaml", "gcp.yaml")
KUBERAY = ("kuberay/raycluster.yaml", "kuberay/rayjob-analyze.yaml", "kuberay/rayjob-train.yaml")
#: Commands an entrypoint may name that another part of the project is still adding to the CLI.
PENDING_COMMANDS = {"train"}


def _load(name: str) -> dict:
    return yaml.safe_load((CLUSTER / name).read_text())


@pytest.fixture(scope="module")
def ray_schema() -> dict:
    return json.loads((Path(ray.__file__).parent / "autoscaler" / "ray-schema.json").read_text())


@pytest.mark.parametrize("name", LAUNCHER_YAMLS)
def test_launcher_yaml_passes_rays_schema_and_checks(name, ray_schema):
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = _load(name)
    jsonschema.validate(config, ray_schema)
    validate_config(prepare_config(copy.deepcopy(config)))  # Ray's own checks beyond the schema, as `ray up` runs
    types = config["available_node_types"]
    assert types[config["head_node_type"]]["resources"] == {"CPU": 0}
    gpu = [t for t in types.values() if t["resources"].get("GPU")]
    cpu = [t for n, t in types.items() if n != config["head_node_type"] and not t["resources"].get("GPU")]
    assert gpu and cpu, "CPU workers for decode/MIR and GPU workers for Demucs/training"
    for node in gpu + cpu:
        assert 0 <= node["min_workers"] <= node["max_workers"] <= config["max_workers"]
    setup = " ".join(config["setup_commands"])
    assert "scripts/setup.sh" in setup and config["file_mounts"]["/home/ubuntu/ostinato"] == "."
    for start in (config["head_start_ray_commands"][-1], config["worker_start_ray_commands"][-1]):
        assert "ostinato-venv/bin:$PATH" in start  # job entrypoints run `ostinato` from Ray's PATH


def test_schema_check_catches_a_misspelt_key(ray_schema):
    config = _load("aws.yaml")
    config["available_node_types"]["cpu"]["max_worker"] = 3
    with pytest.raises(jsonschema.ValidationError, match="max_worker"):
        jsonschema.validate(config, ray_schema)


def _cluster_specs(manifest: dict) -> dict:
    return manifest["spec"] if manifest["kind"] == "RayCluster" else manifest["spec"]["rayClusterSpec"]


@pytest.mark.parametrize("name", KUBERAY)
def test_kuberay_manifest_structure(name):
    manifest = _load(name)
    assert manifest["apiVersion"] == "ray.io/v1"
    assert manifest["kind"] in ("RayCluster", "RayJob")
    assert manifest["metadata"]["name"]
    spec = _cluster_specs(manifest)
    assert spec["rayVersion"]
    head = spec["headGroupSpec"]
    assert isinstance(head["rayStartParams"], dict)
    assert head["template"]["spec"]["containers"][0]["image"]
    groups = spec["workerGroupSpecs"]
    assert len({g["groupName"] for g in groups}) == len(groups)
    for group in groups:
        assert 0 <= group["minReplicas"] <= group["replicas"] <= group["maxReplicas"], group["groupName"]
        assert isinstance(group["rayStartParams"], dict)
        container = group["template"]["spec"]["containers"][0]
        assert container["image"] and container["resources"]["limits"]["cpu"]
    assert any("nvidia.com/gpu" in g["template"]["spec"]["containers"][0]["resources"]["limits"] for g in groups)


def _takes_local_path(param) -> bool:
    """Whether a CLI option is declared as a ``Path`` (typer's own parameter type, or click's in older typer)."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        return descriptor.annotation is Path or Path in typing.get_args(descriptor.annotation)
    return type(getattr(param, "type", None)).__name__ == "Path"


@pytest.mark.parametrize("name", ["kuberay/rayjob-analyze.yaml", "kuberay/rayjob-train.yaml"])
def test_rayjob_entrypoint_is_an_ostinato_command_with_real_options(name):
    manifest = _load(name)
    assert manifest["spec"]["shutdownAfterJobFinishes"] is True
    words = shlex.split(manifest["spec"]["entrypoint"])
    assert words[0] == "ostinato"
    commands = typer.main.get_command(app).commands
    if words[1] not in commands:
        assert words[1] in PENDING_COMMANDS, f"{name} names unknown command {words[1]!r}"
        return
    params = {opt: param for param in commands[words[1]].params for opt in param.opts}
    used = {w.split("=")[0] for w in words[2:] if w.startswith("--")}
    assert used <= set(params), used - set(params)
    for option, value in zip(words[2:], words[3:], strict=False):
        # A local-path option would mangle a URI ("s3://b/x" becomes "s3:/b/x"): URIs only where a str is taken.
        if option in params and _takes_local_path(params[option]):
            assert "://" not in value, f"{option} takes a local path, not {value}"
    if words[1] == "analyze":  # its section.key=value overrides must be valid config keys
        from ostinato.cli import split_overrides
        from ostinato.config import load_config

        _, overrides = split_overrides(words[2:])
        assert overrides and load_config(None, overrides).resources.crash_retries == 2
