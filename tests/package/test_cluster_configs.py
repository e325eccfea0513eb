"""The cluster definitions in cluster/: launcher YAMLs against Ray's own config schema, KubeRay manifests
structurally (no CRD schema is available offline), their commands against the real CLI, and their images and
setup commands against pyproject.toml and constraints.txt (Python, Ray, extras)."""

from __future__ import annotations

import copy
import json
import re
import shlex
import tomllib
from pathlib import Path

import jsonschema
import pytest
import ray
import typer.main
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from ostinato.cli import app

ROOT = Path(__file__).resolve().parents[2]
CLUSTER = ROOT / "cluster"
LAUNCHER_YAMLS = ("aws.yaml", "gcp.yaml")
KUBERAY = ("kuberay/raycluster.yaml", "kuberay/rayjob-analyze.yaml", "kuberay/rayjob-train.yaml")
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
#: Ray's images: rayproject/ray:<ray version>-py<python>[-cpu|-gpu|-cu...].
RAY_IMAGE = re.compile(r"rayproject/ray:(?P<ray>\d+\.\d+\.\d+)-py(?P<py>3)(?P<minor>\d+)\b")


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
    assert "scripts/setup.sh" in setup and config["file_mounts"]["/home/ray/ostinato"] == "."
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


@pytest.mark.parametrize("name", ["kuberay/rayjob-analyze.yaml", "kuberay/rayjob-train.yaml"])
def test_rayjob_entrypoint_parses_as_an_ostinato_command_in_the_current_spelling(name, capsys):
    manifest = _load(name)
    assert manifest["spec"]["shutdownAfterJobFinishes"] is True
    words = shlex.split(manifest["spec"]["entrypoint"])
    assert words[0] == "ostinato"
    commands = typer.main.get_command(app).commands
    assert words[1] in commands, f"{name} names unknown command {words[1]!r}"
    params = commands[words[1]].make_context(words[1], words[2:]).params  # parsed as the CLI would, not run
    assert "deprecated" not in capsys.readouterr().err
    if words[1] == "analyze":
        from ostinato.config import load_config

        assert list(params["inputs"]) == ["s3://BUCKET/music"] and params["out"] == "s3://BUCKET/features"
        assert load_config(None, params["overrides"]).resources.crash_retries == 2
    else:
        from ostinato.cli_params import resolve_config
        from ostinato.diffusion.config import load_train_config

        assert params["data"].startswith("s3://")
        assert load_train_config(resolve_config(params["config"])).run.use_gpu


def _images() -> dict[str, str]:
    """Where -> the Ray image it runs: the launcher YAMLs' docker images and the Dockerfile's base."""
    images = {}
    for name in LAUNCHER_YAMLS:
        docker = _load(name)["docker"]
        for key in ("image", "head_image", "worker_image"):
            if key in docker:
                images[f"{name} docker.{key}"] = docker[key]
    dockerfile = (CLUSTER / "Dockerfile").read_text()
    images["Dockerfile"] = re.search(r"^ARG RAY_IMAGE=(\S+)", dockerfile, re.M).group(1)
    assert "FROM ${RAY_IMAGE}" in dockerfile
    return images


def _pins() -> dict[str, str]:
    lines = (ROOT / "constraints.txt").read_text().splitlines()
    return dict(line.split("==") for line in lines if line and not line.startswith("#"))


def test_images_run_the_python_and_ray_pyproject_asks_for():
    python = SpecifierSet(PYPROJECT["requires-python"])
    ray_wanted = next(Requirement(r) for r in PYPROJECT["dependencies"] if Requirement(r).name == "ray").specifier
    versions = set()
    for where, image in _images().items():
        match = RAY_IMAGE.match(image)
        assert match, f"{where}: {image} is not a rayproject/ray:<version>-py3XX image"
        assert Version(f"{match['py']}.{match['minor']}") in python, f"{where}: {image} vs {python}"
        assert Version(match["ray"]) in ray_wanted, f"{where}: Ray {match['ray']} vs pyproject's ray{ray_wanted}"
        versions.add(match["ray"])
    # one Ray everywhere: the images', the one setup.sh installs (constraints.txt) and KubeRay's rayVersion
    versions |= {_pins()["ray"]} | {_cluster_specs(_load(name))["rayVersion"] for name in KUBERAY}
    assert len(versions) == 1, versions


def _installs() -> dict[str, str]:
    """Where -> the shell text that installs ostinato there."""
    found = {f"{name} setup_commands": " ".join(_load(name)["setup_commands"]) for name in LAUNCHER_YAMLS}
    found["Dockerfile"] = (CLUSTER / "Dockerfile").read_text()
    return found


@pytest.mark.parametrize("where", ["aws.yaml setup_commands", "gcp.yaml setup_commands", "Dockerfile"])
def test_setup_commands_install_through_setup_sh_with_extras_pyproject_declares(where):
    text = _installs()[where]
    assert "scripts/setup.sh" in text, "setup.sh installs with constraints.txt and picks torch's build"
    assert "pip install" not in text, "every package through scripts/setup.sh, at constraints.txt's versions"
    extras = re.search(r"OSTINATO_EXTRAS=([\w,-]+)", text).group(1).split(",")
    assert set(extras) <= set(PYPROJECT["optional-dependencies"]), extras
    assert "train" in extras or "eval" in extras, "GPU nodes run ostinato train"
    storage = {"aws.yaml setup_commands": "s3", "gcp.yaml setup_commands": "gcs"}.get(where)
    assert storage is None or storage in extras, f"{where} reads its cloud's bucket: the {storage} extra"


def test_dockerfile_torch_is_setup_shs():
    torch = re.search(r'OSTINATO_TORCH_SPEC="torch==([\w.+]+)"', (CLUSTER / "Dockerfile").read_text()).group(1)
    assert f"TORCH_VERSION={torch}" in (ROOT / "scripts" / "setup.sh").read_text()
