"""Print constraints.txt: the installed dependency closure of ostinato[EXTRAS], one ``name==version`` a line.

Run in the venv scripts/setup.sh made, after an upgrade: ``python scripts/constraints.py > constraints.txt``.
torch is left out (scripts/setup.sh chooses its CPU or CUDA build).
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

EXTRAS = "dev,train,eval,genre,demo,bench,s3"
LEFT_OUT = {"ostinato", "torch"}
CONSTRAINTS = Path(__file__).resolve().parents[1] / "constraints.txt"


def closure(extras: set[str]) -> dict[str, str]:
    """Installed name -> version of ostinato[extras] and everything it requires, on this interpreter."""
    env, seen, todo = default_environment(), {}, [("ostinato", frozenset(extras))]
    while todo:
        name, wanted = todo.pop()
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue  # an optional requirement this platform does not install
        key = canonicalize_name(name)
        known = seen.get(key, (None, frozenset()))[1]
        if key in seen and wanted <= known:
            continue
        seen[key] = (dist.version, known | wanted)
        for raw in dist.requires or []:
            req = Requirement(raw)
            if req.marker is None or any(req.marker.evaluate({**env, "extra": e}) for e in {""} | wanted | known):
                todo.append((req.name, frozenset(req.extras)))
    return {key: version for key, (version, _) in sorted(seen.items()) if key not in LEFT_OUT}


if __name__ == "__main__":
    extras = set((sys.argv[1] if len(sys.argv) > 1 else EXTRAS).split(","))
    header = [line for line in CONSTRAINTS.read_text().splitlines() if line.startswith("#")]  # kept as written
    print("\n".join(header + [f"{name}=={version}" for name, version in closure(extras).items()]))
