#!/usr/bin/env bash
# Quickstart 2: set up and run the test suite (CPU only; slow tests need OSTINATO_SLOW=1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m pytest "$@"
