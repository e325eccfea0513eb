"""pyproject.toml against the code: core dependencies are what analyze/query/report/build-dataset import, extras'
packages are imported only where a command asks for them, constraints.txt satisfies the declared ranges, and the
configs ship inside the package. No network: imports are read with ``ast``, names mapped to distributions with
importlib.metadata."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from typer.testing import CliRunner

from ostinato.cli import app
from ostinato.extras import EXTRAS, MissingExtraError, require

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "ostinato"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
#: Modules that only an extra's commands reach (train, eval, demo) or that ship for tests (testing/).
NOT_CORE = ("diffusion/", "pipelines/train.py", "testing/", "demo/", "demo.py")
#: Import names whose distribution is not the one pip installs under that name (mapped by metadata below).
DISTRIBUTIONS = metadata.packages_distributions()


def _requirements(specs: list[str]) -> dict[str, Requirement]:
    return {canonicalize_name(r.name): r for r in map(Requirement, specs)}


CORE = _requirements(PYPROJECT["project"]["dependencies"])
OPTIONAL = {extra: _requirements(specs) for extra, specs in PYPROJECT["project"]["optional-dependencies"].items()}


def _extra_packages(extra: str) -> set[str]:
    """Distributions an extra installs, following ``ostinato[other]`` references."""
    names = set()
    for name, req in OPTIONAL[extra].items():
        names |= set().union(*(_extra_packages(e) for e in req.extras)) if name == "ostinato" else {name}
    return names


def _modules(core: bool) -> list[Path]:
    files = sorted(PACKAGE.rglob("*.py"))
    return [f for f in files if f.relative_to(PACKAGE).as_posix().startswith(NOT_CORE) != core]


def _imports(path: Path) -> list[tuple[str, bool]]:
    """(top-level package, at module level?) of each absolute third-party import in ``path``, including
    ``importlib.import_module("name")`` calls (counted as not at module level)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    top_level = {id(node) for node in tree.body}
    for node in tree.body:  # module-level try/if blocks still run at import time
        if isinstance(node, ast.Try | ast.If):
            top_level |= {id(n) for n in ast.walk(node) if not isinstance(n, ast.FunctionDef)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "import_module" and node.args
              and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)):
            names = [node.args[0].value]
        else:
            continue
        for name in names:
            package = name.split(".")[0]
            if package not in sys.stdlib_module_names and package not in ("ostinato", "__future__"):
                found.append((package, id(node) in top_level))
    return found


def _distribution(package: str) -> str:
    """The distribution that installs import name ``package`` (its own name when none here does, e.g. gcsfs)."""
    return canonicalize_name(DISTRIBUTIONS.get(package, [package])[0])


def test_core_modules_import_only_core_dependencies_at_module_level():
    extra_only = set().union(*(_extra_packages(e) for e in OPTIONAL)) - set(CORE)
    wrong = []
    for path in _modules(core=True):
        for package, at_module_level in _imports(path):
            dist = _distribution(package)
            if at_module_level and dist not in CORE:
                wrong.append(f"{path.relative_to(ROOT)} imports {package} ({dist}) at module level, not core")
            elif dist not in CORE and dist not in extra_only:
                wrong.append(f"{path.relative_to(ROOT)} imports {package} ({dist}), declared nowhere")
    assert not wrong, "\n".join(wrong)


def test_every_import_is_declared_and_every_core_dependency_is_imported():
    declared = set(CORE) | set().union(*(_extra_packages(e) for e in OPTIONAL))
    imported = {_distribution(p) for path in _modules(core=True) + _modules(core=False) for p, _ in _imports(path)}
    assert imported <= declared, f"imported but not in pyproject.toml: {sorted(imported - declared)}"
    assert set(CORE) <= imported, f"core dependencies no module imports: {sorted(set(CORE) - imported)}"


def test_extras_checked_by_require_are_pyprojects():
    assert set(EXTRAS) <= set(OPTIONAL)
    for extra, modules in EXTRAS.items():
        provided = _extra_packages(extra) | set(CORE)
        for module in modules:
            assert _distribution(module.split(".")[0]) in provided, f"{extra}: {module}"


def test_constraints_satisfy_the_declared_ranges():
    pins = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    assert "torch" not in pins, "setup.sh chooses torch's CPU or CUDA build; a pin would fight it"
    for group in (CORE, *OPTIONAL.values()):
        for name, req in group.items():
            if name in pins:
                assert req.specifier.contains(pins[name], prereleases=True), f"{name}=={pins[name]} vs {req}"
    assert pins.keys() >= set(CORE) - {"torch"}, "every core dependency is pinned"


def test_setup_installs_with_the_constraints_and_every_extra_the_tests_use():
    setup = (ROOT / "scripts" / "setup.sh").read_text()
    assert "-c constraints.txt" in setup
    default = setup.split("OSTINATO_EXTRAS:-", 1)[1].split("}", 1)[0].split(",")
    assert set(default) <= set(OPTIONAL)
    assert {"dev", "train", "eval", "genre", "demo", "s3"} <= set(default)


def test_require_names_the_extra_in_one_sentence():
    require("train", "diffusers", command="train")  # installed here: no error
    with pytest.raises(MissingExtraError) as caught:
        require("demo", "ostinato_no_such_module", command="demo-corpus")
    assert str(caught.value) == ("`ostinato demo-corpus` needs the demo extra (ostinato_no_such_module is not "
                                 "installed): pip install 'ostinato[demo]'")
    with pytest.raises(ValueError, match="unknown extra"):
        require("nope")


@pytest.mark.parametrize(("hidden", "args", "extra"), [
    ("sklearn", ["fit-genre", "nowhere", "nowhere"], "genre"),
    ("diffusers", ["train", "nowhere", "nowhere", "nowhere"], "train"),
    ("diffusers", ["generate", "nowhere", "--out", "x.wav"], "train"),
    ("mir_eval", ["evaluate", "nowhere", "nowhere", "nowhere"], "eval"),
])
def test_a_command_whose_extra_is_missing_prints_one_error_line(hidden, args, extra):
    # The package made unimportable for this interpreter only (None in sys.modules), as in an install without it
    code = f"import sys; sys.modules[{hidden!r}] = None; from ostinato.cli import app; app({args!r})"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: `ostinato {args[0]}` needs the {extra} extra ({hidden} is not installed): "
        f"pip install 'ostinato[{extra}]'"]


def test_configs_ship_as_package_data_and_config_show_prints_them():
    shipped = {p.relative_to(ROOT / "configs").as_posix() for p in (ROOT / "configs").rglob("*.yaml")}
    patterns = PYPROJECT["tool"]["setuptools"]["package-data"]["ostinato"]
    for name in shipped:
        assert any(Path("configs", name).match(p) for p in patterns), f"configs/{name} is not package data"
    assert (PACKAGE / "configs").resolve() == (ROOT / "configs").resolve()
    runner = CliRunner()
    listed = runner.invoke(app, ["config", "list"])
    assert listed.exit_code == 0 and set(listed.stdout.split()) == {n.removesuffix(".yaml") for n in shipped}
    shown = runner.invoke(app, ["config", "show", "train/tiny"])
    assert shown.exit_code == 0 and shown.stdout == (ROOT / "configs" / "train" / "tiny.yaml").read_text()
    missing = runner.invoke(app, ["config", "show", "nope"])
    assert missing.exit_code == 2 and "no shipped config 'nope'" in missing.output


def test_the_wheel_holds_the_configs(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                            "-w", str(tmp_path), str(ROOT)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr
    import zipfile

    (wheel,) = tmp_path.glob("ostinato-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"ostinato/configs/analyze.yaml", "ostinato/configs/train/tiny.yaml", "ostinato/extras.py"} <= names
