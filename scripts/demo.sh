#!/usr/bin/env bash
# Quickstart 1: set up, synthesise the demo corpus, analyse it on a local Ray, and show the results.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ostinato demo-corpus demo
.venv/bin/ostinato analyze demo demo-out --config configs/demo.yaml
.venv/bin/python scripts/show_demo.py demo demo-out
