#!/usr/bin/env bash
# Create .venv and install ostinato into it (idempotent; quick when nothing changed).
# On a machine without an NVIDIA GPU, PyTorch's CPU build is installed first so that
# pip never pulls the multi-GB CUDA wheels. Override with OSTINATO_TORCH_SPEC.
# Everything else comes at the versions in constraints.txt. OSTINATO_EXTRAS names the extras (pyproject.toml):
# by default every one the tests need; a cluster node or an image takes fewer (cluster/).
# OSTINATO_VENV may name an existing Python environment (one with bin/python), which is then used as it is.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${OSTINATO_VENV:-.venv}
TORCH_VERSION=2.13.0
EXTRAS=${OSTINATO_EXTRAS:-dev,train,eval,genre,demo,bench,s3}

# pip's notes about this machine's package-index settings are noise here; real errors still show.
quiet_pip() { "$PY" -m pip "$@" 2> >(grep -v -e "is ignored: it is neither" -e "^  " -e "^$" -e "!!" >&2); }

if [ ! -x "$VENV/bin/python" ]; then
    "$PYTHON" -m venv "$VENV"
fi
PY="$VENV/bin/python"
"$PY" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true

if ! "$PY" -c "import torch" >/dev/null 2>&1; then
    if [ -n "${OSTINATO_TORCH_SPEC:-}" ]; then
        "$PY" -m pip install --quiet $OSTINATO_TORCH_SPEC
    elif command -v nvidia-smi >/dev/null 2>&1; then
        "$PY" -m pip install --quiet "torch==${TORCH_VERSION}"
    else
        # A local wheel (pip find-links) or PyTorch's CPU index provides the +cpu build.
        quiet_pip install --quiet "torch==${TORCH_VERSION}+cpu" \
            || "$PY" -m pip install --quiet "torch==${TORCH_VERSION}" \
                --index-url https://download.pytorch.org/whl/cpu
    fi
fi

stamp="$VENV/.ostinato-installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ constraints.txt -nt "$stamp" ] \
        || [ "$(cat "$stamp")" != "$EXTRAS" ]; then
    quiet_pip install --quiet -c constraints.txt -e ".[$EXTRAS]"
    # Compile librosa's and our numba kernels once, here, rather than in every Ray worker at its first task.
    "$PY" -c "import ostinato.analysis.librosa_import, ostinato.analysis.beat_rnn"
    echo "$EXTRAS" > "$stamp"
fi

# musicnn's pretrained tagger checkpoints (ISC licence) from its PyPI wheel, into the venv beside site-packages
# (ostinato.analysis.musicnn_tagger.SETUP_TARGET): ostinato runs the models itself, so the package's own
# requirements (TensorFlow 1, numpy < 1.17) are neither installed nor reported.
musicnn_dir="$VENV/share/ostinato/musicnn"
if [ ! -f "$musicnn_dir/musicnn/MSD_musicnn/.index" ]; then
    quiet_pip install --quiet --no-deps --target "$musicnn_dir" "musicnn==0.1.0"
fi
