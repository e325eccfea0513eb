#!/usr/bin/env bash
# Quickstart 2: set up and run the whole test suite (CPU only). The fast subset: bash scripts/test.sh -m "not slow".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
